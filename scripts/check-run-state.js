#!/usr/bin/env node
/**
 * Keeps "only packages/runs writes run state": every change of a run is one named operation
 * of its run store (packages/runs/src/run-store.ts, one Lua script each in scripts.ts), so
 * its fields, indexes and event change together. This fails when source outside
 * packages/runs (apps/<app>/src and packages/<pkg>/src, *.test.ts excluded) does any of:
 *
 *   1. names `runKeys` / `RunKeys` (the run store's key builders);
 *   2. names a run script: an export of packages/runs/src/scripts.ts (RUN_SCRIPTS, *_LUA, …)
 *      or one of its commands (`ayRunCreate`, …), which the store defines on the shared
 *      Redis connection, so any holder of that connection could call them;
 *   3. calls a generic `.transition(` (the old any-to-any state change);
 *   4. calls a Redis write (`hset`, `hdel`, `zadd`, `xadd`, `del`, `set`, `eval`, `call`, …)
 *      whose arguments contain a run key: a string that builds a key of one of the
 *      namespaces of packages/runs/src/keys.ts under the prefix (`${prefix}run:`,
 *      `${opts.prefix}queued`, `prefix .. 'dlq'` in Lua, `'ay:run:…'`, `` `tenant:${t}` ``),
 *      or a name this file assigned from such a string;
 *   5. calls `defineCommand` in a file that builds a run key (a Lua script of its own on them).
 *
 * It is a heuristic on the text, not a type check: comments are ignored; a key built in
 * another file and passed in is not seen (rules 1 and 2 make reaching the real builders
 * visible instead). The event log's own keys (`run:<id>:events`, `run:<id>:seq`) belong to
 * packages/events and are not run state. A finding names file:line and the rule.
 */
const { readdirSync, readFileSync, statSync, existsSync } = require('node:fs');
const { join, relative } = require('node:path');

const root = join(__dirname, '..');
const runsSrc = join(root, 'packages', 'runs', 'src');

/** Key namespaces of the run store, read from keys.ts so the check follows it: run:, tenant:, queued, … */
function runNamespaces() {
  const text = readFileSync(join(runsSrc, 'keys.ts'), 'utf8');
  const names = new Set();
  for (const m of text.matchAll(/\$\{prefix\}([a-z][a-z-]*:?)/g)) names.add(m[1]);
  if (!names.has('run:') || !names.has('queued')) throw new Error('check-run-state: cannot read the key namespaces of packages/runs/src/keys.ts');
  return [...names];
}

/** The run scripts and their command names, read from scripts.ts. */
function scriptNames() {
  const text = readFileSync(join(runsSrc, 'scripts.ts'), 'utf8');
  const names = new Set(['RUN_SCRIPTS', 'RUN_SCRIPT_KEYS', 'RUN_CODES']);
  for (const m of text.matchAll(/export const (\w+)/g)) names.add(m[1]);
  for (const m of text.matchAll(/\b(ayRun[A-Z]\w*)\s*:/g)) names.add(m[1]);
  return [...names];
}

const esc = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const namespaces = runNamespaces().map(esc).join('|');
/**
 * A run key being built: the prefix (interpolated, concatenated in TS or Lua, or the default
 * `ay:` literally) followed by a run namespace; or a quoted `run:`/`tenant:` fragment that is
 * joined with something (`run:${id}`, 'tenant:' + t, 'run:' .. id). A bare 'queued' or
 * 'running' is a status, not a key, and does not count.
 */
const RUN_KEY = new RegExp(
  `(?:\\$\\{[^}]*prefix[^}]*\\}|\\bprefix\\s*(?:\\+|\\.\\.)\\s*['"\`]|\\bay:)(?:${namespaces})` +
    `|['"\`](?:run|tenant):(?:\\$\\{|['"\`]\\s*(?:\\+|\\.\\.))`,
  'i',
);
const EVENT_LOG_KEY = /run:\$\{[^}]*\}:(?:events|seq)\b/;
const WRITES = [
  'hset', 'hsetnx', 'hmset', 'hdel', 'hincrby', 'hincrbyfloat', 'zadd', 'zrem', 'zincrby', 'zremrangebyscore',
  'zremrangebyrank', 'zremrangebylex', 'zpopmin', 'zpopmax', 'xadd', 'xtrim', 'xdel', 'del', 'unlink', 'set', 'setex',
  'psetex', 'setnx', 'getset', 'getdel', 'incr', 'incrby', 'decr', 'decrby', 'expire', 'pexpire', 'expireat',
  'pexpireat', 'persist', 'rename', 'renamenx', 'copy', 'lpush', 'rpush', 'lpop', 'rpop', 'lrem', 'ltrim', 'lset',
  'sadd', 'srem', 'spop', 'smove', 'append', 'eval', 'evalsha', 'evalsha_ro', 'call', 'send_command', 'sendCommand',
];
const WRITE_CALL = new RegExp(`\\.(${WRITES.join('|')})\\s*\\(`, 'gi');
const SCRIPT_NAME = new RegExp(`\\b(${scriptNames().map(esc).join('|')})\\b`);

