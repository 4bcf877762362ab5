import { bodyProblem, MAX_BODY_DEPTH } from './nesting';

describe('bodyProblem', () => {
  it.each([
    ['a reserved key deep in args', '{"steps":[{"args":{"a":{"__proto__":{"x":1}}}}]}', { path: 'steps[0].args.a.__proto__', message: expect.stringContaining('reserved key') }],
    ['constructor as a label', '{"options":{"labels":{"constructor":"x"}}}', { path: 'options.labels.constructor', message: expect.stringContaining('"constructor"') }],
    ['prototype at the top', '{"prototype":1}', { path: 'prototype', message: expect.any(String) }],
    ['one level too deep', `${'['.repeat(MAX_BODY_DEPTH + 1)}${']'.repeat(MAX_BODY_DEPTH + 1)}`, { path: expect.stringMatching(/^(\[0\]){64}$/), message: `nested deeper than ${MAX_BODY_DEPTH} levels` }],
  ])('finds %s', (_what, json, problem) => {
    expect(bodyProblem(JSON.parse(json))).toEqual(problem);
  });

  it.each([
    ['ordinary keys that only contain the words', '{"my__proto__":1,"constructors":[],"prototype_id":"x"}'],
    ['reserved words as values', '{"a":"__proto__","b":["constructor"]}'],
    ['exactly the allowed depth', `${'['.repeat(MAX_BODY_DEPTH)}${']'.repeat(MAX_BODY_DEPTH)}`],
    ['scalars', '"x"'],
  ])('accepts %s', (_what, json) => {
    expect(bodyProblem(JSON.parse(json))).toBeUndefined();
  });

  it('walks 100,000 levels without overflowing the stack', () => {
    const deep = JSON.parse(`${'{"a":'.repeat(100_000)}1${'}'.repeat(100_000)}`);
    expect(bodyProblem(deep)?.message).toBe(`nested deeper than ${MAX_BODY_DEPTH} levels`);
  });
});
