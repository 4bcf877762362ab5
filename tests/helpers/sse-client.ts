/** A minimal SSE client over fetch, for tests: real HTTP, parses the wire format itself. */
export interface SseEvent {
  id?: string;
  event: string;
  data: Record<string, unknown>;
}

export interface SseConnection {
  events: SseEvent[];
  /** Resolves when the server closes the stream (or the connection is aborted). */
  closed: Promise<void>;
  status: number;
  headers: Headers;
  comments: number;
  abort(): void;
  waitFor(pred: (e: SseEvent, all: SseEvent[]) => boolean, label: string, timeoutMs?: number): Promise<SseEvent>;
}

export async function openSse(url: string, opts: { token?: string; lastEventId?: string } = {}): Promise<SseConnection> {
  const ctl = new AbortController();
  const headers: Record<string, string> = { Accept: 'text/event-stream' };
  if (opts.token) headers.Authorization = `Bearer ${opts.token}`;
  if (opts.lastEventId) headers['Last-Event-ID'] = opts.lastEventId;
  const res = await fetch(url, { headers, signal: ctl.signal });
  const conn: SseConnection = {
    events: [],
    status: res.status,
    headers: res.headers,
    comments: 0,
    closed: Promise.resolve(),
    abort: () => ctl.abort(),
    waitFor: () => Promise.reject(new Error('not a stream')),
  };
  const waiters: { pred: (e: SseEvent, all: SseEvent[]) => boolean; resolve: (e: SseEvent) => void }[] = [];
  conn.waitFor = (pred, label, timeoutMs = 15_000) => {
    const hit = conn.events.find((e) => pred(e, conn.events));
    if (hit) return Promise.resolve(hit);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`SSE: timed out waiting for ${label}; got ${conn.events.map((e) => e.event).join(',')}`)), timeoutMs);
      waiters.push({ pred, resolve: (e) => (clearTimeout(t), resolve(e)) });
    });
  };
  if (res.status !== 200 || !res.body) return conn;
  conn.closed = (async () => {
    const reader = res.body!.getReader();
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
          const ev: Partial<SseEvent> & { dataLines: string[] } = { dataLines: [] };
          for (const line of block.split('\n')) {
            if (line.startsWith(':')) conn.comments++;
            else if (line.startsWith('id: ')) ev.id = line.slice(4);
            else if (line.startsWith('event: ')) ev.event = line.slice(7);
            else if (line.startsWith('data: ')) ev.dataLines.push(line.slice(6));
          }
          if (ev.dataLines.length === 0) continue;
          const e: SseEvent = { ...(ev.id ? { id: ev.id } : {}), event: ev.event ?? 'message', data: JSON.parse(ev.dataLines.join('\n')) };
          conn.events.push(e);
          for (let i = waiters.length - 1; i >= 0; i--) {
            if (waiters[i]!.pred(e, conn.events)) {
              waiters[i]!.resolve(e);
              waiters.splice(i, 1);
            }
          }
        }
      }
    } catch {
      // aborted by the test
    }
  })();
  return conn;
}
