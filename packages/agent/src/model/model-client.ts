import { AgentyardError, type TokenUsage } from '@agentyard/core';
import { createParser } from 'eventsource-parser';

/**
 * A client for the OpenAI chat-completions protocol with tool calling, as served by
 * OpenAI, vLLM, Ollama, llama.cpp server and LiteLLM. Hand-written on fetch rather than
 * the `openai` SDK because we need exactly: the raw status and Retry-After for our own
 * retry decisions (no SDK retries underneath), an AbortSignal, and tolerant streaming
 * that also accepts servers answering a stream request with plain JSON.
 */
export interface ToolCall {
  id: string;
  type: 'function';
  function: { name: string; arguments: string };
}

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant' | 'tool';
  content: string | null;
  tool_calls?: ToolCall[];
  tool_call_id?: string;
}

export interface ChatRequest {
  model: string;
  messages: ChatMessage[];
  tools: { type: 'function'; function: { name: string; description: string; parameters: unknown } }[];
  max_tokens: number;
}

export interface ChatResult {
  message: ChatMessage;
  usage: TokenUsage;
  /** True when the server reported usage; otherwise it is an estimate. */
  usageReported: boolean;
  streamed: boolean;
}

/** An answer from the model endpoint that is not a usable completion. */
export class ModelError extends AgentyardError {
  constructor(message: string, readonly httpStatus: number | undefined, retryable: boolean, retryAfterS?: number) {
    super(httpStatus === 429 ? 'model_rate_limited' : retryable ? 'model_unavailable' : 'model_error', message, {
      status: 502,
      retryable,
      ...(retryAfterS === undefined ? {} : { retryAfterS }),
    });
  }
}

export interface ModelClient {
  readonly endpoint: string;
  chat(req: ChatRequest, opts: { signal: AbortSignal; onToken?: (text: string) => void }): Promise<ChatResult>;
}

export function createModelClient(opts: { baseUrl: string; apiKey?: string; timeoutMs: number }): ModelClient {
  const url = `${opts.baseUrl.replace(/\/+$/, '')}/chat/completions`;
  return {
    endpoint: opts.baseUrl,
    async chat(req, { signal, onToken }) {
      const timeout = AbortSignal.timeout(opts.timeoutMs);
      let res: Response;
      try {
        res = await fetch(url, {
          method: 'POST',
          headers: {
            'Content-Type': 'application/json',
            Accept: 'text/event-stream, application/json',
            ...(opts.apiKey ? { Authorization: `Bearer ${opts.apiKey}` } : {}),
          },
          body: JSON.stringify({ ...req, stream: true, stream_options: { include_usage: true } }),
          signal: AbortSignal.any([signal, timeout]),
        });
      } catch (e) {
        if (signal.aborted) throw signal.reason;
        const why = timeout.aborted ? `timed out after ${opts.timeoutMs} ms` : (e as Error).message;
        throw new ModelError(`model endpoint did not answer: ${why}`, undefined, true);
      }
      if (!res.ok) throw await errorFrom(res, opts.apiKey);
      try {
        const type = res.headers.get('content-type') ?? '';
        if (type.includes('text/event-stream')) return await readStream(res, req, onToken);
        return fromJson((await res.json()) as CompletionJson, req);
      } catch (e) {
        if (signal.aborted) throw signal.reason;
        if (e instanceof ModelError) throw e;
        if (timeout.aborted) throw new ModelError(`model answer timed out after ${opts.timeoutMs} ms`, undefined, true);
        throw new ModelError(`unreadable answer from the model endpoint: ${(e as Error).message}`, res.status, true);
      }
    },
  };
}

/**
 * The endpoint's refusal as a ModelError. Its message becomes the run's stored error, which
 * the tenant reads, and some providers quote the key they were sent ("Incorrect API key
 * provided: sk-..."): the configured key is cut out before the text goes anywhere.
 */
