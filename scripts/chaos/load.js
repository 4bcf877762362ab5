/**
 * Steady load the way a client of Agentyard makes it: runs created (and started) at a fixed
 * rate over HTTP, each followed by an EventSource (the `eventsource` package) that resumes
 * with Last-Event-ID whenever its stream drops, approvals given when a step asks, and every
 * request retried on 5xx or a refused connection with the same Idempotency-Key. Afterwards
 * `verify` compares what clients saw with what the API holds.
 */
const { EventSource } = require('eventsource');
const { randomUUID } = require('node:crypto');
const { sleep } = require('./procs');
const { checkRun } = require('./checks');

const TYPES = ['status', 'log', 'step', 'approval', 'end', 'reset'];

/** The mixed plans, chosen round-robin: each must succeed whatever a drill breaks. */
function plans({ shell, long }) {
  const list = [
    (tag) => ({ name: 'fs', steps: [
      { id: 'write', tool: 'fs.write', args: { path: `m/${tag}.txt`, content: tag } },
      { id: 'read', tool: 'fs.read', args: { path: `m/${tag}.txt` }, needs: ['write'] },
      { id: 'note', tool: 'log', args: { message: `read ${tag}` }, needs: ['read'] },
    ] }),
    (tag) => ({ name: 'wait', steps: [
      { id: 'before', tool: 'log', args: { message: `before ${tag}` } },
      { id: 'wait', tool: 'wait', args: { seconds: 2 }, needs: ['before'] },
      { id: 'after', tool: 'fs.write', args: { path: `w/${tag}.txt`, content: 'done' }, needs: ['wait'] },
    ] }),
    // Outlives the drills' WORKER_DRAIN_S (5 s), so a SIGTERM hands it back mid-step. Only in
    // drill d: under a kill -9 every ~10 s an 8 s step can be cut off three times running, and
    // BullMQ then fails the job as stalled too often (WORKER_MAX_STALLED=2), as documented.
    ...(long ? [(tag) => ({ name: 'long', steps: [
      { id: 'start', tool: 'fs.write', args: { path: `l/${tag}.txt`, content: 'begun' } },
      { id: 'wait', tool: 'wait', args: { seconds: 8 }, needs: ['start'] },
      { id: 'end', tool: 'log', args: { message: `end ${tag}` }, needs: ['wait'] },
    ] })] : []),
    (tag) => ({ name: 'flaky', options: { max_attempts: 5 }, steps: [
      { id: 'first', tool: 'log', args: { message: `first ${tag}` } },
      { id: 'flaky', tool: 'fail', args: { message: 'fails once', retryable: true, times: 1 }, needs: ['first'] },
      { id: 'last', tool: 'log', args: { message: `last ${tag}` }, needs: ['flaky'] },
    ] }),
    (tag) => ({ name: 'approval', options: { approval: 'writes' }, steps: [
      { id: 'plan', tool: 'log', args: { message: `plan ${tag}` } },
      { id: 'write', tool: 'fs.write', args: { path: `a/${tag}.txt`, content: 'approved' }, needs: ['plan'] },
    ] }),
  ];
  if (shell) {
    list.push((tag) => ({ name: 'shell', steps: [
      { id: 'sh', tool: 'shell.exec', args: { command: `echo ${tag} > s-${tag}.txt` } },
      { id: 'check', tool: 'fs.read', args: { path: `s-${tag}.txt` }, needs: ['sh'] },
    ] }));
  }
  return list;
}

