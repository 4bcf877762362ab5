import { RunOptions, type DynamicStep } from '@agentyard/core';
import { stepStates, type StoredRun } from './run-codec';
import { RUN_LIST_VIEW_BYTES, toListView } from './run-list-view';

/** Control characters cost six bytes each in JSON (`\u0001`): the worst case of every string. */
const worst = (n: number) => '\u0001'.repeat(n);

function run(over: Partial<StoredRun> = {}): StoredRun {
  const labels = Object.fromEntries(Array.from({ length: 32 }, (_, i) => [`label-${i}-${'k'.repeat(50)}`, worst(256)]));
  return {
    doc: {
      id: 'run_0000000000000000000000000a',
      tenant: 'acme',
      workspace_id: 'run_0000000000000000000000000a',
      prompt: worst(200_000),
      options: RunOptions.parse({ labels, model: worst(200) }),
      steps: [],
      created_at: new Date(0).toISOString(),
    },
    status: 'dead_lettered',
    gen: 1,
    attempts: 3,
    error: { code: 'tool_error', message: worst(100_000), retryable: false },
    result: { big: worst(100_000) },
    ended: true,
    steps: stepStates(),
    dynamicSteps: [],
    usage: { prompt_tokens: 0, completion_tokens: 0 },
    ...over,
  };
}

const size = (v: unknown) => Buffer.byteLength(JSON.stringify(v));

describe('toListView', () => {
  it('keeps a run whose every bounded field is at its worst under RUN_LIST_VIEW_BYTES, steps or not', () => {
    const dynamicSteps: DynamicStep[] = Array.from({ length: 1000 }, (_, i) => ({
      id: `m${i}`,
      tool: 'fs.write',
      args: { content: worst(2_000) },
      needs: [],
      order: i,
      status: 'failed',
      attempts: 1,
      output: worst(2_000),
      error: { code: 'x', message: worst(2_000), retryable: true },
    }));
    const full = run({ dynamicSteps });
    expect(size(full)).toBeGreaterThan(10 * 1024 * 1024);
    const view = toListView(full);
    expect(size(view)).toBeLessThanOrEqual(RUN_LIST_VIEW_BYTES);
    expect(view.prompt_truncated).toBe(true);
    expect(view.steps_omitted).toBeGreaterThan(0);
    expect(view.steps.length + view.steps_omitted!).toBe(1000);
    expect(view.steps[0]!.args).toMatchObject({ truncated: true, size: expect.any(Number) });
    expect(size(toListView(run()))).toBeLessThanOrEqual(RUN_LIST_VIEW_BYTES);
  });

  it('leaves a small run as GET /agent/runs/:id shows it', () => {
    const small = run({ doc: { ...run().doc, prompt: 'hi', options: RunOptions.parse({}) }, error: { code: 'x', message: 'no', retryable: false }, result: 1 });
    const view = toListView(small);
    expect(view).toMatchObject({ prompt: 'hi', result: 1, error: { message: 'no' } });
    expect(view).not.toHaveProperty('prompt_truncated');
    expect(view).not.toHaveProperty('steps_omitted');
  });
});
