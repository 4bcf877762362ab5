#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { CliError, EXIT, TOKEN_HINT } from './cli-error';
import { createClient, type ApiClient } from './http-client';
import { registerSessionCommands } from './sessions-commands';
import { smoke } from './smoke';
import { tailRun, type StreamEvent } from './sse-tail';

const TERMINAL = ['succeeded', 'dead_lettered', 'cancelled'];
const program = new Command('yardctl');
program
  .description('Operate Agentyard from a terminal or a script.')
  .option('--api-url <url>', 'API base URL (env AGENTYARD_API_URL)', process.env.AGENTYARD_API_URL ?? 'http://127.0.0.1:8080')
  .option('--token <token>', 'bearer token (env AGENTYARD_TOKEN)', process.env.AGENTYARD_TOKEN)
  .option('--json', 'machine-readable output: one JSON document on stdout')
  .option('--timeout <s>', 'request timeout in seconds', '30')
  .addHelpText('after', '\nExit codes: 0 ok; 1 run ended unsuccessfully or smoke failed; 2 usage error; 3 API refused (4xx); 4 API unreachable or 5xx; 130 interrupted.')
  .exitOverride();

const opts = () => program.opts<{ apiUrl: string; token?: string; json?: boolean; timeout: string }>();
/** Every command needs a token: without one, say so instead of collecting a bare 401. */
const token = (): string => {
  const t = opts().token;
  if (!t) throw new CliError(`no token: ${TOKEN_HINT}`, EXIT.usage);
  return t;
};
const api = (): ApiClient => createClient({ apiUrl: opts().apiUrl, token: token(), timeoutMs: Number(opts().timeout) * 1000 });
const print = (value: unknown, human: () => string): void => void process.stdout.write(`${opts().json ? JSON.stringify(value) : human()}\n`);
const progress = (text: string) => {
  if (!opts().json && process.stderr.isTTY) process.stderr.write(`\r\x1b[2K${text}`);
};
const runLine = (r: any) => `${r.id}  ${r.status.padEnd(17)} attempts=${r.attempts}  created=${r.created_at}${r.error ? `  error=${r.error.code}: ${r.error.message}` : ''}`;

async function waitForEnd(runId: string): Promise<any> {
  const started = Date.now();
  for (;;) {
    const run = await api().request('GET', `/agent/runs/${runId}`);
    if (TERMINAL.includes(run.status)) {
      progress('');
      return run;
    }
    progress(`${runId} ${run.status} (${Math.round((Date.now() - started) / 1000)} s)`);
    await new Promise((r) => setTimeout(r, 500));
  }
}
const exitFor = (run: any) => (run.status === 'succeeded' ? EXIT.ok : EXIT.runFailed);

function parseJson(text: string, what: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new CliError(`${what} is not valid JSON: ${(e as Error).message}`, EXIT.usage);
  }
}

const runs = program.command('runs').description('create and manage runs');
runs
  .command('create')
  .description('create a run from steps, a prompt or a plan file; --start queues it, --wait follows it to the end')
  .option('--file <plan.json>', 'a JSON file with the create body (steps, prompt, options …)')
  .option('--steps <json>', 'steps as JSON')
  .option('--prompt <text>', 'prompt for a model-driven run')
  .option('--workspace <id>', 'workspace id to share files between runs')
  .option('--priority <p>', 'low | normal | high | critical')
  .option('--max-attempts <n>', 'attempts before dead-lettering')
  .option('--start', 'start it at once')
  .option('--wait', 'follow the run until it ends; exit code reflects its status')
  .option('--idempotency-key <key>')
  .action(async (o) => {
    const body: Record<string, any> = o.file ? (parseJson(readFileSync(o.file, 'utf8'), o.file) as object) : {};
    body.action = 'create';
    if (o.steps) body.steps = parseJson(o.steps, '--steps');
    if (o.prompt) body.prompt = o.prompt;
    if (o.workspace) body.workspace_id = o.workspace;
    if (o.priority || o.maxAttempts) body.options = { ...(body.options ?? {}), ...(o.priority ? { priority: o.priority } : {}), ...(o.maxAttempts ? { max_attempts: Number(o.maxAttempts) } : {}) };
    if (o.start || o.wait) body.start = true;
    const created = await api().request('POST', '/agent/execute', body, o.idempotencyKey ? { 'Idempotency-Key': o.idempotencyKey } : {});
    if (!o.wait) {
      print(created, () => `${created.run_id} ${created.status}`);
      return;
    }
    const run = await waitForEnd(created.run_id);
    print(run, () => runLine(run));
    process.exitCode = exitFor(run);
  });
