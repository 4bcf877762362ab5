import { spawnSync } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { chmodSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CancelledError, ValidationError } from '@agentyard/core';
import { createWorkspace, scopeWorkspace, type Workspace } from '@agentyard/workspace';
import { waitFor } from '../../../tests/helpers/wait-for';
import { createLocalProcessExecutor, type LocalProcessExecutorOptions } from './create-local-process-executor';
import { ExecutorConfigError } from './executor-config-error';
import { describeExecutor } from './executor-conformance';
import { DEFAULT_EXEC_LIMITS, type ExecLimits, type ExecRequest, type Executor } from './executor';
import { LocalProcessExecutor } from './local-process-executor';

const tmpRoot = mkdtempSync(join(tmpdir(), 'ay-local-exec-test-'));
// The sandbox user must be able to reach its bind source below tmpDir, as it can below /tmp.
chmodSync(tmpRoot, 0o711);
afterAll(() => rmSync(tmpRoot, { recursive: true, force: true }));

const fsStore = createWorkspace({ driver: 'fs', dir: join(tmpRoot, 'store') });
const s3Store = createWorkspace({
  driver: 's3',
  bucket: process.env.TEST_S3_BUCKET as string,
  endpoint: process.env.TEST_S3_ENDPOINT as string,
  region: 'us-east-1',
  accessKeyId: 'S3RVER',
  secretAccessKey: 'S3RVER',
  forcePathStyle: true,
});

/** Fresh scoped workspaces on `store`, all removed by the returned cleanup. */
function workspaces(store: Workspace) {
  const roots: string[] = [];
  return {
    fresh(): Workspace {
      const root = `local-exec-test/${randomUUID()}`;
      roots.push(root);
      return scopeWorkspace(store, root);
    },
    async cleanup(): Promise<void> {
      for (const root of roots.splice(0)) {
        const ws = scopeWorkspace(store, root);
        for (const e of (await ws.list('', { limit: 10_000 })).entries) await ws.delete(e.path);
      }
    },
  };
}

for (const [driver, store] of [['fs', fsStore], ['s3', s3Store]] as const) {
  describeExecutor(`LocalProcessExecutor on the ${driver} workspace`, async (limits) => {
    const ws = workspaces(store);
    const executor = await createLocalProcessExecutor({ limits: { ...DEFAULT_EXEC_LIMITS, ...limits }, tmpDir: tmpRoot });
    return { executor, workspace: () => ws.fresh(), close: () => ws.cleanup() };
  });
}

const sh = (script: string) => ['/bin/sh', '-c', script];

function pgrep(marker: string): number[] {
  const r = spawnSync('pgrep', ['-f', marker], { encoding: 'utf8' });
  return r.stdout.split('\n').filter(Boolean).map(Number);
}

function zombiesOf(uid: number): number {
  const r = spawnSync('ps', ['-u', String(uid), '-o', 'stat='], { encoding: 'utf8' });
  return r.stdout.split('\n').filter((s) => s.startsWith('Z')).length;
}

