import { connect, type Socket } from 'node:net';
import { EventSource } from 'eventsource';
import { startStack, TOKENS, type Stack } from '../helpers/stack';
import { waitFor } from '../helpers/wait-for';

/** 50 KB of text per event: 240 of them (12 MB) fill what loopback's socket buffers hold. */
const BIG = 'x'.repeat(50_000);
const BIG_EVENTS = 240;

describe('an SSE client that stops reading', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ label: 'sse-slow', env: { SSE_MAX_BUFFERED_KB: '256', SSE_STALLED_S: '1' } });
  });
  afterAll(() => stack.stop());

  const metric = async (outcome: string) => {
    const text = String((await stack.api('GET', '/metrics', undefined, { token: '' })).body);
    const line = text.split('\n').find((l) => l.startsWith(`agentyard_sse_streams_total{outcome="${outcome}"}`));
    return line ? Number(line.split(' ').pop()) : 0;
  };

  it('is cut off once more than SSE_MAX_BUFFERED_KB waited for it for SSE_STALLED_S, and a client that reads gets every event', async () => {
    const created = await stack.execute({ action: 'create', steps: [{ tool: 'log', args: { message: 'waits' } }] });
    const runId = created.body.run_id as string;
    const { port } = new URL(stack.baseUrl);

    // A raw client that reads the response head and the first event, then nothing more.
    const socket: Socket = connect({ host: '127.0.0.1', port: Number(port) });
    let received = '';
    socket.on('error', () => undefined);
    await new Promise<void>((resolve) => socket.on('connect', () => resolve()));
    socket.write(`GET /agent/logs/${runId}/stream HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TOKENS.acme}\r\nAccept: text/event-stream\r\n\r\n`);
    await new Promise<void>((resolve) => {
      const onData = (chunk: Buffer) => {
        received += chunk.toString('utf8');
        if (received.includes('event: status')) {
          socket.off('data', onData);
          socket.pause();
          resolve();
        }
      };
      socket.on('data', onData);
    });
    expect(received).toMatch(/^HTTP\/1\.1 200/);

    // The run's events pile up for it: 12 MB at once, then a small one every 20 ms, for 10 s at
    // most, against a limit of 256 KB for 1 s. (The paused socket cannot see the server close
    // it: the server's own count says when it did.)
    let k = 0;
    for (; k < BIG_EVENTS; k++) await stack.deps.events.append(runId, 'log', { level: 'info', message: `${k} ${BIG}` });
    const until = Date.now() + 10_000;
    let cut = false;
    for (; !cut && Date.now() < until; k++) {
      await stack.deps.events.append(runId, 'log', { level: 'info', message: `${k} small` });
      await new Promise((r) => setTimeout(r, 20));
      if (k % 10 === 0) cut = (await metric('slow_client')) === 1;
    }
    expect(cut).toBe(true);
    expect(await metric('client_closed')).toBe(0);
    socket.destroy();

    // A client that reads (the eventsource package) gets every event, once each, in order (a
    // cut-off on its way would only make it resume from its last id).
    const all: string[] = [];
    const es = new EventSource(`${stack.baseUrl}/agent/logs/${runId}/stream`, {
      fetch: (input, init) => fetch(input, { ...init, headers: { ...(init?.headers ?? {}), Authorization: `Bearer ${TOKENS.acme}` } }),
    });
    try {
      es.addEventListener('log', (e) => all.push((JSON.parse(e.data) as { message: string }).message.split(' ')[0]!));
      await waitFor(async () => all.length >= k, { label: `all ${k} log events`, timeoutMs: 30_000 });
      expect(all).toEqual(Array.from({ length: k }, (_, i) => String(i)));
    } finally {
      es.close();
      socket.destroy();
    }
  });
});
