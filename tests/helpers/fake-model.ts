import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A small OpenAI-compatible chat-completions server for tests. Replies are scripted in
 * order; each request takes the next one (or asks `fallback`). It records every request
 * so tests can assert what the model was asked, and how often.
 */
export type FakeReply =
  | { toolCalls: { name: string; arguments: unknown; id?: string }[]; content?: string; usage?: [number, number]; stream?: boolean }
  | { content: string; usage?: [number, number]; stream?: boolean }
  | { status: number; body?: unknown; headers?: Record<string, string> }
  | { delayMs: number; then: FakeReply };

export interface FakeModel {
  /** Base URL to use as LLM_BASE_URL (ends in /v1). */
  url: string;
  requests: Array<{ model: string; messages: Array<Record<string, any>>; tools: unknown[]; max_tokens: number; stream?: boolean }>;
  script(...replies: FakeReply[]): void;
  fallback?: (n: number) => FakeReply;
  close(): Promise<void>;
}

let callSeq = 0;

export async function startFakeModel(): Promise<FakeModel> {
  const queue: FakeReply[] = [];
  const fake: FakeModel = {
    url: '',
    requests: [],
    script: (...replies) => queue.push(...replies),
    close: () => new Promise((r) => server.close(() => r())),
  };
  const server: Server = createServer(async (req, res) => {
    if (req.method !== 'POST' || !req.url?.endsWith('/chat/completions')) {
      res.writeHead(404).end();
      return;
    }
    const body = JSON.parse(await readBody(req));
    fake.requests.push(body);
    let reply = queue.shift() ?? fake.fallback?.(fake.requests.length) ?? { status: 500, body: { error: { message: 'no scripted reply' } } };
    while ('delayMs' in reply) {
      await new Promise((r) => setTimeout(r, (reply as { delayMs: number }).delayMs));
      if (res.destroyed) return;
      reply = (reply as { then: FakeReply }).then;
    }
    if ('status' in reply) {
      res.writeHead(reply.status, { 'Content-Type': 'application/json', ...(reply.headers ?? {}) });
      res.end(JSON.stringify(reply.body ?? { error: { message: `scripted ${reply.status}` } }));
      return;
    }
    const [prompt, completion] = reply.usage ?? [100, 20];
    const calls = 'toolCalls' in reply
      ? reply.toolCalls.map((c) => ({
          id: c.id ?? `call_${++callSeq}`,
          type: 'function',
          function: { name: c.name.replace(/\./g, '__'), arguments: typeof c.arguments === 'string' ? c.arguments : JSON.stringify(c.arguments) },
        }))
      : [];
    const content = reply.content ?? null;
    if (reply.stream && body.stream) {
      res.writeHead(200, { 'Content-Type': 'text/event-stream' });
      const send = (chunk: unknown) => res.write(`data: ${JSON.stringify(chunk)}\n\n`);
      for (const piece of (content ?? '').match(/.{1,8}/gs) ?? []) send({ choices: [{ index: 0, delta: { content: piece } }] });
      calls.forEach((c, index) => {
        send({ choices: [{ index: 0, delta: { tool_calls: [{ index, id: c.id, type: 'function', function: { name: c.function.name, arguments: '' } }] } }] });
        send({ choices: [{ index: 0, delta: { tool_calls: [{ index, function: { arguments: c.function.arguments } }] } }] });
      });
      send({ choices: [{ index: 0, delta: {}, finish_reason: calls.length ? 'tool_calls' : 'stop' }] });
      send({ choices: [], usage: { prompt_tokens: prompt, completion_tokens: completion } });
      res.end('data: [DONE]\n\n');
      return;
    }
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end(
      JSON.stringify({
        choices: [{ index: 0, message: { role: 'assistant', content, ...(calls.length ? { tool_calls: calls } : {}) }, finish_reason: calls.length ? 'tool_calls' : 'stop' }],
        usage: { prompt_tokens: prompt, completion_tokens: completion },
      }),
    );
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  fake.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
  return fake;
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let data = '';
    req.on('data', (c: Buffer) => (data += c.toString()));
    req.on('end', () => resolve(data));
    req.on('error', reject);
  });
}