for (const action of ['start', 'retry'] as const) {
  runs
    .command(`${action} <run_id>`)
    .description(action === 'start' ? 'queue a created run' : 'queue a failed, dead-lettered or cancelled run again, resuming from its checkpoint')
    .action(async (runId: string) => {
    const r = await api().request('POST', '/agent/execute', { action, run_id: runId });
    print(r, () => `${r.run_id} ${r.status}`);
  });
}
runs
  .command('cancel <run_id>')
  .description('cancel a run that has not ended')
  .option('--reason <text>')
  .action(async (runId: string, o) => {
    const r = await api().request('POST', '/agent/execute', { action: 'cancel', run_id: runId, ...(o.reason ? { reason: o.reason } : {}) });
    print(r, () => `${r.run_id} ${r.status}`);
  });
for (const action of ['approve', 'reject'] as const) {
  runs
    .command(`${action} <run_id> <step_id>`)
    .description(`${action} a step that awaits approval`)
    .option('--comment <text>')
    .action(async (runId: string, stepId: string, o) => {
      const r = await api().request('POST', '/agent/execute', { action, run_id: runId, step_id: stepId, ...(o.comment ? { comment: o.comment } : {}) });
      print(r, () => `${r.run_id} ${r.status} (${stepId} ${r.decision})`);
    });
}
runs.command('get <run_id>').description('show a run with its steps, statuses and errors').action(async (runId: string) => {
  const r = await api().request('GET', `/agent/runs/${encodeURIComponent(runId)}`);
  print(r, () => [runLine(r), ...r.steps.map((s: any) => `  ${s.id.padEnd(12)} ${s.tool.padEnd(10)} ${s.status}${s.error ? `  ${s.error.code}: ${s.error.message}` : ''}`)].join('\n'));
});
runs
  .command('list')
  .description("list this tenant's runs, newest first")
  .option('--status <status>')
  .option('--limit <n>', 'runs per page', '50')
  .option('--cursor <cursor>')
  .option('--all', 'follow every page')
  .action(async (o) => {
    const all: any[] = [];
    let cursor: string | undefined = o.cursor;
    let next: string | undefined;
    do {
      const q = new URLSearchParams({ limit: o.limit, ...(o.status ? { status: o.status } : {}), ...(cursor ? { cursor } : {}) });
      const page = await api().request('GET', `/agent/runs?${q}`);
      all.push(...page.runs);
      next = page.next_cursor;
      cursor = next;
    } while (o.all && cursor);
    print({ runs: all, ...(next && !o.all ? { next_cursor: next } : {}) }, () => all.map(runLine).join('\n') || '(no runs)');
  });

program
  .command('logs')
  .description("follow a run's events")
  .command('tail <run_id>')
  .description('print the events of a run as they happen until it ends, resuming after a dropped connection')
  .option('--after <event_id>', 'start after this event')
  .action(async (runId: string, o) => {
    let count = 0;
    const end = await tailRun({
      apiUrl: opts().apiUrl,
      token: token(),
      runId,
      ...(o.after ? { from: o.after } : {}),
      onEvent: (e: StreamEvent) => {
        count++;
        progress('');
        if (opts().json) process.stdout.write(`${JSON.stringify({ id: e.id, ...e.data })}\n`);
        else process.stdout.write(`${String(e.data.ts ?? '').slice(11, 23)} ${e.event.padEnd(8)} ${describe(e)}\n`);
        progress(`${runId}: ${count} events`);
      },
      onReconnect: (n) => progress(`connection dropped; resuming (attempt ${n})`),
    });
    progress('');
    process.exitCode = end?.data.status === 'succeeded' ? EXIT.ok : EXIT.runFailed;
  });

