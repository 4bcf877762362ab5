/**
 * Baseline worker for the benchmark: a BullMQ Worker whose processor does nothing. Over IPC
 * it answers {expect: n} once n jobs completed since the last ask, with the first job's
 * processedOn and the last finishedOn (BullMQ's own timestamps), as drain figures need.
 */
const { join } = require('node:path');
const { requireFrom } = require('./support');

const apiDir = join(__dirname, '..', '..', 'apps', 'api');
const { Worker } = requireFrom(apiDir, 'bullmq');
const Redis = requireFrom(apiDir, 'ioredis');

const connection = new Redis(process.env.REDIS_URL, { maxRetriesPerRequest: null });
// A job carrying t0 (process.hrtime.bigint() of its enqueuer, one clock per host) reports
// enqueue -> processor start.
const worker = new Worker(process.env.QUEUE_NAME, async (job) => {
  if (job.data.t0) process.send?.({ started_ms: Number(process.hrtime.bigint() - BigInt(job.data.t0)) / 1e6 });
}, {
  connection,
  concurrency: Number(process.env.CONCURRENCY),
});
let done = 0;
let first = Infinity;
let last = 0;
let waiting;
worker.on('completed', (job) => {
  done += 1;
  first = Math.min(first, job.processedOn ?? Infinity);
  last = Math.max(last, job.finishedOn ?? 0);
  if (waiting && done >= waiting) answer();
});
function answer() {
  process.send?.({ done, first, last });
  waiting = undefined;
  done = 0;
  first = Infinity;
  last = 0;
}
process.on('message', (m) => {
  if (m && typeof m.expect === 'number') {
    waiting = m.expect;
    if (done >= waiting) answer();
  }
});
worker.waitUntilReady().then(() => process.send?.({ ready: true }));
process.on('SIGTERM', async () => {
  await worker.close();
  connection.disconnect();
  process.exit(0);
});
