/**
 * Bench section f: what a sandbox costs. Start-to-exit of a trivial command (`true`) through
 * exec() of each executor, p50 and p99, against the bare substrate: a plain child_process
 * spawn of the same command.
 *
 *  - bare spawn of /bin/true (the substrate);
 *  - LocalProcessExecutor unsandboxed (workspace copy, output capture, limits, no bubblewrap);
 *  - LocalProcessExecutor under bubblewrap (what EXECUTOR=local runs);
 *  - K8sJobExecutor against the loopback Kubernetes API stand-in of the tests (presigned
 *    download, three containers played as local processes, presigned upload, on s3rver).
 *    The stand-in is TypeScript; it is transpiled into .bench-build/ for this process.
 */
const { spawn } = require('node:child_process');
const { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } = require('node:fs');
const { tmpdir } = require('node:os');
const { join } = require('node:path');
const { randomBytes } = require('node:crypto');
const { percentile, requireFrom } = require('./support');

const root = join(__dirname, '..', '..');
const workerDir = join(root, 'apps', 'worker');

const round = (n, d = 1) => Math.round(n * 10 ** d) / 10 ** d;

async function timed(n, warmup, once) {
  for (let i = 0; i < warmup; i++) await once(i);
  const samples = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await once(i);
    samples.push(performance.now() - t0);
  }
  samples.sort((a, b) => a - b);
  return { n, p50_ms: round(percentile(samples, 50)), p99_ms: round(percentile(samples, 99)) };
}

function bareSpawn() {
  return new Promise((resolve, reject) => {
    const c = spawn('/bin/true', [], { stdio: 'ignore' });
    c.on('error', reject);
    c.on('exit', resolve);
  });
}

/** The test's Kubernetes API stand-in, transpiled from tests/helpers (it and the pod player). */
function loadStandIn() {
  const ts = requireFrom(root, 'typescript');
  // Two levels under the root, as in tests/helpers, so its relative paths still resolve.
  const out = join(root, '.bench-build', 'helpers');
  mkdirSync(out, { recursive: true });
  for (const name of ['k8s-standin', 'k8s-standin-pod']) {
    const src = readFileSync(join(root, 'tests', 'helpers', `${name}.ts`), 'utf8');
    const js = ts.transpileModule(src, { compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true } });
    writeFileSync(join(out, `${name}.js`), js.outputText);
  }
  return require(join(out, 'k8s-standin.js'));
}

async function startS3rver() {
  const S3rver = requireFrom(root, 's3rver');
  const dir = mkdtempSync(join(tmpdir(), 'ay-bench-s3-'));
  const server = new S3rver({ port: 0, address: '127.0.0.1', silent: true, directory: dir, configureBuckets: [{ name: 'bench' }] });
  const { port } = await server.run();
  return { endpoint: `http://127.0.0.1:${port}`, close: async () => { await server.close(); rmSync(dir, { recursive: true, force: true }); } };
}

async function executorOverhead({ samples = 50, k8sSamples = 30 } = {}) {
  const executorPkg = requireFrom(workerDir, '@agentyard/executor');
  const { createWorkspace, scopeWorkspace } = requireFrom(workerDir, '@agentyard/workspace');
  const wsDir = mkdtempSync(join(tmpdir(), 'ay-bench-exec-'));
  const fsStore = createWorkspace({ driver: 'fs', dir: wsDir });
  const request = (workspace, i) => ({
    argv: ['/bin/true'],
    timeoutS: 30,
    runId: `run_${randomBytes(13).toString('hex').slice(0, 26)}`,
    stepId: 's1',
    attempt: 1,
    tenant: 'bench',
    workspace,
    signal: new AbortController().signal,
    ...(i === undefined ? {} : {}),
  });
  const fresh = (store, i) => scopeWorkspace(store, `tenants/bench/workspaces/w${i}-${randomBytes(4).toString('hex')}`);
  const result = {};
  try {
    const bare = await timed(samples, 5, () => bareSpawn());
    result.bare_spawn = bare;
    const unsandboxed = await executorPkg.createLocalProcessExecutor({ unsandboxed: true, warn: () => undefined });
    result.local_unsandboxed = await timed(samples, 5, (i) => unsandboxed.exec(request(fresh(fsStore, `u${i}`))));
    await unsandboxed.close();
    try {
      const local = await executorPkg.createLocalProcessExecutor({});
      result.local_bubblewrap = await timed(samples, 5, (i) => local.exec(request(fresh(fsStore, `l${i}`))));
      await local.close();
      result.local_bubblewrap.ratio_p50_vs_bare_spawn = round(result.local_bubblewrap.p50_ms / bare.p50_ms, 1);
    } catch (err) {
      result.local_bubblewrap = { skipped: err.message };
    }

    const s3 = await startS3rver();
    const { startK8sStandIn } = loadStandIn();
    const standin = await startK8sStandIn({ namespace: 'agentyard-sandbox' });
    try {
      const { createK8sJobExecutor } = await executorPkg.loadK8sExecutor();
      const settings = {
        EXECUTOR_NAMESPACE: 'agentyard-sandbox',
        EXECUTOR_IMAGE_PYTHON: 'python:3.12-slim',
        EXECUTOR_IMAGE_NODE: 'node:24-bookworm-slim',
        EXECUTOR_IMAGE_SHELL: 'debian:bookworm-slim',
        EXECUTOR_IMAGE_TRANSFER: 'curlimages/curl:8.10.1',
        EXECUTOR_CPU_MILLI: 500,
        EXECUTOR_JOB_TTL_S: 60,
        KUBECONFIG: standin.kubeconfig,
        S3_ENDPOINT: s3.endpoint,
        S3_REGION: 'us-east-1',
        S3_BUCKET: 'bench',
        S3_ACCESS_KEY: 'S3RVER',
        S3_SECRET_KEY: 'S3RVER',
        S3_FORCE_PATH_STYLE: true,
      };
      const k8s = createK8sJobExecutor(settings, {});
      const s3Store = createWorkspace({ driver: 's3', bucket: 'bench', endpoint: s3.endpoint, region: 'us-east-1', accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER', forcePathStyle: true });
      result.k8s_standin = await timed(k8sSamples, 2, (i) => k8s.exec(request(fresh(s3Store, `k${i}`))));
      result.k8s_standin.jobs_created = standin.created.length;
      result.k8s_standin.ratio_p50_vs_bare_spawn = round(result.k8s_standin.p50_ms / bare.p50_ms, 1);
      result.k8s_standin.note = 'stand-in: three containers run as local bubblewrap processes, transfers through s3rver; no scheduling or image pulls';
      await k8s.close();
    } finally {
      await standin.close();
      await s3.close();
    }
  } finally {
    rmSync(wsDir, { recursive: true, force: true });
    rmSync(join(root, '.bench-build'), { recursive: true, force: true });
  }
  return result;
}

module.exports = { executorOverhead };
