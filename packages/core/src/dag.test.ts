import { ValidationError } from './errors';
import { planSteps, readySteps } from './dag';
import type { StepSpec } from './run';

const step = (id: string | undefined, needs: string[] = []): StepSpec => ({
  ...(id === undefined ? {} : { id }),
  tool: 'log',
  args: { message: id ?? 'x' },
  needs,
});

function problem(specs: StepSpec[]): { path: string; message: string } {
  try {
    planSteps(specs);
  } catch (e) {
    if (e instanceof ValidationError) return e.details[0]!;
    throw e;
  }
  throw new Error('expected a ValidationError');
}

describe('planSteps', () => {
  it('names steps s1, s2, … by position when they have no id', () => {
    expect(planSteps([step(undefined), step('b', ['s1']), step(undefined)]).map((s) => s.id)).toEqual(['s1', 'b', 's3']);
  });

  it.each([
    ['an unknown id in needs', [step('a'), step('b', ['nope'])], 'steps[1].needs', /unknown step id "nope"/],
    ['a step that needs itself', [step('a', ['a'])], 'steps[0].needs', /needs itself/],
    ['a two-step cycle', [step('a', ['b']), step('b', ['a'])], 'steps[0].needs', /cycle: a -> b -> a/],
    ['a longer cycle behind a valid prefix', [step('root'), step('x', ['root', 'z']), step('y', ['x']), step('z', ['y'])], 'steps[1].needs', /cycle/],
    ['a duplicate id', [step('a'), step('a')], 'steps[1].id', /duplicate step id "a"/],
  ])('rejects %s, naming %s', (_name, specs, path, message) => {
    const p = problem(specs);
    expect(p.path).toBe(path);
    expect(p.message).toMatch(message);
  });

  it('accepts a diamond and removes repeated needs', () => {
    const steps = planSteps([step('a'), step('b', ['a', 'a']), step('c', ['a']), step('d', ['b', 'c'])]);
    expect(steps[1]!.needs).toEqual(['a']);
  });
});

describe('readySteps', () => {
  const plan = planSteps([step('a'), step('b', ['a']), step('c', ['a']), step('d', ['b', 'c'])]);
  const ready = (done: Record<string, string>) => readySteps(plan, (id) => done[id] ?? 'pending').map((s) => s.id);

  it.each([
    [{}, ['a']],
    [{ a: 'succeeded' }, ['b', 'c']],
    [{ a: 'succeeded', b: 'succeeded' }, ['c']],
    [{ a: 'succeeded', b: 'succeeded', c: 'running' }, []],
    [{ a: 'succeeded', b: 'succeeded', c: 'succeeded' }, ['d']],
    [{ a: 'failed' }, []],
  ])('with %j offers %j', (done, expected) => {
    expect(ready(done)).toEqual(expected);
  });
});