function createClient({ url, token }) {
  const headers = { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' };
  let retries = 0;
  /** Why requests were retried, by route shape and answer: where an outage shows through. */
  const failures = {};
  const note = (what) => (failures[what] = (failures[what] ?? 0) + 1);
  const shape = (path) => path.replace(/run_[0-9a-z]+/g, ':id').replace(/\?.*$/, '');
  /** A request retried until it answers below 500 (Redis or S3 down answers 503; a dead API refuses). */
  async function call(method, path, body, { idempotencyKey, untilMs = 120_000 } = {}) {
    const deadline = Date.now() + untilMs;
    for (;;) {
      try {
        const r = await fetch(`${url}${path}`, {
          method,
          headers: { ...headers, ...(idempotencyKey ? { 'Idempotency-Key': idempotencyKey } : {}) },
          ...(body ? { body: JSON.stringify(body) } : {}),
          signal: AbortSignal.timeout(10_000),
        });
        const text = await r.text();
        if (r.status < 500 && r.status !== 429) return { status: r.status, body: text ? JSON.parse(text) : null };
        note(`${method} ${shape(path)} ${r.status} ${JSON.parse(text || '{}').error?.code ?? ''}`);
      } catch (e) {
        note(`${method} ${shape(path)} ${e.name}`); // refused or timed out: retried below
      }
      if (Date.now() > deadline) throw new Error(`${method} ${path} kept failing for ${untilMs} ms`);
      retries += 1;
      await sleep(250);
    }
  }
  return { call, headers, retries: () => retries, failures, note, url };
}

/** Follows one run's stream to `end`, reopening it after Last-Event-ID when it fails for good. */
function follow(client, runId, { onEvent }) {
  const got = [];
  let lastId;
  let es;
  let closed = false;
  let reconnects = 0;
  let opens = 0;
  let resolveEnd;
  const ended = new Promise((r) => (resolveEnd = r));
  const open = () => {
    if (closed) return;
    const q = lastId ? `?last_event_id=${encodeURIComponent(lastId)}` : '';
    es = new EventSource(`${client.url}/agent/logs/${runId}/stream${q}`, {
      fetch: (input, init) => fetch(input, { ...init, headers: { ...init?.headers, Authorization: client.headers.Authorization } }),
    });
    es.onopen = () => (opens += 1);
    for (const type of TYPES) {
      es.addEventListener(type, (m) => {
        const data = JSON.parse(m.data);
        if (m.lastEventId) lastId = m.lastEventId;
        got.push({ id: m.lastEventId, type, seq: data.seq, at: Date.now() });
        onEvent(runId, type, data);
        if (type === 'end') finish();
      });
    }
    es.onerror = (err) => {
      if (err?.code) client.note(`SSE ${err.code}`);
      // The EventSource retries a dropped stream by itself; a 503 (Redis down) or a refused
      // connection closes it for good, so a client that wants the rest opens a new one.
      if (es.readyState === EventSource.CLOSED && !closed) {
        reconnects += 1;
        setTimeout(open, 500);
      }
    };
  };
  const finish = () => {
    closed = true;
    es?.close();
    resolveEnd();
  };
  open();
  return { runId, got, ended, close: finish, reconnects: () => reconnects, opens: () => opens };
}

/**
 * Creates `runs` runs at `ratePerS`, following each. `progress` is told of every event, so
 * drills can time recoveries. Resolves when every run ended or `drainMs` after the last create.
 */
async function runLoad({ client, runs, ratePerS, shell, long = false, drainMs, onProgress = () => undefined }) {
  const kinds = plans({ shell, long });
  const followers = [];
  const created = [];
  const createFailures = [];
  const approvals = { given: 0, refused: [] };
  const approved = new Set();
  const onEvent = (runId, type, data) => {
    onProgress(runId, type, data);
    // The `approval` request comes with the run's move to awaiting_approval (the step's own
    // awaiting_approval event comes just before it, when an approve would still be refused).
    const key = `${runId}/${data.step_id}`;
    if (type === 'approval' && data.phase === 'requested' && !approved.has(key)) {
      approved.add(key);
      client.call('POST', '/agent/execute', { action: 'approve', run_id: runId, step_id: data.step_id }).then(
        (r) => (r.status === 202 ? (approvals.given += 1) : approvals.refused.push(`${runId}: ${r.status} ${JSON.stringify(r.body)}`)),
        (e) => approvals.refused.push(`${runId}: ${e.message}`),
      );
    }
  };
  const createOne = async (i) => {
    const tag = `r${i}-${randomUUID().slice(0, 6)}`;
    const plan = kinds[i % kinds.length](tag);
    const key = `chaos-${tag}`;
    try {
      const r = await client.call('POST', '/agent/execute', { action: 'create', start: true, steps: plan.steps, ...(plan.options ? { options: plan.options } : {}) }, { idempotencyKey: key });
      if (r.status !== 201 && r.status !== 200) throw new Error(`create answered ${r.status}: ${JSON.stringify(r.body)}`);
      created.push({ runId: r.body.run_id, plan: plan.name, at: Date.now() });
      followers.push(follow(client, r.body.run_id, { onEvent }));
    } catch (e) {
      createFailures.push(e.message);
    }
  };
  const t0 = Date.now();
  const pending = [];
  for (let i = 0; i < runs; i++) {
    const due = t0 + (i * 1000) / ratePerS;
    if (due > Date.now()) await sleep(due - Date.now());
    pending.push(createOne(i));
  }
  await Promise.all(pending);
  const loadEndedAt = Date.now();
  const timeout = sleep(drainMs).then(() => 'timeout');
  await Promise.race([Promise.all(followers.map((f) => f.ended)), timeout]);
  for (const f of followers) f.close();
  return { created, followers, createFailures, approvals, loadS: (loadEndedAt - t0) / 1000, totalS: (Date.now() - t0) / 1000 };
}

/**
 * What the API says of every run against what its follower saw: runs lost (missing or never
 * finished), runs that did not succeed, steps run again after they had succeeded, and SSE
 * events lost or duplicated.
 */
async function verify(client, load) {
  const out = { runs_created: load.created.length, create_failures: load.createFailures.length, runs_lost: 0, runs_not_succeeded: 0, steps_rerun_after_success: 0, sse_events_lost: 0, sse_events_duplicated: 0, sse_connections: 0, sse_reopened_by_client: 0, seq_gaps: 0, steps_cut_off_and_rerun: 0, by_status: {}, examples: [] };
  const byRun = new Map(load.followers.map((f) => [f.runId, f]));
  let next = 0;
  const items = load.created;
  const lane = async () => {
    while (next < items.length) {
      const { runId, plan } = items[next++];
      const run = await client.call('GET', `/agent/runs/${runId}`);
      const status = run.status === 200 ? run.body.status : `http_${run.status}`;
      out.by_status[status] = (out.by_status[status] ?? 0) + 1;
      const terminal = ['succeeded', 'dead_lettered', 'cancelled'].includes(status);
      if (!terminal) {
        out.runs_lost += 1;
        out.examples.push({ runId, plan, problem: `status ${status}` });
        continue;
      }
      if (status !== 'succeeded') {
        out.runs_not_succeeded += 1;
        out.examples.push({ runId, plan, problem: `${status}: ${JSON.stringify(run.body.error)}` });
      }
      const history = (await client.call('GET', `/agent/logs/${runId}?limit=1000`)).body.events;
      const f = byRun.get(runId);
      const c = checkRun(history, f.got);
      out.seq_gaps += c.seqGaps;
      out.steps_cut_off_and_rerun += c.cutOffAndRerun;
      out.steps_rerun_after_success += c.rerunAfterSuccess.length;
      for (const step of c.rerunAfterSuccess) out.examples.push({ runId, plan, problem: `step ${step} started again after it had succeeded` });
      out.sse_events_lost += c.lost;
      out.sse_events_duplicated += c.duplicated;
      if (c.lost || c.duplicated) out.examples.push({ runId, plan, problem: `SSE: ${c.lost} lost, ${c.duplicated} duplicated of ${history.length}` });
      out.sse_reopened_by_client += f.reconnects();
      out.sse_connections += f.opens();
    }
  };
  await Promise.all(Array.from({ length: 16 }, lane));
  out.examples = out.examples.slice(0, 10);
  out.http_retries = client.retries();
  out.retried_because = client.failures;
  out.approvals_given = load.approvals.given;
  out.approvals_refused = load.approvals.refused.length;
  if (load.approvals.refused.length) out.examples.push(...load.approvals.refused.slice(0, 3).map((problem) => ({ problem })));
  return out;
}

module.exports = { createClient, runLoad, verify };
