import pino, { type Logger } from 'pino';

export type { Logger } from 'pino';

/** Paths that hold credentials in anything we log (requests, configs, errors). */
const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-api-key"]',
  '*.token',
  '*.access_token',
  '*.api_key',
  '*.apiKey',
  '*.secret',
  '*.password',
  'config.API_KEYS',
  'config.S3_SECRET_KEY',
  'config.LLM_API_KEY',
];

/**
 * One root logger per process. Besides path redaction, every line is scrubbed of the
 * configured secret values, so a token that slips into a message (an error from a client
 * library quoting a URL, say) is still never written.
 */
export function createLogger(opts: {
  level: string;
  name: string;
  secrets?: readonly string[];
  destination?: pino.DestinationStream;
  /**
   * Without a destination: write stdout in batches (4 KB, or every `batchMs`) instead of one
   * write per line. The API's access log made one write syscall per request, 6-7 % of its
   * CPU under create+start load. Lines still buffered are flushed on exit (pino's exit hook),
   * so only a SIGKILL loses them, at most `batchMs` worth. @default 0 (a write per line)
   */
  batchMs?: number;
}): Logger {
  const secrets = (opts.secrets ?? []).filter((s) => s.length >= 4);
  const scrub = (s: string): string => secrets.reduce((acc, secret) => acc.split(secret).join('[redacted]'), s);
  return pino(
    {
      name: opts.name,
      level: opts.level,
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      hooks: {
        // Scrubbed as the finished line, just before it is written: one pass over a string
        // instead of a JSON copy of every object logged (the API's access log made that
        // copy on every request, the largest cost of a create in its profile). Same reach:
        // messages, objects and errors all end up in the line.
        streamWrite(line: string): string {
          return secrets.some((secret) => line.includes(secret)) ? scrub(line) : line;
        },
      },
    },
    opts.destination ?? (opts.batchMs ? pino.destination({ dest: 1, minLength: 4096, periodicFlush: opts.batchMs }) : undefined),
  );
}

