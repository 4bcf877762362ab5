/**
 * Every process a drill starts, each in its own process group (detached), so a kill reaches
 * its children too. On exit, SIGINT or SIGTERM of the drill everything still alive gets
 * SIGKILL: a drill that fails or is interrupted leaves nothing running.
 */
const { spawn } = require('node:child_process');
const { createWriteStream } = require('node:fs');
const { freePort } = require('../bench/support');

const alive = new Set();

function killGroup(child, signal) {
  try {
    process.kill(-child.pid, signal);
  } catch {
    // already gone
  }
}

process.on('exit', () => {
  for (const c of alive) killGroup(c, 'SIGKILL');
});
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    process.stderr.write(`chaos: ${sig}, stopping everything it started\n`);
    process.exit(130);
  });
}

/** Starts `cmd` in its own group; stdout and stderr go to `logFile`. */
function start(name, cmd, args, { env, logFile } = {}) {
  const child = spawn(cmd, args, { env: env ?? process.env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  const log = createWriteStream(logFile ?? '/dev/null', { flags: 'a' });
  child.stdout.pipe(log);
  child.stderr.pipe(log);
  alive.add(child);
  const exited = new Promise((resolve) =>
    child.once('exit', (code, signal) => {
      alive.delete(child);
      resolve({ code, signal });
    }),
  );
  return { name, child, pid: child.pid, exited, running: () => child.exitCode === null && child.signalCode === null };
}

/** SIGKILL and wait for the exit. */
async function kill9(proc) {
  killGroup(proc.child, 'SIGKILL');
  return proc.exited;
}

/** SIGKILL to whatever is still alive (a backstop after a drill, whatever happened). */
async function killAll() {
  await Promise.all([...alive].map((c) => new Promise((resolve) => {
    c.once('exit', resolve);
    killGroup(c, 'SIGKILL');
  })));
}

/** `signal`, then SIGKILL after `graceMs`: always settles. */
async function stop(proc, { signal = 'SIGTERM', graceMs = 5000 } = {}) {
  if (!proc.running()) return proc.exited;
  killGroup(proc.child, signal);
  const t = setTimeout(() => killGroup(proc.child, 'SIGKILL'), graceMs);
  const r = await proc.exited;
  clearTimeout(t);
  return r;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Polls `fn` until it returns a truthy value; throws naming `label` after `timeoutMs`. */
async function waitFor(fn, { timeoutMs = 30_000, label = 'condition', everyMs = 100 } = {}) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${label}${last ? ` (${last.message})` : ''}`);
    await sleep(everyMs);
  }
}

module.exports = { start, stop, kill9, killAll, freePort, sleep, waitFor };
