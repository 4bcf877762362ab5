import type { Server } from 'node:http';

/**
 * Listens on `port` (0: any free port) and resolves with the port bound; rejects on
 * EADDRINUSE and the like. Express 5's `app.listen(port, cb)` passes such an error to `cb`,
 * which is easy to ignore and leaves a process that logs "listening" without a socket; a bare
 * `server.listen` emits it as an unhandled 'error' with a stack trace.
 */
export function listen(server: Server, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error) => reject(err);
    server.once('error', onError);
    server.listen(port, () => {
      server.off('error', onError);
      const addr = server.address();
      resolve(typeof addr === 'object' && addr ? addr.port : port);
    });
  });
}

/** One line for a port that cannot be bound, naming the variable to change (and what else may help). */
export function describeListenError(err: unknown, port: number, variable: string, inUseHint: string): string {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'EADDRINUSE') return `${variable} ${port} is already in use ${inUseHint}`;
  if (code === 'EACCES') return `${variable} ${port} may not be bound by this user: choose a port above 1023, or 0 for any free port`;
  return `${variable} ${port} cannot be listened on: ${(err as Error).message}`;
}
