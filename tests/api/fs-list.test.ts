import { startStack, type Stack } from '../helpers/stack';

describe('fs.list as users call it', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ label: 'fs-list', workers: 1 });
  });
  afterAll(() => stack.stop());

  it('takes {"path": ""} and lists the root like ls; recursive lists every file', async () => {
    const created = await stack.execute({
      action: 'create',
      start: true,
      steps: [
        { id: 'w1', tool: 'fs.write', args: { path: 'notes.txt', content: 'a' } },
        { id: 'w2', tool: 'fs.write', args: { path: 'out/report.md', content: 'b' } },
        { id: 'root', tool: 'fs.list', args: { path: '' }, needs: ['w1', 'w2'] },
        { id: 'deep', tool: 'fs.list', args: { path: '.', recursive: true }, needs: ['w1', 'w2'] },
        { id: 'out', tool: 'fs.list', args: { path: 'out' }, needs: ['w1', 'w2'] },
      ],
    });
    expect(created.status).toBe(201);
    const run = await stack.waitForStatus(created.body.run_id, ['succeeded', 'dead_lettered']);
    expect(run.status).toBe('succeeded');
    const out = (id: string) => run.steps.find((s: { id: string }) => s.id === id).output;
    expect(out('root')).toMatchObject({ path: '', recursive: false, truncated: false });
    expect(out('root').entries.map((e: { path: string; type: string }) => `${e.type}:${e.path}`)).toEqual(['file:notes.txt', 'directory:out']);
    expect(out('deep').entries.map((e: { path: string }) => e.path)).toEqual(['notes.txt', 'out/report.md']);
    expect(out('out').entries).toMatchObject([{ path: 'out/report.md', type: 'file', size: 1 }]);
  });

  it('answers 400 naming steps[0].args.path for a path that leaves the workspace', async () => {
    const res = await stack.execute({ action: 'create', steps: [{ tool: 'fs.list', args: { path: '../x' } }] });
    expect(res.status).toBe(400);
    expect(res.body.error.details.map((d: { path: string }) => d.path)).toContain('steps[0].args.path');
  });
});
