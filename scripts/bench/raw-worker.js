/** Baseline worker for the benchmark: a BullMQ Worker whose processor does nothing. */
const { join } = require('node:path');
const { requireFrom } = require('./support');

const apiDir = join(__dirname, '..', '..', 'apps', 'api');
const { Worker } = requireFrom(apiDir, 'bullmq');
const Redis = requireFrom(apiDir, 'ioredis');

const connection = new Redis(process.env.REDIS_URL, { maxRetriesPerRequest: null });
const worker = new Worker(process.env.QUEUE_NAME, async () => undefined, {
  connection,
  concurrency: Number(process.env.CONCURRENCY),
});
process.on('SIGTERM', async () => {
  await worker.close();
  connection.disconnect();
  process.exit(0);
});
