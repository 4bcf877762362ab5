import { openSse } from '../helpers/sse-client';
import { startStack, TOKENS, type Stack } from '../helpers/stack';
import { waitFor } from '../helpers/wait-for';

/**
 * RUN_RETENTION_S: Redis forgets an ended run once its archive is complete and its retention
 * is over; from then on the API answers for it from the archive, the same as before.
 */
describe('retention with archive-backed history', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({
      workers: 1,
      label: 'retention',
      env: { RUN_RETENTION_S: '2', RECONCILE_S: '0.5', EVENTS_MAX_LEN: '1000' },
    });
  });
  afterAll(() => stack.stop());

  /** Every key under the prefix whose name mentions the run, and every index holding it. */
  const traces = async (runId: string) => {
    const keys: string[] = [];
    let cursor = '0';
    do {
      const [next, batch] = await stack.redis.redis.scan(cursor, 'MATCH', `${stack.redis.prefix}*`, 'COUNT', 1000);
      cursor = next;
      keys.push(...batch);
    } while (cursor !== '0');
    const named = keys.filter((k) => k.includes(runId));
    const holding: string[] = [];
    for (const k of keys) {
      const type = await stack.redis.redis.type(k);
      if (type === 'zset' && (await stack.redis.redis.zscore(k, runId)) !== null) holding.push(k);
      if (type === 'zset' && (await stack.redis.redis.zscore(k, `acme ${runId}`)) !== null) holding.push(k);
      if (type === 'hash' && (await stack.redis.redis.hexists(k, runId)) === 1) holding.push(k);
      if (type === 'string' && ((await stack.redis.redis.get(k)) ?? '').startsWith(runId)) holding.push(k);
    }
    return { named, holding: holding.map((k) => k.slice(stack.redis.prefix.length)).sort() };
  };

  const allLogs = async (runId: string) => {
    const out: any[] = [];
    let after: string | undefined;
    for (;;) {
      const page = (await stack.api('GET', `/agent/logs/${runId}?limit=1000${after ? `&after=${after}` : ''}`)).body;
      out.push(...page.events);
      if (!page.next_cursor) return { status: page.status, events: out };
      after = page.next_cursor;
    }
  };

  it('forgets an ended run in Redis but for its listing entry, and still answers run, list, logs, SSE replay and files from the archive', async () => {
    const created = await stack.execute(
      {
        action: 'create',
        start: true,
        steps: [
          { id: 'write', tool: 'fs.write', args: { path: 'notes/kept.txt', content: 'still here' } },
          { id: 'say', tool: 'log', args: { message: 'archived line' }, needs: ['write'] },
        ],
      },
      undefined,
      { 'Idempotency-Key': 'retention-1' },
    );
    expect(created.status).toBe(201);
    const runId: string = created.body.run_id;
    const run = await stack.waitForStatus(runId, ['succeeded']);
    await waitFor(async () => (await stack.archivedEvents(runId)).at(-1)?.type === 'end', { label: 'the archive to hold end' });
    const before = {
      run: (await stack.api('GET', `/agent/runs/${runId}`)).body,
      logs: await allLogs(runId),
      files: (await stack.api('GET', `/agent/runs/${runId}/files`)).body,
    };
    expect(before.run).toEqual(run);

    // Retention 2 s, reconciler every 0.5 s.
    await waitFor(async () => (await stack.deps.store.get(runId)) === undefined, { label: 'Redis to forget the run', timeoutMs: 15_000 });
    const left = await traces(runId);
    expect(left.named).toEqual([]);
    // The listing entry, bounded by max_listed_runs: a member of the tenant's run index, its
    // listing field, and its place among the tenant's forgotten runs.
    expect(left.holding).toEqual(['tenant:acme:expired', 'tenant:acme:listing', 'tenant:acme:runs']);

    const after = (await stack.api('GET', `/agent/runs/${runId}`)).body;
    expect(after).toEqual(before.run);
    const listed = (await stack.api('GET', '/agent/runs?limit=50')).body.runs;
    expect(listed.find((r: { id: string }) => r.id === runId)).toMatchObject({ id: runId, status: 'succeeded', steps: [{ id: 'write' }, { id: 'say' }] });
    expect((await stack.api('GET', '/agent/runs?status=succeeded&limit=50')).body.runs.map((r: { id: string }) => r.id)).toContain(runId);

    const logs = await allLogs(runId);
    expect(logs.status).toBe('succeeded');
    expect(logs.events.map((e: { id: string }) => e.id)).toEqual(before.logs.events.map((e: { id: string }) => e.id));
    expect(logs.events.at(-1)).toMatchObject({ type: 'end', status: 'succeeded' });
    const page = (await stack.api('GET', `/agent/logs/${runId}?limit=2&after=${before.logs.events[1].id}`)).body;
    expect(page.events.map((e: { seq: number }) => e.seq)).toEqual([3, 4]);

    const replay = await openSse(`${stack.baseUrl}/agent/logs/${runId}/stream`, { token: TOKENS.acme });
    await replay.closed;
    expect(replay.events.map((e) => e.id)).toEqual(before.logs.events.map((e: { id: string }) => e.id));
    expect(replay.events.at(-1)).toMatchObject({ event: 'end', data: { status: 'succeeded' } });
    const resumed = await openSse(`${stack.baseUrl}/agent/logs/${runId}/stream`, { token: TOKENS.acme, lastEventId: replay.events.at(-1)!.id! });
    expect(resumed.status).toBe(204);

    expect((await stack.api('GET', `/agent/runs/${runId}/files/notes/kept.txt`)).body).toBe('still here');
    expect((await stack.api('GET', `/agent/runs/${runId}/files`)).body).toEqual(before.files);

    // Another tenant still sees nothing; the run cannot be retried once Redis forgot it.
    expect((await stack.api('GET', `/agent/runs/${runId}`, undefined, { token: TOKENS.globex })).status).toBe(404);
    expect((await stack.api('GET', `/agent/logs/${runId}`, undefined, { token: TOKENS.globex })).status).toBe(404);
    expect((await stack.api('GET', `/agent/runs/${runId}/files/notes/kept.txt`, undefined, { token: TOKENS.globex })).status).toBe(404);
    const retry = await stack.execute({ action: 'retry', run_id: runId });
    expect(retry.status).toBe(409);
    expect(retry.body.error.message).toMatch(/archived|RUN_RETENTION_S/);
    // Its idempotency key went with it: the same key creates a new run.
    const again = await stack.execute({ action: 'create', steps: [{ tool: 'log', args: { message: 'x' } }] }, undefined, { 'Idempotency-Key': 'retention-1' });
    expect(again.status).toBe(201);
    expect(again.body.run_id).not.toBe(runId);
  });

  it('archives every one of 25,000 events of a chatty run while Redis keeps about EVENTS_MAX_LEN of them', async () => {
    const { body } = await stack.execute({
      action: 'create',
      start: true,
      steps: [{ id: 'chatty', tool: 'log', args: { message: 'line', repeat: 25_000 }, timeout_s: 600 }],
    });
    const runId: string = body.run_id;
    let maxLen = 0;
    const stream = `${stack.redis.prefix}run:${runId}:events`;
    await waitFor(
      async () => {
        maxLen = Math.max(maxLen, await stack.redis.redis.xlen(stream));
        return (await stack.deps.store.status(runId)) === 'succeeded';
      },
      { label: 'the chatty run to succeed', timeoutMs: 120_000, intervalMs: 100 },
    );
    // The stream's hard cap is 10 x EVENTS_MAX_LEN; the archiver keeps it well below.
    expect(maxLen).toBeLessThan(10_000);
    await waitFor(async () => (await stack.deps.store.get(runId)) === undefined, { label: 'Redis to forget the chatty run', timeoutMs: 30_000 });
    const events = await stack.archivedEvents(runId);
    expect(events.filter((e) => e.type === 'log')).toHaveLength(25_000);
    expect(events.map((e) => e.seq)).toEqual(events.map((_e, i) => i + 1));
    expect(events.at(-1)).toMatchObject({ type: 'end', status: 'succeeded' });
    // And the API serves the same from the archive.
    expect((await allLogs(runId)).events).toHaveLength(events.length);
  });
});

