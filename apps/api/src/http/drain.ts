import type { Server } from 'node:http';

/**
 * Counts the requests a server is answering, leaving out long-lived ones (SSE), so a
 * stopping API can let short requests finish instead of cutting a create halfway through.
 */
export function trackInFlight(server: Server, isLongLived: (url: string) => boolean) {
  let inFlight = 0;
  server.prependListener('request', (req, res) => {
    if (isLongLived(req.url ?? '')) return;
    inFlight += 1;
    res.once('close', () => {
      inFlight -= 1;
    });
  });
  return {
    inFlight: () => inFlight,
    /**
     * Stops accepting connections, waits up to `graceMs` for requests in flight, then closes
     * every connection that is left (idle keep-alives and SSE streams, whose clients resume
     * with Last-Event-ID on another replica).
     */
    async drain(graceMs: number): Promise<{ unfinished: number }> {
      server.close();
      server.closeIdleConnections();
      const deadline = Date.now() + graceMs;
      while (inFlight > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
      const unfinished = inFlight;
      server.closeAllConnections();
      return { unfinished };
    },
  };
}
