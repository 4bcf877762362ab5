import { DEFAULT_EXEC_LIMITS } from './executor';
import { classifyExit, exitStatus } from './exit-classify';
import { bwrapArgs, prlimitArgs, sandboxEnv, sandboxLimits } from './sandbox-command';

const limits = sandboxLimits({ ...DEFAULT_EXEC_LIMITS, memoryBytes: 256 * 1024 * 1024 }, 30);

describe('sandbox command lines', () => {
  it('takes every namespace, binds only the system dirs read-only and the workspace read-write, and makes the root read-only last', () => {
    const args = bwrapArgs({
      hostPaths: [
        { path: '/usr', kind: 'dir' },
        { path: '/bin', kind: 'link', target: 'usr/bin' },
      ],
      workDir: '/tmp/box/work',
      cwd: 'src/app',
      uid: 65534,
      gid: 65534,
    });
    const line = args.join(' ');
    for (const flag of ['--unshare-all', '--unshare-user', '--die-with-parent', '--new-session']) expect(args).toContain(flag);
    expect(line).toContain('--ro-bind /usr /usr');
    expect(line).toContain('--symlink usr/bin /bin');
    expect(line).toContain('--bind /tmp/box/work /workspace');
    expect(line).toContain('--chdir /workspace/src/app');
    expect(line).not.toMatch(/--ro-bind \/ \//);
    expect(args.indexOf('--remount-ro')).toBeGreaterThan(args.lastIndexOf('--bind'));
    expect(args.at(-1)).toBe('--');
  });

  it('limits CPU (soft below hard), data memory, file size, processes and core files', () => {
    expect(prlimitArgs(limits)).toEqual([
      '--cpu=30:31',
      `--data=${256 * 1024 * 1024}`,
      `--fsize=${DEFAULT_EXEC_LIMITS.fileBytes}`,
      `--nproc=${DEFAULT_EXEC_LIMITS.processes}`,
      '--core=0',
      '--',
    ]);
    expect(sandboxLimits({ ...DEFAULT_EXEC_LIMITS, cpuSeconds: 5 }, 600).cpuSeconds).toBe(5);
  });

  it('builds the environment from nothing but the request, which wins', () => {
    expect(sandboxEnv({ home: '/tmp', tmp: '/tmp' }, 256 * 1024 * 1024, { LANG: 'de_DE.UTF-8', X: '1' })).toEqual({
      PATH: '/usr/local/bin:/usr/bin:/bin',
      HOME: '/tmp',
      TMPDIR: '/tmp',
      LANG: 'de_DE.UTF-8',
      NODE_OPTIONS: '--max-old-space-size=128',
      X: '1',
    });
  });
});

describe('exit classification', () => {
  it.each([
    ['a clean exit', 0, '', { kind: 'exit', exitCode: 0 }],
    ['a plain failure', 1, 'Traceback...\nValueError: nope\n', { kind: 'exit', exitCode: 1 }],
    ['Python out of memory', 1, 'Traceback (most recent call last):\n  File "<string>", line 1\nMemoryError\n', { kind: 'error', code: 'exec_oom' }],
    ['V8 out of memory', 134, 'FATAL ERROR: Ineffective mark-compacts near heap limit Allocation failed - JavaScript heap out of memory\n', { kind: 'error', code: 'exec_oom' }],
    ['ENOMEM from a C program', 1, 'cannot allocate memory\n', { kind: 'error', code: 'exec_oom' }],
    ['a MemoryError text in a successful run is no OOM', 0, 'MemoryError\n', { kind: 'exit', exitCode: 0 }],
    ['SIGXCPU', 152, '', { kind: 'error', code: 'exec_timeout' }],
    ['SIGXFSZ', 153, '', { kind: 'exit', exitCode: 153, notice: /SIGXFSZ.*EXECUTOR_FILE_MAX_MB/ }],
    ['a SIGKILL we did not send', 137, '', { kind: 'exit', exitCode: 137, notice: /SIGKILL, not by the executor/ }],
    ['SIGSEGV', 139, '', { kind: 'exit', exitCode: 139, notice: /SIGSEGV/ }],
  ])('%s', (_name, code, stderr, want) => {
    const got = classifyExit(code as number, stderr as string, limits);
    const w = want as { kind: string; code?: string; exitCode?: number; notice?: RegExp };
    if (w.kind === 'error') {
      expect(got).toMatchObject({ kind: 'error', error: { code: w.code, retryable: false } });
    } else {
      expect(got).toMatchObject({ kind: 'exit', exitCode: w.exitCode });
      if (w.notice) expect((got as { notice?: string }).notice).toMatch(w.notice);
      else expect((got as { notice?: string }).notice).toBeUndefined();
    }
  });

  it('turns a signal death into 128 + the signal, as shells and bwrap report it', () => {
    expect(exitStatus(3, null)).toBe(3);
    expect(exitStatus(null, 'SIGKILL')).toBe(137);
    expect(exitStatus(null, 'SIGXFSZ')).toBe(153);
  });
});
