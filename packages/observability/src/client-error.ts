import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';

/**
 * The `clientError` answer of our HTTP servers (the API, the worker's health port). Node's
 * HTTP parser answers some requests before any handler sees them (a malformed request line,
 * headers over `maxHeaderSize`, a request that took too long), by default with an empty body;
 * this one carries the JSON error envelope, so a client (or its log) learns which limit it hit.
 *
 * Contract: a socket that can still be written to gets exactly one complete HTTP/1.1 response
 * (400, 408, 413 or 431) with `Connection: close`, then is ended; a socket already reset or
 * mid-response is destroyed without a write. Nothing of the request is echoed.
 */
export function answerClientError(err: NodeJS.ErrnoException, socket: Duplex, maxHeaderBytes: number, limitName = 'API_MAX_HEADER_BYTES'): void {
  // A response already under way (its headers sent) cannot get a second one; a reset peer hears nothing.
  const busy = (socket as { _httpMessage?: { headersSent?: boolean } })._httpMessage?.headersSent === true;
  if (err.code === 'ECONNRESET' || !socket.writable || busy) {
    socket.destroy();
    return;
  }
  const { status, code, message } = describe(err.code, maxHeaderBytes, limitName);
  const body = JSON.stringify({ error: { code, message } });
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/json; charset=utf-8\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}

function describe(code: string | undefined, maxHeaderBytes: number, limitName: string): { status: number; code: string; message: string } {
  switch (code) {
    case 'HPE_HEADER_OVERFLOW':
      return { status: 431, code: 'headers_too_large', message: `request line and headers are larger than the limit of ${maxHeaderBytes} bytes${limitName ? ` (${limitName})` : ''}` };
    case 'HPE_CHUNK_EXTENSIONS_OVERFLOW':
      // Node's own default answer to it is 413 too.
      return { status: 413, code: 'payload_too_large', message: 'chunk extensions of the body are larger than the HTTP parser allows' };
    case 'ERR_HTTP_REQUEST_TIMEOUT':
    case 'ERR_HTTP_HEADERS_TIMEOUT':
      return { status: 408, code: 'request_timeout', message: 'the request did not arrive in time' };
    default:
      // Parser codes (HPE_INVALID_METHOD, HPE_INVALID_HEADER_TOKEN, ...) are Node's, stable and safe to name.
      return { status: 400, code: 'invalid_request', message: `the HTTP request could not be parsed${code?.startsWith('HPE_') ? ` (${code})` : ''}` };
  }
}
