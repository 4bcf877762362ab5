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
 * One root logger per process. Besides path redaction, every string argument is scrubbed
 * of the configured secret values, so a token that slips into a message (an error from a
 * client library quoting a URL, say) is still never written.
 */
export function createLogger(opts: {
  level: string;
  name: string;
  secrets?: readonly string[];
  destination?: pino.DestinationStream;
}): Logger {
  const secrets = (opts.secrets ?? []).filter((s) => s.length >= 4);
  const scrub = (s: string): string => secrets.reduce((acc, secret) => acc.split(secret).join('[redacted]'), s);
  return pino(
    {
      name: opts.name,
      level: opts.level,
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      hooks: {
        logMethod(args, method) {
          const clean = args.map((a) => (typeof a === 'string' ? scrub(a) : a)) as Parameters<typeof method>;
          if (secrets.length > 0 && typeof clean[0] === 'object' && clean[0] !== null) {
            // Objects can hold a secret anywhere (an error's message); scrub a JSON copy.
            try {
              const copy = JSON.parse(scrub(JSON.stringify(clean[0], errorReplacer))) as object;
              clean[0] = copy as (typeof clean)[0];
            } catch {
              // unserialisable (cyclic) objects are logged as pino would anyway
            }
          }
          method.apply(this, clean);
        },
      },
    },
    opts.destination,
  );
}

function errorReplacer(_key: string, value: unknown): unknown {
  if (value instanceof Error) {
    return { type: value.name, message: value.message, stack: value.stack, ...(value as unknown as Record<string, unknown>) };
  }
  return value;
}