function describe(e: StreamEvent): string {
  const d = e.data as Record<string, any>;
  switch (e.event) {
    case 'status':
      return `${d.previous ?? '-'} -> ${d.status}${d.error ? ` (${d.error.code}: ${d.error.message})` : ''}`;
    case 'step':
      return `${d.step_id} ${d.tool} ${d.phase}${d.duration_ms !== undefined ? ` ${d.duration_ms} ms` : ''}${d.error ? ` (${d.error.code}: ${d.error.message})` : ''}`;
    case 'log':
      return `[${d.level}] ${d.message}`;
    case 'token':
      return String(d.text);
    case 'end':
      return String(d.status);
    default:
      return JSON.stringify(d);
  }
}

registerSessionCommands(program, { api, print, parseJson });

/** `key=value` pairs of an object, nested keys joined by dots (`limits.max_sse_streams=100`). */
function flat(o: Record<string, unknown>, at = ''): string[] {
  return Object.entries(o).flatMap(([k, v]) => (v && typeof v === 'object' ? flat(v as Record<string, unknown>, `${at}${k}.`) : [`${at}${k}=${v}`]));
}

const queue = program.command('queue').description('queue state');
queue
  .command('stats')
  .description('queue depth by state and live workers')
  .option('--watch', 'refresh until interrupted')
  .option('--interval <s>', 'refresh interval', '2')
  .action(async (o) => {
    for (;;) {
      const s = await api().request('GET', '/agent/queue/stats');
      print(s, () => flat(s).join('  '));
      if (!o.watch) return;
      await new Promise((r) => setTimeout(r, Number(o.interval) * 1000));
    }
  });

const dlq = program.command('dlq').description('dead-letter queue (admin token)');
dlq.command('list').description('list dead-lettered runs').action(async () => {
  const r = await api().request('GET', '/admin/dlq');
  print(r, () => r.dead_letters.map((d: any) => `${d.run_id}  ${d.tenant}  ${d.dead_lettered_at}  ${d.error?.code}: ${d.error?.message}`).join('\n') || '(empty)');
});
dlq.command('replay <run_id>').description('queue a dead-lettered run again').action(async (runId: string) => {
  const r = await api().request('POST', `/admin/dlq/${encodeURIComponent(runId)}/replay`);
  print(r, () => `${r.run_id} ${r.status}`);
});

program.command('workers').description('live workers').action(async () => {
  const r = await api().request('GET', '/agent/workers');
  // An operator sees every worker; a tenant only those running its runs, by an opaque ref.
  print(
    r,
    () =>
      r.workers
        .map((w: any) => (w.id ? `${w.id}  active=${w.active_runs}/${w.concurrency}  last_seen=${w.last_seen}  v${w.version}` : `${w.ref}  my_active=${w.active_runs}  last_seen=${w.last_seen}`))
        .join('\n') || (r.tenant ? '(none of your runs is active)' : '(no live workers)'),
  );
});

program
  .command('smoke')
  .description('post-deploy check: health, a session (tools, a file written and read back), a run and its stream')
  .action(async () => {
    await smoke(api(), (line) => process.stdout.write(`${line}\n`), Number(opts().timeout) * 1000 * 2);
  });

process.on('SIGINT', () => process.exit(EXIT.interrupted));

program.parseAsync(process.argv).catch((e: unknown) => {
  if (e instanceof CommanderError) {
    process.exit(e.exitCode === 0 ? EXIT.ok : EXIT.usage);
  }
  const err = e instanceof CliError ? e : new CliError((e as Error).message, EXIT.unavailable);
  if (opts().json) process.stderr.write(`${JSON.stringify({ error: err.message, exit_code: err.exitCode })}\n`);
  else process.stderr.write(`${err.message}\n`);
  process.exit(err.exitCode);
});
