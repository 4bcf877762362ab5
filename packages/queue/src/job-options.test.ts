import { jobIdFor, jobOptions, PRIORITY_VALUES, retryDelayMs } from './job-options';

describe('job options', () => {
  it('derives the job id from the run id and its enqueue generation, without colons', () => {
    expect(jobIdFor('run_abc', 3)).toBe('run_abc-g3');
  });

  it('gives every priority a BullMQ priority, critical first', () => {
    const order = (['critical', 'high', 'normal', 'low'] as const).map((p) => PRIORITY_VALUES[p]);
    expect([...order].sort((a, b) => a - b)).toEqual(order);
    expect(Math.min(...order)).toBeGreaterThanOrEqual(1);
  });

  it('sets attempts and exponential backoff from the run options', () => {
    const o = jobOptions({ id: 'run_x', gen: 1, options: { priority: 'high', max_attempts: 4 } }, 500);
    expect(o).toMatchObject({ jobId: 'run_x-g1', attempts: 4, backoff: { type: 'agentyard', delay: 500 }, priority: 5, removeOnComplete: true });
  });
});

describe('retryDelayMs', () => {
  it.each([
    [1, 500, undefined, 500],
    [2, 500, undefined, 1000],
    [3, 500, undefined, 2000],
    [1, 500, { retryAfterS: 7 }, 7000],
    [4, 500, { retryAfterS: 1 }, 4000],
    [1, 500, { retryAfterS: 'soon' }, 500],
  ])('after %i attempts with base %i and %j waits %i ms', (attempts, base, err, expected) => {
    expect(retryDelayMs(attempts, base, err)).toBe(expected);
  });
});