/**
 * The text with comments blanked (newlines kept, so offsets keep their line). Strings are
 * kept: keys live in them. Template literals are treated as one string (a backtick inside
 * a `${}` is not expected in key-building code).
 */
function stripComments(text) {
  let out = '';
  let quote = null;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quote) {
      out += c;
      if (c === '\\') out += text[++i] ?? '';
      else if (c === quote) quote = null;
    } else if (c === '/' && text[i + 1] === '/') {
      while (i < text.length && text[i] !== '\n') i++;
      out += '\n';
    } else if (c === '/' && text[i + 1] === '*') {
      const end = text.indexOf('*/', i + 2);
      const stop = end === -1 ? text.length : end + 2;
      out += text.slice(i, stop).replace(/[^\n]/g, ' ');
      i = stop - 1;
    } else {
      if (c === "'" || c === '"' || c === '`') quote = c;
      out += c;
    }
  }
  return out;
}

/** The argument text of the call whose `(` is at `open`, up to its matching `)`. */
function callArgs(text, open) {
  let depth = 0;
  for (let i = open; i < text.length; i++) {
    if (text[i] === '(') depth++;
    else if (text[i] === ')' && --depth === 0) return text.slice(open + 1, i);
  }
  return text.slice(open + 1);
}

const isRunKey = (s) => RUN_KEY.test(s.replace(new RegExp(EVENT_LOG_KEY.source, 'g'), ''));

function check(file) {
  const text = stripComments(readFileSync(file, 'utf8'));
  const lineOf = (offset) => text.slice(0, offset).split('\n').length;
  const found = [];
  const report = (offset, rule) => found.push(`${relative(root, file)}:${lineOf(offset)}: ${rule}`);

  for (const m of text.matchAll(/\b(runKeys|RunKeys)\b/g)) report(m.index, `uses ${m[1]} (rule 1: run keys belong to packages/runs)`);
  for (const m of text.matchAll(new RegExp(SCRIPT_NAME.source, 'g'))) report(m.index, `uses the run script ${m[1]} (rule 2)`);
  for (const m of text.matchAll(/\.transition\s*\(/g)) report(m.index, 'calls a generic .transition( (rule 3: use a named run-store operation)');

  // Names this file binds to a run key: `const key = (id) => `${prefix}run:${id}``, `let q = prefix + 'queued'`.
  const tainted = [];
  for (const m of text.matchAll(/\b(?:const|let|var)\s+([A-Za-z_$][\w$]*)\s*=([^;\n]*(?:\n\s+[^;\n]*)*)/g)) {
    if (isRunKey(m[2]) || /\brunKeys\b/.test(m[2])) tainted.push(m[1]);
  }
  const taintedRe = tainted.length ? new RegExp(`(?<![.\\w$])(${tainted.map(esc).join('|')})\\b`) : null;
  const touchesRunKey = (s) => isRunKey(s) || (taintedRe !== null && taintedRe.test(s));

  for (const m of text.matchAll(WRITE_CALL)) {
    const args = callArgs(text, m.index + m[0].length - 1);
    if (touchesRunKey(args)) report(m.index, `Redis write .${m[1]}( on a run key (rule 4: use a named run-store operation)`);
  }
  if (isRunKey(text) || tainted.length > 0) {
    for (const m of text.matchAll(/\bdefineCommand\s*\(/g)) report(m.index, 'defineCommand in a file that builds run keys (rule 5)');
  }
  return found;
}

function sources() {
  const files = [];
  const walk = (dir) => {
    for (const f of readdirSync(dir)) {
      const full = join(dir, f);
      if (statSync(full).isDirectory()) {
        if (f !== 'node_modules' && f !== 'dist') walk(full);
      } else if (/\.(ts|js|mjs|cjs)$/.test(f) && !/\.test\.ts$/.test(f) && !f.endsWith('.d.ts')) files.push(full);
    }
  };
  for (const kind of ['apps', 'packages']) {
    for (const unit of readdirSync(join(root, kind))) {
      if (kind === 'packages' && unit === 'runs') continue;
      const src = join(root, kind, unit, 'src');
      if (existsSync(src)) walk(src);
    }
  }
  return files;
}

const files = sources();
const problems = files.flatMap(check);
if (problems.length) {
  console.error(`run state written outside packages/runs:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  process.exit(1);
}
console.log(`only packages/runs writes run state (${files.length} files checked)`);
