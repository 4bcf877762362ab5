import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

/**
 * scripts/check-run-state.js ("only packages/runs writes run state") on a scratch copy of the
 * sources: quiet on the tree as it is and on look-alikes, failing with file:line on each kind
 * of violation it documents.
 */
const REPO = join(__dirname, '..', '..');
let dir: string;

function run(): { status: number | null; out: string } {
  const r = spawnSync(process.execPath, [join(dir, 'scripts/check-run-state.js')], { encoding: 'utf8' });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

function withFiles<T>(files: Record<string, string>, fn: () => T): T {
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), text);
  }
  try {
    return fn();
  } finally {
    for (const path of Object.keys(files)) rmSync(join(dir, path));
  }
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'ay-check-run-state-'));
  cpSync(join(REPO, 'scripts/check-run-state.js'), join(dir, 'scripts/check-run-state.js'));
  for (const kind of ['apps', 'packages']) {
    for (const unit of readdirSync(join(REPO, kind))) {
      cpSync(join(REPO, kind, unit, 'src'), join(dir, kind, unit, 'src'), { recursive: true });
    }
  }
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('check-run-state', () => {
  it('passes on the tree as it is', () => {
    const r = run();
    expect([r.status, r.out]).toEqual([0, expect.stringContaining('only packages/runs writes run state')]);
  });

  const header = `import type Redis from 'ioredis';\n`;
  it.each([
    {
      name: 'a raw HSET of a run’s status',
      path: 'apps/api/src/force-status.ts',
      text: `${header}export async function force(redis: Redis, prefix: string, id: string) {\n  await redis.hset(\`\${prefix}run:\${id}\`, 'status', 'succeeded');\n}\n`,
      line: 3,
      rule: 'Redis write .hset( on a run key',
    },
    {
      name: 'a ZADD through a name bound to the queued index',
      path: 'packages/queue/src/requeue.ts',
      text: `${header}export function requeue(redis: Redis, opts: { prefix: string }) {\n  const queued = \`\${opts.prefix}queued\`;\n  return (id: string) =>\n    redis.zadd(queued, Date.now(), id);\n}\n`,
      line: 5,
      rule: 'Redis write .zadd( on a run key',
    },
    {
      name: 'a DEL in a MULTI chain over several lines',
      path: 'apps/worker/src/forget.ts',
      text: `${header}export const forget = (redis: Redis, prefix: string, id: string) =>\n  redis\n    .multi()\n    .del(\n      prefix + 'run:' + id,\n    )\n    .exec();\n`,
      line: 5,
      rule: 'Redis write .del( on a run key',
    },
    {
      name: 'importing runKeys',
      path: 'apps/cli/src/keys-peek.ts',
      text: `import { createRunStore } from '@agentyard/runs';\nimport { runKeys } from '@agentyard/runs';\nexport const k = runKeys('ay:');\nexport { createRunStore };\n`,
      line: 2,
      rule: 'uses runKeys',
    },
    {
      name: 'calling a run script command the store defined on the connection',
      path: 'apps/api/src/start-direct.ts',
      text: `export async function startDirect(redis: any, id: string) {\n  return redis.ayRunStart(id, 0, 0);\n}\n`,
      line: 2,
      rule: 'uses the run script ayRunStart',
    },
    {
      name: 'a generic transition',
      path: 'packages/agent/src/mover.ts',
      text: `export async function move(store: any, id: string) {\n  // moving it by hand\n  await store.transition(id, 'queued', 'running');\n}\n`,
      line: 3,
      rule: 'calls a generic .transition(',
    },
    {
      name: 'a Lua script of its own on the dead-letter index',
      path: 'packages/events/src/purge.ts',
      text: `${header}const LUA = "local PREFIX = ARGV[1]\\nredis.call('DEL', PREFIX .. 'dlq')";\nexport function purge(redis: Redis) {\n  redis.defineCommand('ayPurge', { numberOfKeys: 0, lua: LUA });\n}\n`,
      line: 4,
      rule: 'defineCommand in a file that builds run keys',
    },
  ])('fails on $name, naming the file and line', ({ path, text, line, rule }) => {
    const r = withFiles({ [path]: text }, run);
    expect(r.status).toBe(1);
    expect(r.out).toContain(`${path}:${line}: ${rule}`);
  });

  it('leaves alone status strings, comments, the event log’s own keys, tests, and packages/runs itself', () => {
    const r = withFiles(
      {
        'apps/api/src/look-alikes.ts': [
          header,
          '// The store writes with runKeys(prefix).run(id); never redis.hset(`${prefix}run:${id}`, ...) here.',
          "export function count(statuses: string[], seen: Map<string, number>) {",
          "  for (const s of statuses) if (s === 'queued' || s === 'running') seen.set('queued', (seen.get('queued') ?? 0) + 1);",
          "  return seen.set('tenant: acme', 1);",
          '}',
          'export async function note(redis: Redis, prefix: string, runId: string) {',
          '  await redis.xadd(`${prefix}run:${runId}:events`, "*", "type", "log");',
          '  await redis.set(`${prefix}workers`, "1");',
          '}',
        ].join('\n'),
        'apps/api/src/sneaky.test.ts': `${header}export const t = (redis: Redis, prefix: string) => redis.del(\`\${prefix}queued\`);\n`,
        'packages/runs/src/extra-op.ts': `${header}export const op = (redis: Redis, prefix: string, id: string) => redis.hset(\`\${prefix}run:\${id}\`, 'status', 'queued');\n`,
      },
      run,
    );
    expect([r.status, r.out]).toEqual([0, expect.stringContaining('only packages/runs writes run state')]);
  });
});
