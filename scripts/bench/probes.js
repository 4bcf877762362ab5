/**
 * What the bench reads off the host and off Redis around a phase: CPU time of a process
 * (/proc/<pid>/stat), the host's steal share (/proc/stat), and Redis commands by name
 * (INFO commandstats), so a regression has a cause to point at.
 */
const { readFileSync } = require('node:fs');

const TICK_MS = 10; // USER_HZ is 100 on every Linux the bench runs on

/** User + system CPU milliseconds of `pid` so far. */
function cpuMs(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * TICK_MS;
}

/** The kernel's share (stime) of a process's CPU ms: filesystem work shows here, not in a JS profile. */
function sysMs(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[12]) * TICK_MS;
}

function hostTicks() {
  const cpu = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  return { total: cpu.slice(0, 8).reduce((a, b) => a + b, 0), steal: cpu[7] ?? 0 };
}

/** Starts a phase; `.end()` gives the host's steal percentage over it. */
function stealMeter() {
  const a = hostTicks();
  return {
    end() {
      const b = hostTicks();
      const total = b.total - a.total;
      return total > 0 ? Math.round(((b.steal - a.steal) / total) * 1000) / 10 : 0;
    },
  };
}

/** Calls per command name, and `<name>#usec` the time spent in it, from INFO commandstats. */
async function commandStats(redis) {
  const out = {};
  for (const line of (await redis.info('commandstats')).split('\n')) {
    const m = /^cmdstat_([^:]+):calls=(\d+),usec=(\d+)/.exec(line.trim());
    if (m) {
      out[m[1]] = Number(m[2]);
      out[`${m[1]}#usec`] = Number(m[3]);
    }
  }
  return out;
}

/**
 * CPU ms Redis spent so far, all its threads (INFO cpu), so a drain can say what each run cost
 * the server as well as the worker: on a host of a few cores they share, that counts too.
 */
async function redisCpuMs(redis) {
  const info = await redis.info('cpu');
  const field = (name) => Number(new RegExp(`^${name}:([\\d.]+)`, 'm').exec(info)?.[1] ?? 0);
  return (field('used_cpu_sys') + field('used_cpu_user')) * 1000;
}

/**
 * Commands between two commandStats snapshots (the probe's own INFO left out), and the
 * microseconds Redis spent in each (a script's time includes the commands it ran).
 */
function commandDelta(before, after) {
  const delta = {};
  const usec = {};
  let total = 0;
  for (const [name, n] of Object.entries(after)) {
    const d = n - (before[name] ?? 0);
    if (name === 'info' || name === 'info#usec') continue; // the probe's own
    if (d <= 0) continue;
    if (name.endsWith('#usec')) usec[name.slice(0, -5)] = d;
    else {
      delta[name] = d;
      total += d;
    }
  }
  return { total, delta, usec };
}

/** The host's 1-minute load average: other work on a shared host shows here, not in steal. */
function loadAvg() {
  return Number(readFileSync('/proc/loadavg', 'utf8').split(' ')[0]);
}

module.exports = { cpuMs, sysMs, stealMeter, commandStats, commandDelta, redisCpuMs, loadAvg };
