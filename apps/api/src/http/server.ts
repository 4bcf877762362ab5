import { createServer, type RequestListener, type Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { answerClientError } from '@agentyard/observability';

/**
 * The API's http.Server. Node's HTTP parser answers some requests before Express sees them
 * (a malformed request line, headers over `maxHeaderSize`, a request that took too long), and by
 * default with an empty body. Here those answers carry the same JSON envelope as every other
 * error, so a client (or its log) learns which limit it hit.
 *
 * The clientError handler (answerClientError, shared with the worker's health port) is
 * described where it lives, in @agentyard/observability.
 */
export function createApiServer(app: RequestListener, opts: { maxHeaderBytes: number }): Server {
  const server = createServer({ maxHeaderSize: opts.maxHeaderBytes }, app);
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => answerClientError(err, socket, opts.maxHeaderBytes));
  return server;
}