function suite(name: string, opts: LocalProcessExecutorOptions) {
  describe(name, () => {
    const ws = workspaces(fsStore);
    const boxes = mkdtempSync(join(tmpRoot, 'boxes-'));
    chmodSync(boxes, 0o711);
    const limits: ExecLimits = { ...DEFAULT_EXEC_LIMITS, fileBytes: 1024 * 1024, processes: 32, memoryBytes: 256 * 1024 * 1024 };
    let executor: Executor;
    const warnings: string[] = [];
    beforeAll(async () => {
      executor = await createLocalProcessExecutor({ limits, tmpDir: boxes, warn: (m) => warnings.push(m), ...opts });
    });
    afterAll(async () => {
      await executor?.close();
      await ws.cleanup();
    });
    const req = (argv: string[], o: Partial<ExecRequest> = {}): ExecRequest => ({
      argv,
      timeoutS: 20,
      runId: `run_${randomBytes(8).toString('hex')}`,
      stepId: 's1',
      attempt: 1,
      tenant: 'acme',
      workspace: ws.fresh(),
      signal: new AbortController().signal,
      ...o,
    });

    it('kills the whole process tree on cancel within 2 s and leaves no process of it behind', async () => {
      const marker = `ay-tree-${randomUUID()}`;
      const controller = new AbortController();
      // Four processes (two forks), each with the marker in its command line.
      const script = `import os, time\nos.fork()\nos.fork()\ntime.sleep(600)  # ${marker}`;
      const pending = executor.exec(req(['python3', '-c', script], { signal: controller.signal })).catch((e: unknown) => e);
      await waitFor(() => pgrep(marker).length >= 4, { label: 'four processes of the tree running', timeoutMs: 10_000 });
      const t0 = Date.now();
      controller.abort(new CancelledError());
      expect(await pending).toBeInstanceOf(CancelledError);
      expect(Date.now() - t0).toBeLessThan(2000);
      await waitFor(() => pgrep(marker).length === 0, { label: 'no process of the tree left', timeoutMs: 2000 });
    });

    // Unsandboxed, a process that leaves the process group (setpgid, setsid) is out of reach:
    // only bubblewrap's pid namespace holds every descendant.
    (opts.unsandboxed ? it.skip : it)('kills the whole process tree on timeout, even a child that left the process group', async () => {
      const marker = `ay-timeout-${randomUUID()}`;
      const script = `import os, time\nif os.fork() == 0:\n    os.setpgid(0, 0)\ntime.sleep(600)  # ${marker}`;
      await expect(executor.exec(req(['python3', '-c', script], { timeoutS: 1 }))).rejects.toMatchObject({ code: 'exec_timeout' });
      await waitFor(() => pgrep(marker).length === 0, { label: 'no process of the timed-out tree left', timeoutMs: 2000 });
    });

    it('ends a command whose background child still runs when it exits, and leaves no process behind', async () => {
      const marker = `ay-bg-${randomUUID()}`;
      const t0 = Date.now();
      const r = await executor.exec(req(['python3', '-c', `import os, time\nif os.fork() == 0:\n    time.sleep(600)  # ${marker}\nprint("parent done")`]));
      expect(r.stdout).toBe('parent done\n');
      expect(Date.now() - t0).toBeLessThan(5000);
      await waitFor(() => pgrep(marker).length === 0, { label: 'the background child killed', timeoutMs: 2000 });
    });

    it('builds the environment from nothing: no variable of the worker, the request’s own kept', async () => {
      const saved = { API_KEYS: process.env.API_KEYS, S3_SECRET_KEY: process.env.S3_SECRET_KEY, AY_WORKER_ONLY: process.env.AY_WORKER_ONLY };
      Object.assign(process.env, { API_KEYS: 'acme:tok_local_secret', S3_SECRET_KEY: 's3-local-secret', AY_WORKER_ONLY: 'x' });
      try {
        const r = await executor.exec(req(['env'], { env: { MINE: '1' } }));
        const names = r.stdout.split('\n').filter(Boolean).map((l) => l.split('=')[0]).sort();
        expect(names).toEqual(['HOME', 'LANG', 'MINE', 'NODE_OPTIONS', 'PATH', 'TMPDIR'].concat(opts.unsandboxed ? [] : ['PWD']).sort());
        expect(r.stdout).not.toMatch(/tok_local_secret|s3-local-secret/);
      } finally {
        for (const [k, v] of Object.entries(saved)) {
          if (v === undefined) delete process.env[k];
          else process.env[k] = v;
        }
      }
    });

    it('stops a file at fileBytes: the write fails, and the cause is named', async () => {
      const w = req(sh('dd if=/dev/zero of=big.bin bs=1M count=3 2>/dev/null'));
      const r = await executor.exec(w);
      expect(r.exit_code).toBe(128 + 25); // SIGXFSZ
      expect(r.stderr).toMatch(/SIGXFSZ.*EXECUTOR_FILE_MAX_MB/);
      expect((await w.workspace.stat('big.bin'))?.size).toBeLessThanOrEqual(1024 * 1024);
      // Python ignores SIGXFSZ and sees the error itself.
      const py = await executor.exec(req(['python3', '-c', 'open("big.bin","wb").write(b"x" * 3000000)']));
      expect(py.exit_code).toBe(1);
      expect(py.stderr).toMatch(/File too large/);
    });

    it('refuses memory beyond the limit and reports exec_oom, for Python and for Node', async () => {
      await expect(executor.exec(req(['python3', '-c', 'x = bytearray(400 * 1024 * 1024)']))).rejects.toMatchObject({
        code: 'exec_oom',
        retryable: false,
      });
      await expect(executor.exec(req(['node', '-e', 'const a = []; for (;;) a.push({ x: Math.random(), y: [1, 2, 3] })']))).rejects.toMatchObject({
        code: 'exec_oom',
      });
      // Under the limit the same program runs.
      expect((await executor.exec(req(['python3', '-c', 'x = bytearray(64 * 1024 * 1024); print(len(x))']))).stdout).toBe(`${64 * 1024 * 1024}\n`);
    });

    it('stops a CPU-bound command at its CPU-time limit', async () => {
      const cpu = await createLocalProcessExecutor({ limits: { ...limits, cpuSeconds: 1 }, tmpDir: boxes, warn: () => undefined, ...opts });
      const t0 = Date.now();
      await expect(cpu.exec(req(['python3', '-c', 'while True: pass'], { timeoutS: 30 }))).rejects.toMatchObject({
        code: 'exec_timeout',
        message: expect.stringMatching(/CPU time/),
      });
      expect(Date.now() - t0).toBeLessThan(10_000);
    });

    it('bounds a fork bomb by the process limit and kills what it spawned when it ends', async () => {
      const marker = `ay-bomb-${randomUUID()}`;
      const script = `import os, time\nn = 0\ntry:\n    while True:\n        if os.fork() == 0:\n            time.sleep(600)  # ${marker}\n            os._exit(0)\n        n += 1\nexcept OSError:\n    print(n)`;
      const r = await executor.exec(req(['python3', '-c', script]));
      expect(Number(r.stdout.trim())).toBeGreaterThan(0);
      expect(Number(r.stdout.trim())).toBeLessThan(limits.processes);
      await waitFor(() => pgrep(marker).length === 0, { label: 'no process of the fork bomb left', timeoutMs: 2000 });
      // The classic one ends too (its first shell exits at once), and takes its children with it.
      const classic = await executor.exec(req(['bash', '-c', `bomb() { bomb | bomb & }; bomb; sleep 1; : ${marker}`], { timeoutS: 15 }));
      expect(classic.duration_ms).toBeLessThan(15_000);
      await waitFor(() => pgrep(marker).length === 0, { label: 'no process of the classic fork bomb left', timeoutMs: 2000 });
      if (opts.unsandboxed) {
        // Unsandboxed, the killed bomb's orphans are the host init's to reap, and until then they
        // count to the sandbox user's RLIMIT_NPROC; later tests need that budget back.
        await waitFor(() => zombiesOf(65534) === 0, { label: 'the host reaped the fork bomb’s orphans', timeoutMs: 30_000 });
      }
    });

    it('runs python3, node and bash from the sandbox PATH as the unprivileged user', async () => {
      for (const argv of [['python3', '-c', 'import os; print(os.getuid())'], ['node', '-e', 'console.log(process.getuid())'], ['bash', '-c', 'id -u']]) {
        const r = await executor.exec(req(argv));
        expect({ argv: argv[0], out: r.stdout.trim(), code: r.exit_code }).toEqual({ argv: argv[0], out: process.getuid?.() === 0 || !opts.unsandboxed ? '65534' : String(process.getuid?.()), code: 0 });
      }
    });

    it('names a link it did not write back in stderr', async () => {
      const r = await executor.exec(req(sh('ln -s /etc/passwd pw; echo ok > ok.txt')));
      expect(r.files_changed).toEqual([{ path: 'ok.txt', change: 'created' }]);
      expect(r.stderr).toMatch(/not written back: pw \(a symbolic link/);
    });

    it('refuses a cwd outside the workspace with a ValidationError naming cwd', async () => {
      await expect(executor.exec(req(['pwd'], { cwd: '../up' }))).rejects.toBeInstanceOf(ValidationError);
    });

    it('leaves no temp directory behind', async () => {
      await executor.exec(req(sh('echo x > a; mkdir d; chmod 000 d')));
      await expect(executor.exec(req(['sleep', '30'], { timeoutS: 1 }))).rejects.toMatchObject({ code: 'exec_timeout' });
      expect(readdirSync(boxes)).toEqual([]);
    });

    if (opts.unsandboxed) {
      it('says loudly that it runs without a sandbox', () => {
        expect(warnings.join('\n')).toMatch(/WITHOUT a sandbox/);
      });
    }
  });
}

suite('LocalProcessExecutor under bubblewrap', {});
suite('LocalProcessExecutor unsandboxed (EXECUTOR_UNSANDBOXED)', { unsandboxed: true, searchPath: '/nonexistent' });

describe('LocalProcessExecutor sandbox boundaries', () => {
  const ws = workspaces(fsStore);
  let executor: Executor;
  beforeAll(async () => {
    executor = await createLocalProcessExecutor({ tmpDir: tmpRoot });
  });
  afterAll(() => ws.cleanup());
  const run = (script: string) =>
    executor.exec({
      argv: ['/bin/bash', '-c', script],
      timeoutS: 20,
      runId: 'run_boundaries',
      stepId: 's1',
      attempt: 1,
      tenant: 'acme',
      workspace: ws.fresh(),
      signal: new AbortController().signal,
    });

  it('runs as an unprivileged uid in its own pid namespace, seeing no process of the host', async () => {
    const r = await run('id -u; id -g; ls /proc | grep -c "^[0-9]"');
    const [uid, gid, procs] = r.stdout.trim().split('\n');
    expect(uid).toBe('65534');
    expect(gid).toBe('65534');
    // bwrap's init, bash, and ls/grep: a host has hundreds.
    expect(Number(procs)).toBeLessThan(6);
  });

  it('has only a loopback network device, and refuses a connection to a port the host listens on', async () => {
    const server: Server = createServer((s) => s.end('reachable\n'));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const port = (server.address() as { port: number }).port;
    try {
      const r = await run(`tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '; (exec 3<>/dev/tcp/127.0.0.1/${port}) 2>&1 | tail -1`);
      const lines = r.stdout.trim().split('\n');
      expect(lines[0]).toBe('lo');
      expect(r.stdout).toMatch(/Connection refused/);
    } finally {
      server.close();
    }
  });

  it('keeps the system read-only and the host’s private files out of sight', async () => {
    const marker = `ro-${randomUUID()}`;
    const r = await run(
      `for p in /usr/${marker} /etc/${marker} /${marker} /workspace/../${marker}; do (echo x > $p) 2>/dev/null && echo "wrote $p"; done; ` +
        `ls -d /root /home /work /var /srv 2>/dev/null; cat /etc/shadow >/dev/null 2>&1 && echo "read shadow"; echo end`,
    );
    expect(r.stdout).toBe('end\n');
    for (const p of [`/usr/${marker}`, `/etc/${marker}`, `/${marker}`]) expect(existsSync(p)).toBe(false);
  });
});

describe('createLocalProcessExecutor', () => {
  it('refuses to start without bubblewrap and says how to install it', async () => {
    for (const opts of [{ searchPath: join(tmpRoot, 'no-bin') }, { bwrapPath: join(tmpRoot, 'no-bin/bwrap') }]) {
      const err = await createLocalProcessExecutor(opts).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ExecutorConfigError);
      expect((err as Error).message).toMatch(/apt-get install bubblewrap/);
      expect((err as Error).message).toMatch(/EXECUTOR_UNSANDBOXED=true/);
    }
  });

  it('refuses a bwrap that cannot make a sandbox, quoting what it said', async () => {
    const err = await createLocalProcessExecutor({ bwrapPath: '/bin/false' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ExecutorConfigError);
    expect((err as Error).message).toMatch(/cannot run a sandbox here/);
  });

  it('reports a spawn failure at exec time as a retryable executor_unavailable', async () => {
    const broken = new LocalProcessExecutor({
      limits: DEFAULT_EXEC_LIMITS,
      unsandboxed: false,
      bwrapPath: join(tmpRoot, 'vanished/bwrap'),
      prlimitPath: '/usr/bin/prlimit',
      hostPaths: [],
      tmpDir: tmpRoot,
    });
    const ws = workspaces(fsStore);
    await expect(
      broken.exec({ argv: ['true'], timeoutS: 5, runId: 'r', stepId: 's', attempt: 1, tenant: 't', workspace: ws.fresh(), signal: new AbortController().signal }),
    ).rejects.toMatchObject({ code: 'executor_unavailable', retryable: true });
  });
});
