/** Exit codes scripts can rely on (also printed by `yardctl --help`). */
export const EXIT = {
  ok: 0,
  /** The run ended unsuccessfully, or smoke failed. */
  runFailed: 1,
  usage: 2,
  /** The API refused the request (4xx). */
  rejected: 3,
  /** The API could not be reached, or answered 5xx/503. */
  unavailable: 4,
  interrupted: 130,
} as const;

/** What to do about a missing or refused token; printed with every 401. */
export const TOKEN_HINT = 'set AGENTYARD_TOKEN or pass --token <token> (an API key from the API\'s API_KEYS, or a JWT)';

export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
    readonly body?: unknown,
  ) {
    super(message);
    this.name = 'CliError';
  }
}
