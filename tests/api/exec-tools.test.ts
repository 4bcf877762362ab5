import { startStack, type Stack } from '../helpers/stack';

const shellStep = { id: 'sh', tool: 'shell.exec', args: { command: 'echo hi' } };

describe('shell and code tools without an executor (EXECUTOR=none)', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ label: 'exec-none' });
  });
  afterAll(() => stack.stop());

  it('refuses a step naming them with a 400 that names EXECUTOR, and does not list them', async () => {
    for (const step of [shellStep, { tool: 'code.run', args: { language: 'python', source: 'print(1)' } }]) {
      const res = await stack.execute({ action: 'create', steps: [step] });
      expect(res.status).toBe(400);
      expect(res.body.error.details[0]).toMatchObject({ path: 'steps[0].tool', message: expect.stringContaining('EXECUTOR') });
    }
    const names = (await stack.api('GET', '/agent/tools')).body.tools.map((t: { name: string }) => t.name);
    expect(names).not.toContain('shell.exec');
    expect(names).not.toContain('code.run');
    expect((await stack.api('GET', '/agent/runs')).body.runs).toHaveLength(0);
  });
});

describe('shell and code tools with an executor configured', () => {
  let stack: Stack;
  beforeAll(async () => {
    // No worker: only what the API does (catalog, validation) is looked at here.
    stack = await startStack({ label: 'exec-local', env: { EXECUTOR: 'local' } });
  });
  afterAll(() => stack.stop());

  it('lists both as irreversible, so approval "writes" asks before they run', async () => {
    const tools = (await stack.api('GET', '/agent/tools')).body.tools as Array<{ name: string; side_effects: string; args_schema: any }>;
    const byName = Object.fromEntries(tools.map((t) => [t.name, t]));
    expect(byName['shell.exec']).toMatchObject({ side_effects: 'irreversible' });
    expect(byName['code.run']).toMatchObject({ side_effects: 'irreversible' });
    expect(byName['code.run'].args_schema.properties.language.enum).toEqual(['python', 'node', 'bash']);
  });

  it.each([
    ['both command and argv', { command: 'ls', argv: ['ls'] }, 'steps[0].args.command'],
    ['neither command nor argv', { cwd: 'sub' }, 'steps[0].args.command'],
    ['a cwd that leaves the workspace', { command: 'ls', cwd: '../x' }, 'steps[0].args.cwd'],
    ['a bad environment variable name', { command: 'ls', env: { 'A-B': '1' } }, 'steps[0].args.env.A-B'],
    ['a timeout over an hour', { command: 'ls', timeout_s: 3601 }, 'steps[0].args.timeout_s'],
  ])('refuses shell.exec with %s, naming the field', async (_what, args, path) => {
    const res = await stack.execute({ action: 'create', steps: [{ tool: 'shell.exec', args }] });
    expect(res.status).toBe(400);
    expect(res.body.error.details.map((d: { path: string }) => d.path)).toContain(path);
  });

  it('refuses code.run in an unknown language, naming it', async () => {
    const res = await stack.execute({ action: 'create', steps: [{ tool: 'code.run', args: { language: 'ruby', source: 'puts 1' } }] });
    expect(res.status).toBe(400);
    expect(res.body.error.details[0].path).toBe('steps[0].args.language');
  });
});
