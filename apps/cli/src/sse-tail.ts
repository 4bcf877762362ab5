import { createParser } from 'eventsource-parser';
import { CliError, EXIT, TOKEN_HINT } from './cli-error';

export interface StreamEvent {
  id?: string;
  event: string;
  data: Record<string, unknown>;
}

/**
 * Follows a run's SSE stream until the server closes it after the run's final `end`
 * (returned), or answers 204 to a resume after it (the last `end` seen is returned, if
 * any). A dropped connection, a 503 or a 429 rate_limited is resumed with Last-Event-ID
 * after a backoff (at least the server's Retry-After), so no event is printed twice or
 * skipped.
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
  let lastEnd: StreamEvent | undefined;
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
    // 204: this client already has the run's `end` (it dropped right after it, or `from` is it).
    if (res.status === 204) return lastEnd;
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
    // A fresh parser per connection: half an event from a dropped one must not merge into
    // the next. The server closes after the run's final `end`; an `end` followed by more
    // events (the run was retried) is not the last word, so the close decides, not the event.
    let endLast: StreamEvent | undefined;
    const parser = createParser({
      onEvent: (m) => {
        const e: StreamEvent = { ...(m.id ? { id: m.id } : {}), event: m.event ?? 'message', data: JSON.parse(m.data) };
        if (m.id) last = m.id;
        failures = 0;
        endLast = e.event === 'end' ? e : undefined;
        if (endLast) lastEnd = endLast;
        opts.onEvent(e);
      },
    });
    const reader = res.body.getReader();
    const decoder = new TextDecoder();
    let closed = false;
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        parser.feed(decoder.decode(value, { stream: true }));
      }
      closed = true;
    } catch {
      // the connection dropped mid-stream: resume below
    }
    if (closed && endLast) return endLast;
    if (++failures > (opts.maxReconnects ?? 10)) throw new CliError('the stream kept dropping', EXIT.unavailable);
    opts.onReconnect?.(failures);
    await new Promise((r) => setTimeout(r, Math.min(5000, 200 * 2 ** failures)));
  }
}
