import { CliError, EXIT, TOKEN_HINT } from './cli-error';

export interface StreamEvent {
  id?: string;
  event: string;
  data: Record<string, unknown>;
}

/**
 * Follows a run's SSE stream until its `end` event. A dropped connection, a 503 or a 429
 * rate_limited is resumed with Last-Event-ID after a backoff (at least the server's
 * Retry-After), so no event is printed twice or skipped.
 */
export async function tailRun(opts: {
  apiUrl: string;
  token?: string;
  runId: string;
  from?: string;
  onEvent(e: StreamEvent): void;
  onReconnect?(attempt: number): void;
  maxReconnects?: number;
}): Promise<StreamEvent | undefined> {
  let last = opts.from;
  let failures = 0;
  for (;;) {
    let res: Response;
    try {
      res = await fetch(`${opts.apiUrl}/agent/logs/${encodeURIComponent(opts.runId)}/stream`, {
        headers: { Accept: 'text/event-stream', ...(opts.token ? { Authorization: `Bearer ${opts.token}` } : {}), ...(last ? { 'Last-Event-ID': last } : {}) },
      });
    } catch (e) {
      if (++failures > (opts.maxReconnects ?? 10)) throw new CliError(`cannot reach the stream: ${(e as Error).message}`, EXIT.unavailable);
      opts.onReconnect?.(failures);
      await new Promise((r) => setTimeout(r, Math.min(5000, 200 * 2 ** failures)));
      continue;
    }
    if (res.status !== 200 || !res.body) {
      const text = await res.text();
      // The API down for a moment (503, e.g. Redis restarting) or this tenant over its rate
      // (429 rate_limited): wait as asked and resume; anything else is final.
      if (res.status === 503 || (res.status === 429 && /"rate_limited"/.test(text))) {
        if (++failures > (opts.maxReconnects ?? 10)) throw new CliError(`stream answered ${res.status}: ${text}`, EXIT.unavailable);
        opts.onReconnect?.(failures);
        const retryAfterMs = Math.min(30_000, Number(res.headers.get('retry-after') ?? 0) * 1000 || 0);
        await new Promise((r) => setTimeout(r, Math.max(retryAfterMs, Math.min(5000, 200 * 2 ** failures))));
        continue;
      }
      const hint = res.status === 401 ? `\n  ${TOKEN_HINT}` : '';
      throw new CliError(`stream answered ${res.status}: ${text}${hint}`, res.status >= 500 ? EXIT.unavailable : EXIT.rejected);
    }
    const reader = res.body.getReader();
    const decoder = new TextDecoder();
    let buf = '';
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += decoder.decode(value, { stream: true });
        let idx: number;
        while ((idx = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, idx);
          buf = buf.slice(idx + 2);
          let id: string | undefined;
          let event = 'message';
          const data: string[] = [];
          for (const line of block.split('\n')) {
            if (line.startsWith('id: ')) id = line.slice(4);
            else if (line.startsWith('event: ')) event = line.slice(7);
            else if (line.startsWith('data: ')) data.push(line.slice(6));
          }
          if (data.length === 0) continue;
          const e: StreamEvent = { ...(id ? { id } : {}), event, data: JSON.parse(data.join('\n')) };
          if (id) last = id;
          failures = 0;
          opts.onEvent(e);
          if (event === 'end') return e;
        }
      }
    } catch {
      // the connection dropped mid-stream: resume below
    }
    if (++failures > (opts.maxReconnects ?? 10)) throw new CliError('the stream kept dropping', EXIT.unavailable);
    opts.onReconnect?.(failures);
    await new Promise((r) => setTimeout(r, Math.min(5000, 200 * 2 ** failures)));
  }
}
