/**
 * The substrate of the HTTP figures, as its own process: bare Express with express.json, a
 * bearer check, one queue.add per POST with Agentyard's job options, and one ioredis
 * subscriber fanning a channel out to every open SSE response (GET /sse).
 *   env: REDIS_URL, QUEUE_NAME, PORT, CHANNEL, TOKEN
 */
const { join } = require('node:path');
const { randomBytes } = require('node:crypto');
const { requireFrom } = require('./support');

const apiDir = join(__dirname, '..', '..', 'apps', 'api');
const express = requireFrom(apiDir, 'express');
const Redis = requireFrom(apiDir, 'ioredis');
const { Queue } = requireFrom(apiDir, 'bullmq');
const { jobOptions } = requireFrom(apiDir, '@agentyard/queue');

const conn = new Redis(process.env.REDIS_URL, { maxRetriesPerRequest: 1 });
const sub = new Redis(process.env.REDIS_URL);
const queue = new Queue(process.env.QUEUE_NAME, { connection: conn });
const clients = new Set();
sub.subscribe(process.env.CHANNEL);
sub.on('message', (_c, msg) => {
  const m = JSON.parse(msg);
  const frame = `id: ${m.id}\nevent: ${m.type}\ndata: ${m.data}\n\n`;
  for (const res of clients) res.write(frame);
});

const app = express();
app.use(express.json());
app.use((req, res, next) => (req.headers.authorization === `Bearer ${process.env.TOKEN}` ? next() : res.status(401).end()));
app.post('/agent/execute', async (req, res) => {
  const id = `run_${randomBytes(8).toString('hex')}`;
  await queue.add('run', { runId: id, tenant: 'bench', gen: 1 }, jobOptions({ id, gen: 1, options: { priority: 'normal', max_attempts: 3 } }, 2000));
  res.status(201).json({ run_id: id, status: 'queued' });
});
app.get('/sse', (req, res) => {
  res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache', Connection: 'keep-alive' });
  res.write(': ok\n\n');
  clients.add(res);
  req.on('close', () => clients.delete(res));
});
app.listen(Number(process.env.PORT), '127.0.0.1', () => process.send?.({ ready: true }));
process.on('SIGTERM', async () => {
  await queue.close();
  conn.disconnect();
  sub.disconnect();
  process.exit(0);
});
