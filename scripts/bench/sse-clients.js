/**
 * The SSE load of the fan-out figures, as its own process: N EventSource clients (the
 * `eventsource` package) on one URL. Over IPC: {connected, connect_ms} once all are open;
 * on {report: expected} the publish -> receive latencies of `log` events whose data carries
 * `sent` (process.hrtime.bigint() of the publisher: one clock for every process of a host)
 * and how many of the expected events each client missed.
 *   env: URL, N, TOKEN, BENCH_DEBUG (progress and errors on stderr)
 */
const { join } = require('node:path');
const { requireFrom } = require('./support');

const { EventSource } = requireFrom(join(__dirname, '..', '..'), 'eventsource');
const n = Number(process.env.N);
const token = process.env.TOKEN;
const latencies = [];
const received = new Array(n).fill(0);
const sources = [];
let open = 0;
const t0 = performance.now();
for (let i = 0; i < n; i++) {
  const es = new EventSource(process.env.URL, {
    fetch: (input, init) => fetch(input, { ...init, headers: { ...init?.headers, Authorization: `Bearer ${token}` } }),
  });
  es.onopen = () => {
    open += 1;
    if (open === n) process.send?.({ connected: n, connect_ms: Math.round(performance.now() - t0) });
  };
  es.onerror = (e) => {
    if (process.env.BENCH_DEBUG) process.stderr.write(`sse-clients: error ${e.code ?? ''} ${e.message ?? ''}\n`);
    // A refusal (a cap, a limit, a bad token) would otherwise be retried forever while the
    // bench waits for every client: say it and stop.
    if (typeof e.code === 'number' && e.code >= 400) {
      process.stderr.write(`sse-clients: a client was refused with ${e.code}: ${e.message ?? ''}\n`);
      process.exit(2);
    }
  };
  es.addEventListener('log', (ev) => {
    const d = JSON.parse(ev.data);
    if (d.sent === undefined) return;
    latencies.push(Number(process.hrtime.bigint() - BigInt(d.sent)) / 1e6);
    received[i] += 1;
  });
  sources.push(es);
}
process.on('message', (m) => {
  if (m.report === undefined) return;
  const want = m.report;
  const done = () => {
    const lost = received.reduce((a, r) => a + Math.max(0, want - r), 0);
    latencies.sort((a, b) => a - b);
    const pct = (p) => latencies[Math.min(latencies.length - 1, Math.max(0, Math.ceil((p / 100) * latencies.length) - 1))] ?? 0;
    process.send?.({ lost, received: latencies.length, p50_ms: round(pct(50)), p99_ms: round(pct(99)), max_ms: round(latencies.at(-1) ?? 0) });
    for (const es of sources) es.close();
  };
  // Give stragglers a moment: every event was published already when asked.
  const deadline = Date.now() + 5000;
  const check = () => (received.every((r) => r >= want) || Date.now() > deadline ? done() : setTimeout(check, 50));
  check();
});
const round = (x) => Math.round(x * 100) / 100;
if (process.env.BENCH_DEBUG) setInterval(() => process.stderr.write(`sse-clients: ${open} of ${n} open\n`), 1000).unref();
