// eslint-disable-next-line @typescript-eslint/no-require-imports
const { checkRun } = require('../../scripts/chaos/checks');

type Ev = { seq: number; type: string; step_id?: string; phase?: string };
const step = (seq: number, step_id: string, phase: string): Ev => ({ seq, type: 'step', step_id, phase });
const seen = (history: Ev[]) => history.map((e) => ({ seq: e.seq, type: e.type }));

/** The chaos drills' verdicts rest on these counts: each must count what it claims, and only that. */
describe('chaos checkRun', () => {
  const clean: Ev[] = [{ seq: 1, type: 'status' }, step(2, 'a', 'started'), step(3, 'a', 'succeeded'), step(4, 'b', 'started'), step(5, 'b', 'succeeded'), { seq: 6, type: 'end' }];

  it('finds nothing wrong with a clean run that its follower saw whole', () => {
    expect(checkRun(clean, seen(clean))).toEqual({ rerunAfterSuccess: [], cutOffAndRerun: 0, seqGaps: 0, lost: 0, duplicated: 0 });
  });

  it('counts a step started again after it had succeeded, naming it', () => {
    const h = [...clean.slice(0, 3), step(4, 'a', 'started'), step(5, 'a', 'succeeded')];
    expect(checkRun(h, seen(h)).rerunAfterSuccess).toEqual(['a']);
  });

  it('tells a step cut off before its checkpoint (allowed) from a re-run after success', () => {
    const h = [step(1, 'a', 'started'), step(2, 'a', 'started'), step(3, 'a', 'succeeded')];
    expect(checkRun(h, seen(h))).toMatchObject({ rerunAfterSuccess: [], cutOffAndRerun: 1 });
  });

  it('counts SSE events the follower missed and events it got twice across a reconnect, ignoring reset', () => {
    const got = [...seen(clean).slice(0, 3), ...seen(clean).slice(2, 4), { seq: undefined as unknown as number, type: 'reset' }];
    expect(checkRun(clean, got)).toMatchObject({ lost: 2, duplicated: 1 });
  });

  it('counts history entries whose seq is not their position (a skipped seq shifts every later one)', () => {
    const h = [{ seq: 1, type: 'status' }, { seq: 3, type: 'log' }, { seq: 4, type: 'end' }];
    expect(checkRun(h, seen(h)).seqGaps).toBe(2);
  });
});
