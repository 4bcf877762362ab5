import { decideAttempt, type AttemptEnd } from './attempt-outcome';

const retryable = { code: 'timeout', message: 'slow', retryable: true };
const permanent = { code: 'invalid_args', message: 'bad', retryable: false };

describe('decideAttempt: what the engine does with the end of an attempt', () => {
  const table: [string, AttemptEnd, number, number, string, string | null][] = [
    // name, end, attemptsMade (earlier failures of this job), max_attempts, decision, message
    ['a result succeeds', { type: 'completed', result: 1 }, 0, 3, 'succeed', null],
    ['a re-enqueued run is left to its new attempt', { type: 'stale' }, 0, 3, 'ignore', null],
    ['a cancelled run is only finalised', { type: 'cancelled' }, 2, 3, 'finalize', null],
    ['a step waiting for a person parks the run', { type: 'approval', request: { step_id: 'a', tool: 'fs.write', args: {} } }, 0, 3, 'await_approval', null],
    ['a draining worker hands back at once', { type: 'shutdown' }, 2, 3, 'hand_back', null],
    ['a deferral hands back later', { type: 'deferred', delayMs: 1500, message: 'breaker open' }, 2, 3, 'hand_back', null],
    ['a retryable error with attempts left retries', { type: 'error', error: retryable }, 0, 3, 'retry', null],
    ['the second of three attempts still retries', { type: 'error', error: retryable }, 1, 3, 'retry', null],
    ['a retryable error on the last attempt dead-letters, saying why', { type: 'error', error: retryable }, 2, 3, 'dead_letter', 'slow (after 3 attempts)'],
    ['max_attempts 1 never retries', { type: 'error', error: retryable }, 0, 1, 'dead_letter', 'slow (after 1 attempts)'],
    ['an unavailable store hands back, even on the last attempt', { type: 'error', error: { code: 'unavailable', message: 'S3 could not write a.txt', retryable: true } }, 2, 3, 'hand_back', null],
    ['a permanent error dead-letters at once, as it is', { type: 'error', error: permanent }, 0, 3, 'dead_letter', 'bad'],
  ];
  it.each(table)('%s', (_name, end, attemptsMade, maxAttempts, kind, message) => {
    const d = decideAttempt(end, { attemptsMade, maxAttempts });
    expect(d.kind).toBe(kind);
    if (message !== null) expect((d as { error: { message: string } }).error.message).toBe(message);
  });

  it('hands a deferral back after its delay, a shutdown at once, without spending an attempt', () => {
    expect(decideAttempt({ type: 'deferred', delayMs: 1500, message: 'm' }, { attemptsMade: 0, maxAttempts: 3 })).toEqual({ kind: 'hand_back', delayMs: 1500, level: 'warn', message: 'm' });
    expect(decideAttempt({ type: 'shutdown' }, { attemptsMade: 0, maxAttempts: 3 })).toMatchObject({ kind: 'hand_back', delayMs: 0 });
  });

  it('hands a run back when its workspace store did not answer, without spending an attempt, saying when it retries', () => {
    const d = decideAttempt({ type: 'error', error: { code: 'unavailable', message: 'S3 could not write a.txt', retryable: true } }, { attemptsMade: 0, maxAttempts: 1 });
    expect(d).toEqual({ kind: 'hand_back', delayMs: 5000, level: 'warn', message: 'S3 could not write a.txt; retrying in 5 s without spending an attempt' });
  });
});
