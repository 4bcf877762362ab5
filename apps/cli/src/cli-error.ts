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
