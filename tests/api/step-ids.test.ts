import fc from 'fast-check';
import { STEP_ID_PATTERN } from '@agentyard/core';
import { startStack, type Stack } from '../helpers/stack';

/** Names every plain object inherits: as step ids they used to find Object.prototype's functions. */
const BUILTINS = ['constructor', 'toString', 'valueOf', 'hasOwnProperty', 'isPrototypeOf', 'propertyIsEnumerable', 'toLocaleString'];

describe('step ids that name built-in object members', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ label: 'step-ids', workers: 1 });
  });
  afterAll(() => stack.stop());

  it('runs a step called constructor to the end, and the run can be read, listed, cancelled and retried', async () => {
    const created = await stack.execute({ action: 'create', start: true, steps: [{ id: 'constructor', tool: 'log', args: { message: 'x' } }] });
    expect(created.status).toBe(201);
    const done = await stack.waitForStatus(created.body.run_id, ['succeeded']);
    expect(done.steps).toMatchObject([{ id: 'constructor', status: 'succeeded' }]);
    expect(Object.keys(done.result)).toEqual(['constructor']);
    const list = await stack.api('GET', '/agent/runs?limit=200');
    expect(list.status).toBe(200);
    expect(list.body.runs.map((r: { id: string }) => r.id)).toContain(created.body.run_id);

    const parked = await stack.execute({
      action: 'create',
      steps: BUILTINS.map((id) => ({ id, tool: 'log', args: { message: id } })),
    });
    expect(parked.status).toBe(201);
    const cancel = await stack.execute({ action: 'cancel', run_id: parked.body.run_id });
    expect(cancel.status).toBe(202);
    const cancelled = await stack.waitForStatus(parked.body.run_id, ['cancelled']);
    expect(cancelled.steps.map((s: { status: string }) => s.status)).toEqual(BUILTINS.map(() => 'cancelled'));
    expect((await stack.execute({ action: 'retry', run_id: parked.body.run_id })).status).toBe(202);
    const retried = await stack.waitForStatus(parked.body.run_id, ['succeeded']);
    expect(retried.steps.map((s: { id: string; status: string }) => `${s.id}:${s.status}`)).toEqual(BUILTINS.map((id) => `${id}:succeeded`));
  });

  it('refuses __proto__ (and any id not starting with a letter or digit) with a 400 naming the id', async () => {
    for (const id of ['__proto__', '_x', '.x', '-x', 'a b', 'a/b']) {
      const res = await stack.execute({ action: 'create', steps: [{ id, tool: 'log', args: { message: 'x' } }] });
      expect(res.status).toBe(400);
      expect(res.body.error.details.map((d: { path: string }) => d.path)).toContain('steps[0].id');
    }
  });

  it('round-trips arbitrary valid step ids through create, run and GET', async () => {
    const stepId = fc.oneof(fc.constantFrom(...BUILTINS), fc.stringMatching(STEP_ID_PATTERN));
    await fc.assert(
      fc.asyncProperty(fc.uniqueArray(stepId, { minLength: 1, maxLength: 4 }), async (ids) => {
        // A chain, so needs are resolved by id too.
        const steps = ids.map((id, i) => ({ id, tool: 'log', args: { message: id }, ...(i > 0 ? { needs: [ids[i - 1]] } : {}) }));
        const created = await stack.execute({ action: 'create', start: true, steps });
        expect(created.status).toBe(201);
        const run = await stack.waitForStatus(created.body.run_id, ['succeeded', 'dead_lettered']);
        expect(run.status).toBe('succeeded');
        expect(run.steps.map((s: { id: string; status: string }) => [s.id, s.status])).toEqual(ids.map((id) => [id, 'succeeded']));
        expect(Object.keys(run.result)).toEqual([ids[ids.length - 1]]);
      }),
      { numRuns: 25 },
    );
  });
});
