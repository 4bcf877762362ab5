/// <reference types="jest" />
import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { CancelledError } from '@agentyard/core';
import type { Workspace } from '@agentyard/workspace';
import type { ExecLimits, ExecRequest, ExecResult, Executor } from './executor';

/**
 * The one suite every Executor must pass (executor.ts states the contract); an executor's
 * test file calls it with a factory. `workspace()` gives a fresh, empty workspace of the kind
 * the executor works with (the Kubernetes executor needs S3), scoped so tests never collide.
 * Not a .test.ts file itself: it only defines tests when a test file calls it.
 */
export interface ExecutorUnderTest {
  executor: Executor;
  workspace(): Workspace | Promise<Workspace>;
  close?(): Promise<void>;
}

/** Limits the suite runs with: small output cap and workspace size, so both are easy to cross. */
export const CONFORMANCE_LIMITS: Partial<ExecLimits> = { outputBytes: 4096, workspaceBytes: 1024 * 1024, workspaceFiles: 100 };

export function describeExecutor(name: string, factory: (limits: Partial<ExecLimits>) => Promise<ExecutorUnderTest>): void {
  describe(`${name} (executor conformance)`, () => {
    let sut: ExecutorUnderTest;
    beforeAll(async () => {
      sut = await factory(CONFORMANCE_LIMITS);
    }, 60_000);
    afterAll(async () => {
      await sut?.executor.close();
      await sut?.close?.();
    });

    const request = async (argv: string[], o: Partial<ExecRequest> & { files?: Record<string, string> } = {}): Promise<ExecRequest> => {
      const { files, ...rest } = o;
      const workspace = o.workspace ?? (await sut.workspace());
      for (const [path, body] of Object.entries(files ?? {})) await workspace.write(path, body);
      return {
        argv,
        timeoutS: 30,
        runId: `run_${randomBytes(13).toString('hex').slice(0, 26)}`,
        stepId: 's1',
        attempt: 1,
        tenant: 'acme',
        workspace,
        signal: new AbortController().signal,
        ...rest,
      };
    };
    const sh = (script: string) => ['/bin/sh', '-c', script];
    const text = async (ws: Workspace, path: string) => (await ws.read(path)).toString('utf8');
    const paths = async (ws: Workspace) => (await ws.list('', { limit: 1000 })).entries.map((e) => e.path).sort();

    it('runs in a directory holding the workspace and writes back what the command created, changed and deleted', async () => {
      const req = await request(sh('cat in.txt; echo out > new.txt; echo more >> in.txt; rm gone.txt; mkdir -p d/e && echo deep > d/e/f.txt'), {
        files: { 'in.txt': 'hello\n', 'gone.txt': 'bye\n', 'keep.txt': 'same\n' },
      });
      const r = await sut.executor.exec(req);
      expect(r).toMatchObject({ exit_code: 0, stdout: 'hello\n', stderr: '', truncated: false });
      expect(r.duration_ms).toBeGreaterThanOrEqual(0);
      expect([...r.files_changed].sort((a, b) => a.path.localeCompare(b.path))).toEqual([
        { path: 'd/e/f.txt', change: 'created' },
        { path: 'gone.txt', change: 'deleted' },
        { path: 'in.txt', change: 'modified' },
        { path: 'new.txt', change: 'created' },
      ]);
      expect(await text(req.workspace, 'in.txt')).toBe('hello\nmore\n');
      expect(await text(req.workspace, 'new.txt')).toBe('out\n');
      expect(await text(req.workspace, 'd/e/f.txt')).toBe('deep\n');
      expect(await text(req.workspace, 'keep.txt')).toBe('same\n');
      expect(await paths(req.workspace)).not.toContain('gone.txt');
    });

    it('passes stdin, the working directory and the environment it is given', async () => {
      const req = await request(sh('cat; echo; pwd; echo "$GREETING"; ls'), {
        stdin: 'from stdin',
        cwd: 'sub',
        env: { GREETING: 'hi there' },
        files: { 'sub/here.txt': 'x' },
      });
      const r = await sut.executor.exec(req);
      const [input, cwd, greeting, listing] = r.stdout.split('\n');
      expect(input).toBe('from stdin');
      expect(cwd).toMatch(/\/sub$/);
      expect(greeting).toBe('hi there');
      expect(listing).toBe('here.txt');
    });

    it('reports a non-zero exit as a result the caller can read, not an error', async () => {
      const r = await sut.executor.exec(await request(sh('echo partial; echo broken >&2; exit 3')));
      expect(r).toMatchObject({ exit_code: 3, stdout: 'partial\n', stderr: 'broken\n', truncated: false });
    });

    it('streams output lines while the command runs, each with its stream', async () => {
      const seen: string[] = [];
      let firstAt = 0;
      const r = await sut.executor.exec(
        await request(sh('echo one; echo warn >&2; sleep 1; echo two'), {
          onOutput: (stream, line) => {
            if (!firstAt) firstAt = Date.now();
            seen.push(`${stream}:${line}`);
          },
        }),
      );
      expect(r.exit_code).toBe(0);
      expect(seen.filter((s) => s.startsWith('stdout'))).toEqual(['stdout:one', 'stdout:two']);
      expect(seen).toContain('stderr:warn');
      // The first line arrived while the command still ran (it sleeps a second before the last).
      expect(Date.now() - firstAt).toBeGreaterThan(500);
    });

    it('caps each stream in the result and keeps the whole of it as a workspace file', async () => {
      const req = await request(sh('i=0; while [ $i -lt 2000 ]; do echo "line $i of the long output"; i=$((i+1)); done; echo small >&2'));
      const r = await sut.executor.exec(req);
      expect(r.exit_code).toBe(0);
      expect(r.truncated).toBe(true);
      expect(Buffer.byteLength(r.stdout)).toBeLessThanOrEqual(CONFORMANCE_LIMITS.outputBytes!);
      expect(r.stdout.startsWith('line 0 of the long output\n')).toBe(true);
      expect(r.stderr).toBe('small\n');
      expect(r.stdout_file).toBeDefined();
      const whole = await text(req.workspace, r.stdout_file!);
      expect(whole.split('\n').filter(Boolean)).toHaveLength(2000);
      expect(whole.endsWith('line 1999 of the long output\n')).toBe(true);
      // Its own output is not a change the command made.
      expect(r.files_changed).toEqual([]);
    });

    it('kills a command that runs past its timeout and says so with exec_timeout', async () => {
      const t0 = Date.now();
      await expect(sut.executor.exec(await request(sh('echo started; sleep 30'), { timeoutS: 1 }))).rejects.toMatchObject({
        code: 'exec_timeout',
        retryable: false,
      });
      expect(Date.now() - t0).toBeLessThan(10_000);
    });

    it('stops the whole command within 2 s of a cancel and rejects with the cancel', async () => {
      const controller = new AbortController();
      const marker = `conformance-${randomUUID()}`;
      const pending = sut.executor
        .exec(await request(sh(`sleep 60 & sleep 60; echo ${marker}`), { signal: controller.signal, onOutput: () => undefined }))
        .then(
          (r: ExecResult) => ({ r, at: Date.now() }),
          (err: unknown) => ({ err, at: Date.now() }),
        );
      await new Promise((r) => setTimeout(r, 1500));
      const cancelledAt = Date.now();
      controller.abort(new CancelledError());
      const outcome = (await pending) as { err?: unknown; at: number };
      expect(outcome.err).toBeInstanceOf(CancelledError);
      expect(outcome.at - cancelledAt).toBeLessThan(2000);
    });

    it('gives the command no network', async () => {
      const server: Server = createServer((s) => s.end('reachable\n'));
      await new Promise<void>((r) => server.listen(0, '0.0.0.0', () => r()));
      const port = (server.address() as { port: number }).port;
      try {
        const r = await sut.executor.exec(
          await request(['/bin/bash', '-c', `(exec 3<>/dev/tcp/127.0.0.1/${port} && cat <&3) 2>/dev/null && echo CONNECTED || echo REFUSED`], { timeoutS: 20 }),
        );
        expect(r.stdout.trim().split('\n').at(-1)).toBe('REFUSED');
      } finally {
        server.close();
      }
    });

    it('holds nothing of the worker’s environment: no API keys, S3 or model credentials', async () => {
      const secrets = { API_KEYS: 'acme:tok_conformance_secret_1', S3_SECRET_KEY: 's3-conformance-secret', LLM_API_KEY: 'sk-conformance-secret' };
      const saved = Object.fromEntries(Object.keys(secrets).map((k) => [k, process.env[k]]));
      Object.assign(process.env, secrets);
      try {
        const r = await sut.executor.exec(await request(['/usr/bin/env'], { env: { GIVEN: 'yes' } }));
        for (const [k, v] of Object.entries(secrets)) {
          expect(r.stdout).not.toContain(v);
          expect(r.stdout).not.toMatch(new RegExp(`^${k}=`, 'm'));
        }
        expect(r.stdout).toMatch(/^GIVEN=yes$/m);
      } finally {
        for (const [k, v] of Object.entries(saved)) {
          if (v === undefined) delete process.env[k];
          else process.env[k] = v;
        }
      }
    });

    it('keeps nothing written outside the workspace', async () => {
      const marker = `outside-${randomUUID()}`;
      const req = await request(sh(`echo x > /tmp/${marker}; echo y > ../${marker}; echo z > "$HOME/${marker}" 2>/dev/null; echo inside > in.txt; true`));
      const r = await sut.executor.exec(req);
      expect(r.files_changed).toEqual([{ path: 'in.txt', change: 'created' }]);
      expect(existsSync(`/tmp/${marker}`)).toBe(false);
      // A second command sees a clean sandbox again.
      const again = await sut.executor.exec(await request(sh(`ls /tmp/${marker} ../${marker} 2>/dev/null | wc -l`), { workspace: req.workspace }));
      expect(again.stdout.trim()).toBe('0');
      expect(await paths(req.workspace)).toEqual(['in.txt']);
    });

    it('refuses a workspace over its size limit before copying or running anything', async () => {
      const big = 'x'.repeat(CONFORMANCE_LIMITS.workspaceBytes! + 1);
      const req = await request(sh('echo ran > ran.txt'), { files: { 'big.bin': big } });
      await expect(sut.executor.exec(req)).rejects.toMatchObject({ code: 'exec_limit', retryable: false });
      expect(await paths(req.workspace)).toEqual(['big.bin']);
    });
  });
}
