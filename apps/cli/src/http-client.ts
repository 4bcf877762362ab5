import { CliError, EXIT, TOKEN_HINT } from './cli-error';

export interface ApiClient {
  readonly apiUrl: string;
  readonly token: string | undefined;
  request<T = any>(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<T>;
}

/** fetch with the bearer token; 4xx become exit 3 with the server's error, the rest exit 4. */
export function createClient(opts: { apiUrl: string; token?: string; timeoutMs: number }): ApiClient {
  const base = opts.apiUrl.replace(/\/+$/, '');
  return {
    apiUrl: base,
    token: opts.token,
    async request(method, path, body, headers = {}) {
      let res: Response;
      try {
        res = await fetch(`${base}${path}`, {
          method,
          headers: {
            ...(opts.token ? { Authorization: `Bearer ${opts.token}` } : {}),
            ...(body === undefined ? {} : { 'Content-Type': 'application/json' }),
            ...headers,
          },
          ...(body === undefined ? {} : { body: JSON.stringify(body) }),
          signal: AbortSignal.timeout(opts.timeoutMs),
        });
      } catch (e) {
        throw new CliError(`cannot reach the API at ${base}: ${(e as Error).cause ? String((e as { cause: unknown }).cause) : (e as Error).message}`, EXIT.unavailable);
      }
      const text = await res.text();
      let parsed: unknown = text;
      try {
        parsed = text === '' ? undefined : JSON.parse(text);
      } catch {
        // not JSON (file contents)
      }
      if (res.ok) return parsed as never;
      const err = (parsed as { error?: { code?: string; message?: string; details?: { path: string; message: string }[] } })?.error;
      const details = err?.details?.map((d) => `\n  ${d.path}: ${d.message}`).join('') ?? '';
      const hint = res.status === 401 ? `\n  ${opts.token ? 'the token was refused' : 'no token was sent'}: ${TOKEN_HINT}` : '';
      const message = `${res.status} ${err?.code ?? 'error'}: ${err?.message ?? text}${details}${hint}`;
      throw new CliError(message, res.status >= 500 ? EXIT.unavailable : EXIT.rejected, parsed);
    },
  };
}
