import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FsWorkspace } from '@agentyard/workspace';
import type { ToolContext } from '../tool';
import { createBasicTools } from './basic-tools';
import { createFileTools } from './fs-tools';

const dir = mkdtempSync(join(tmpdir(), 'ay-output-schemas-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const ctx = (): ToolContext => ({
  signal: new AbortController().signal,
  workspace: new FsWorkspace({ dir }),
  runId: 'run-schemas',
  tenant: 'acme',
  stepId: 's1',
  attempt: 1,
  log: async () => undefined,
});

/** Each declared output_schema describes what the tool really returns (a drifted one fails here). */
describe('tool output schemas', () => {
  const tools = new Map([...createFileTools(), ...createBasicTools()].map((t) => [t.name, t]));
  const cases: Array<[string, Record<string, unknown>]> = [
    ['fs.write', { path: 'a/b.txt', content: 'hi' }],
    ['fs.read', { path: 'a/b.txt' }],
    ['fs.list', { path: '' }],
    ['fs.list', { path: 'a', recursive: true }],
    ['fs.delete', { path: 'a/b.txt' }],
    ['log', { message: 'x' }],
    ['wait', { seconds: 0 }],
  ];
  it.each(cases)('%s %j returns what its output schema says', async (name, args) => {
    const tool = tools.get(name)!;
    const out = await tool.run(tool.args.parse(args), ctx());
    expect(tool.output!.safeParse(out).error?.issues).toBeUndefined();
  });
  it('every file and basic tool declares one', () => {
    expect([...tools.values()].filter((t) => !t.output).map((t) => t.name)).toEqual([]);
  });
});