describe('retention: a tenant’s listing keeps max_listed_runs forgotten runs', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({
      workers: 1,
      label: 'listing-cap',
      env: { RUN_RETENTION_S: '1', RECONCILE_S: '0.3' },
      tenants: { tenants: { acme: { max_listed_runs: 1 } } },
    });
  });
  afterAll(() => stack.stop());

  const holders = async (runId: string) => {
    const r = stack.redis.redis;
    const p = stack.redis.prefix;
    return {
      listing: await r.hexists(`${p}tenant:acme:listing`, runId),
      runs: await r.zscore(`${p}tenant:acme:runs`, runId),
      expired: await r.zscore(`${p}tenant:acme:expired`, runId),
    };
  };
  const forgotten = (runId: string) =>
    waitFor(async () => (await stack.deps.store.get(runId)) === undefined, { label: `Redis to forget ${runId}`, timeoutMs: 15_000 });
  const runOne = async (message: string, workspaceId?: string) => {
    const { body } = await stack.execute({ action: 'create', start: true, ...(workspaceId ? { workspace_id: workspaceId } : {}), steps: [{ tool: 'log', args: { message } }] });
    await stack.waitForStatus(body.run_id, ['succeeded']);
    await forgotten(body.run_id);
    return body.run_id as string;
  };

  it('drops the oldest from Redis altogether, and each is still found by id from its archive, in its own workspace or a shared one', async () => {
    const shared = await runOne('shared', 'team-ws');
    const own = await runOne('own');
    const newest = await runOne('newest');
    await waitFor(async () => (await holders(own)).listing === 0, { label: 'the older runs to leave the listing' });
    expect(await holders(shared)).toEqual({ listing: 0, runs: null, expired: null });
    expect(await holders(own)).toEqual({ listing: 0, runs: null, expired: null });
    expect((await holders(newest)).listing).toBe(1);

    const listed = ((await stack.api('GET', '/agent/runs?limit=50')).body.runs as { id: string }[]).map((r) => r.id);
    expect(listed).toContain(newest);
    expect(listed).not.toContain(own);
    expect(listed).not.toContain(shared);

    const ownRun = await stack.api('GET', `/agent/runs/${own}`);
    expect([ownRun.status, ownRun.body.id, ownRun.body.status]).toEqual([200, own, 'succeeded']);
    const logs = (await stack.api('GET', `/agent/logs/${own}`)).body;
    expect(logs.events.at(-1)).toMatchObject({ type: 'end', status: 'succeeded' });
    expect((await stack.api('GET', `/agent/runs/${own}`, undefined, { token: TOKENS.globex })).status).toBe(404);
    // One in a shared workspace through the pointer its archive left at the tenant's root.
    const sharedRun = await stack.api('GET', `/agent/runs/${shared}`);
    expect([sharedRun.status, sharedRun.body.id, sharedRun.body.workspace_id]).toEqual([200, shared, 'team-ws']);
    expect((await stack.api('GET', `/agent/runs/${shared}`, undefined, { token: TOKENS.globex })).status).toBe(404);
  });
});
