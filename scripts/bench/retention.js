/**
 * What Redis keeps per finished run, and that RUN_RETENTION_S bounds it (issue 7):
 *
 * N two-step runs: used_memory and keys under the prefix (and BullMQ's) right after the last
 * archive is written, and again once the reconciler expired them all. The soak (a steady rate
 * for 30 minutes, memory and handles over time) is scripts/bench/soak.js.
 */
const { startStack } = require('./stack');
const { pool } = require('./support');

const twoStep = {
  action: 'create',
  start: true,
  steps: [
    { id: 'a', tool: 'log', args: { message: 'one' } },
    { id: 'b', tool: 'log', args: { message: 'two' }, needs: ['a'] },
  ],
};
const IN_FLIGHT = 32;

async function usedMemory(redis) {
  return Number(/used_memory:(\d+)/.exec(await redis.info('memory'))[1]);
}

async function scanAll(redis, match) {
  const out = [];
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', match, 'COUNT', 1000);
    cursor = next;
    out.push(...keys);
  } while (cursor !== '0');
  return out;
}

/** Every key of this (private) Redis by shape: run ids and the prefix folded, with exact bytes and TTL. */
async function keyShapes(stack) {
  const keys = await scanAll(stack.redis, '*');
  const shapes = {};
  for (let i = 0; i < keys.length; i += 500) {
    const batch = keys.slice(i, i + 500);
    const p = stack.redis.pipeline();
    for (const k of batch) {
      p.call('MEMORY', 'USAGE', k, 'SAMPLES', '0');
      p.pttl(k);
    }
    const replies = await p.exec();
    batch.forEach((k, j) => {
      const shape = k
        .replace(stack.prefix, '<prefix>')
        .replace(`bull:${stack.queueName}:`, 'bull:<queue>:')
        .replace(/run_[0-9a-z]{26}/g, '<run>');
      const s = (shapes[shape] ??= { keys: 0, bytes: 0, no_ttl: 0 });
      s.keys += 1;
      s.bytes += Number(replies[2 * j][1] ?? 0);
      if (Number(replies[2 * j + 1][1]) === -1) s.no_ttl += 1;
    });
  }
  return { keys: keys.length, shapes: Object.fromEntries(Object.entries(shapes).sort(([a], [b]) => a.localeCompare(b))) };
}

/** One line per key shape; per-run shapes also say their bytes per run. */
function compact(shapes, runs) {
  return Object.fromEntries(
    Object.entries(shapes).map(([shape, s]) => {
      const ttl = s.no_ttl === 0 ? 'all with ttl' : s.no_ttl === s.keys ? 'no ttl' : `${s.no_ttl} without ttl`;
      const per = shape.includes('<run>') ? `, ${round(s.bytes / runs, 1)} B per run` : '';
      return [shape, `${s.keys} key${s.keys === 1 ? '' : 's'}, ${s.bytes} B${per}, ${ttl}`];
    }),
  );
}

async function waitUntil(label, check, timeoutMs) {
  const t0 = Date.now();
  for (;;) {
    if (await check()) return (Date.now() - t0) / 1000;
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out waiting for ${label}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const listingKey = (stack) => `${stack.prefix}tenant:${stack.tenant}:listing`;
const expiringKey = (stack) => `${stack.prefix}expiring`;
/** Runs whose archive is written (their listing entry exists): retention has started for them. */
const archivedCount = (stack) => stack.redis.hlen(listingKey(stack));
const drained = async (stack) => (await stack.redis.zcard(expiringKey(stack))) === 0 && (await scanAll(stack.redis, `${stack.prefix}run:*`)).length === 0;

/** Runs `total` runs with at most `window` created but not yet ended; calls `tick` as they end. */
async function drive(stack, total, window) {
  let posted = 0;
  await pool(total, IN_FLIGHT, async () => {
    const n = ++posted;
    if (n > window) await stack.ends.waitFor(n - window);
    await stack.post(twoStep);
  });
}

async function retentionFigures({ runs, retentionS, reconcileS, concurrency }) {
  const stack = await startStack({ retentionS, reconcileS, concurrency });
  try {
    // Warm-up, expired too, so the baseline holds loaded scripts, BullMQ's queue keys and the
    // long-lived indexes: what follows is what runs add.
    await drive(stack, 20, 64);
    await stack.ends.waitFor(20);
    await waitUntil('warm-up archives', async () => (await archivedCount(stack)) === 20, 30_000);
    await waitUntil('warm-up expiry', () => drained(stack), 30_000 + retentionS * 3000);
    const m0 = await usedMemory(stack.redis);
    const k0 = await keyShapes(stack);

    stack.ends.reset();
    const t0 = performance.now();
    await drive(stack, runs, 1000);
    await stack.ends.waitFor(runs);
    await waitUntil('archives', async () => (await archivedCount(stack)) === 20 + runs, 60_000);
    const finishedS = (performance.now() - t0) / 1000;
    const inRetention = await stack.redis.zcard(expiringKey(stack));
    const m1 = await usedMemory(stack.redis);
    const k1 = await keyShapes(stack);

    const waitedS = await waitUntil('expiry', () => drained(stack), 30_000 + retentionS * 3000);
    const m2 = await usedMemory(stack.redis);
    const k2 = await keyShapes(stack);

    const per = (n) => round(n / runs, 2);
    const bytesOf = (k, shape) => k.shapes[shape]?.bytes ?? 0;
    const listingShapes = [`<prefix>tenant:${stack.tenant}:listing`, `<prefix>tenant:${stack.tenant}:runs`];
    const view = async (m, k) => ({
      used_memory: m,
      keys: k.keys,
      bytes_per_run: per(m - m0),
      keys_per_run: per(k.keys - k0.keys),
      per_run_keys: Object.entries(k.shapes).filter(([sh]) => sh.includes('<run>')).reduce((n, [, s]) => n + s.keys, 0),
      keys_without_ttl: Object.entries(k.shapes).filter(([, s]) => s.no_ttl > 0).map(([shape]) => shape),
      // MEMORY USAGE of the two listing keys, grown by this batch: what stays per run for good.
      listing_entry_bytes_per_run: per(listingShapes.reduce((n, sh) => n + bytesOf(k, sh) - bytesOf(k0, sh), 0)),
      bull_keys: Object.keys(k.shapes).filter((sh) => sh.startsWith('bull:')),
      bull_events_stream_len: await stack.redis.xlen(`bull:${stack.queueName}:events`),
      by_key: compact(k.shapes, runs),
    });
    return {
      runs,
      steps_per_run: 2,
      retention_s: retentionS,
      reconcile_s: reconcileS,
      seconds_to_finish_and_archive: round(finishedS, 2),
      runs_in_retention_when_measured: inRetention,
      baseline: { used_memory: m0, keys: k0.keys, by_key: compact(k0.shapes, runs) },
      after_finished: await view(m1, k1),
      after_expiry: { seconds_waited_after_archived: round(waitedS, 2), ...(await view(m2, k2)) },
    };
  } finally {
    await stack.close();
  }
}

const round = (n, d = 1) => Math.round(n * 10 ** d) / 10 ** d;

module.exports = { retentionFigures };