async function errorFrom(res: Response, apiKey: string | undefined): Promise<ModelError> {
  let detail = '';
  try {
    const text = await res.text();
    try {
      const j = JSON.parse(text) as { error?: { message?: string } | string; message?: string };
      detail = typeof j.error === 'string' ? j.error : (j.error?.message ?? j.message ?? text);
    } catch {
      detail = text;
    }
  } catch {
    // body unreadable: the status says enough
  }
  const retryable = res.status === 429 || res.status === 408 || res.status >= 500;
  const retryAfter = parseRetryAfter(res.headers.get('retry-after'));
  if (apiKey) detail = detail.split(apiKey).join('[redacted]');
  return new ModelError(`model endpoint answered ${res.status}${detail ? `: ${detail.slice(0, 500)}` : ''}`, res.status, retryable, retryAfter);
}

export function parseRetryAfter(v: string | null): number | undefined {
  if (!v) return undefined;
  if (/^\d+(\.\d+)?$/.test(v.trim())) return Math.ceil(Number(v));
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, Math.ceil((at - Date.now()) / 1000));
}

interface CompletionJson {
  choices?: { message?: ChatMessage; finish_reason?: string }[];
  usage?: { prompt_tokens?: number; completion_tokens?: number };
}

function fromJson(j: CompletionJson, req: ChatRequest): ChatResult {
  const m = j.choices?.[0]?.message;
  if (!m) throw new ModelError('model answer has no choices[0].message', 200, true);
  const message: ChatMessage = { role: 'assistant', content: m.content ?? null, ...(m.tool_calls?.length ? { tool_calls: m.tool_calls } : {}) };
  return { message, ...usageOf(j.usage, req, message), streamed: false };
}

function usageOf(u: CompletionJson['usage'], req: ChatRequest, message: ChatMessage): { usage: TokenUsage; usageReported: boolean } {
  if (u && typeof u.prompt_tokens === 'number' && typeof u.completion_tokens === 'number') {
    return { usage: { prompt_tokens: u.prompt_tokens, completion_tokens: u.completion_tokens }, usageReported: true };
  }
  return { usage: { prompt_tokens: estimateTokens(req.messages), completion_tokens: estimateTokens([message]) }, usageReported: false };
}

/** About four characters per token: used to reserve budget and when a server reports no usage. */
export function estimateTokens(messages: ChatMessage[]): number {
  return Math.ceil(JSON.stringify(messages).length / 4);
}

interface CompletionChunk {
  choices?: { delta?: { content?: string | null; tool_calls?: { index: number; id?: string; function?: { name?: string; arguments?: string } }[] } }[];
  usage?: CompletionJson['usage'];
  error?: { message?: string };
}

async function readStream(res: Response, req: ChatRequest, onToken?: (t: string) => void): Promise<ChatResult> {
  let content = '';
  const calls: { id: string; name: string; args: string }[] = [];
  let usage: CompletionJson['usage'];
  const onChunk = (chunk: CompletionChunk) => {
    if (chunk.error) throw new ModelError(`model stream error: ${chunk.error.message ?? 'unknown'}`, 200, true);
    if (chunk.usage) usage = chunk.usage;
    const delta = chunk.choices?.[0]?.delta;
    if (delta?.content) {
      content += delta.content;
      onToken?.(delta.content);
    }
    for (const tc of delta?.tool_calls ?? []) {
      const c = (calls[tc.index] ??= { id: '', name: '', args: '' });
      if (tc.id) c.id = tc.id;
      if (tc.function?.name) c.name += tc.function.name;
      if (tc.function?.arguments) c.args += tc.function.arguments;
    }
  };
  // What throws in onEvent (a stream error, a chunk that is not JSON) leaves feed() and so
  // this function: the caller turns it into a retryable ModelError.
  const parser = createParser({
    onEvent: ({ data }) => {
      const text = data.trim();
      if (text !== '' && text !== '[DONE]') onChunk(JSON.parse(text) as CompletionChunk);
    },
  });
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    parser.feed(decoder.decode(value, { stream: true }));
  }
  // A server that ends on a complete `data:` line without the blank line after it still
  // counts; a line cut off mid-way stays unread, as before.
  parser.feed(`${decoder.decode()}\n`);
  const toolCalls: ToolCall[] = calls
    .filter(Boolean)
    .map((c, i) => ({ id: c.id || `call_${i}`, type: 'function', function: { name: c.name, arguments: c.args } }));
  const message: ChatMessage = { role: 'assistant', content: content === '' ? null : content, ...(toolCalls.length ? { tool_calls: toolCalls } : {}) };
  return { message, ...usageOf(usage, req, message), streamed: true };
}
