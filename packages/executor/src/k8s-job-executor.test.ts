import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { S3Client, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { CancelledError } from '@agentyard/core';
import { S3Workspace, scopeWorkspace, type Workspace } from '@agentyard/workspace';
import { startK8sStandIn, type StandIn } from '../../../tests/helpers/k8s-standin';
import { waitFor } from '../../../tests/helpers/wait-for';
import { describeExecutor } from './executor-conformance';
import type { ExecLimits, ExecRequest, Executor } from './executor';
import { K8S_API_CALLS, createKubeJobsApi, loadKubeConfig, type KubeJobsApi } from './k8s-api';
import { K8sJobExecutor, type K8sJobExecutorOptions } from './k8s-job-executor';
import { jobName } from './k8s-names';
import { createS3ObjectStore, type ObjectStore } from './object-store';

/**
 * The Kubernetes executor against the loopback API stand-in (tests/helpers/k8s-standin.ts),
 * whose pods really fetch the workspace from s3rver through a presigned GET, run the command
 * and upload through a presigned PUT. The images are not pulled: the host's sh, curl and tar
 * run the containers' commands.
 */

const NS = 'agentyard-sandbox';
const BUCKET = process.env.TEST_S3_BUCKET!;
const s3 = {
  bucket: BUCKET,
  endpoint: process.env.TEST_S3_ENDPOINT!,
  region: 'us-east-1',
  accessKeyId: 'S3RVER',
  secretAccessKey: 'S3RVER',
  forcePathStyle: true,
};
const images = (overrides: Partial<Record<'shell' | 'transfer', string>> = {}) => ({
  python: 'python:3.12-slim',
  node: 'node:24-bookworm-slim',
  bash: overrides.shell ?? 'debian:bookworm-slim',
  shell: overrides.shell ?? 'debian:bookworm-slim',
  transfer: overrides.transfer ?? 'curlimages/curl:8.10.1',
});

let standin: StandIn;
let api: KubeJobsApi;
let store: ObjectStore;
const tenant = `t${randomBytes(4).toString('hex')}`;
const executors: Executor[] = [];
const tmpDirs: string[] = [];

beforeAll(async () => {
  standin = await startK8sStandIn({ namespace: NS });
  api = createKubeJobsApi(loadKubeConfig(standin.kubeconfig));
  store = createS3ObjectStore(s3);
});
afterAll(async () => {
  for (const e of executors) await e.close();
  await standin?.close();
  for (const d of tmpDirs) rmSync(d, { recursive: true, force: true });
});

function makeExecutor(o: Partial<K8sJobExecutorOptions> & { limits?: Partial<ExecLimits>; shell?: string; transfer?: string } = {}): K8sJobExecutor {
  const { shell, transfer, ...rest } = o;
  const ex = new K8sJobExecutor({
    api,
    store,
    spec: { namespace: NS, images: images({ ...(shell ? { shell } : {}), ...(transfer ? { transfer } : {}) }), cpuMilli: 500, jobTtlS: 60, startAllowanceS: 60 },
    pullGraceMs: 1000,
    ...rest,
  });
  executors.push(ex);
  return ex;
}

function freshWorkspace(): Workspace {
  return scopeWorkspace(new S3Workspace(s3), `tenants/${tenant}/workspaces/ws_${randomBytes(6).toString('hex')}`);
}

async function execObjects(): Promise<string[]> {
  const client = new S3Client({ region: 'us-east-1', endpoint: s3.endpoint, forcePathStyle: true, credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } });
  const res = await client.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: `tenants/${tenant}/exec/` }));
  return (res.Contents ?? []).map((o) => o.Key!);
}

function request(argv: string[], o: Partial<ExecRequest> = {}): ExecRequest {
  return {
    argv,
    timeoutS: 30,
    runId: `run_${randomBytes(13).toString('hex').slice(0, 26)}`,
    stepId: 's1',
    attempt: 1,
    tenant,
    workspace: o.workspace ?? freshWorkspace(),
    signal: new AbortController().signal,
    ...o,
  };
}

/** Nothing of the execution is left: no Job in the stand-in, no transfer object in S3. */
async function expectCleanedUp(): Promise<void> {
  await waitFor(async () => standin.jobs().length === 0 && (await execObjects()).length === 0, {
    timeoutMs: 10_000,
    label: 'every tool Job and every exec object deleted',
  });
}

describeExecutor('K8sJobExecutor', async (limits) => ({ executor: makeExecutor({ limits }), workspace: freshWorkspace }));

describe('K8sJobExecutor on the stand-in', () => {
  it('creates exactly one valid Job per (run, step, attempt), named from them, and leaves nothing behind', async () => {
    const before = standin.created.length;
    const req = request(['/bin/sh', '-c', 'echo hi > a.txt; echo done']);
    const r = await makeExecutor().exec(req);
    expect(r).toMatchObject({ exit_code: 0, stdout: 'done\n', files_changed: [{ path: 'a.txt', change: 'created' }] });
    const made = standin.created.slice(before);
    expect(made.map((j) => j.metadata.name)).toEqual([jobName(req.runId, 's1', 1)]);
    expect(made[0]!.metadata.labels).toMatchObject({ 'agentyard.dev/run': req.runId, 'agentyard.dev/step': 's1', 'agentyard.dev/attempt': '1', 'agentyard.dev/tenant': tenant });
    // The pod holds no S3 credentials: only presigned URLs, and only in the transfer containers.
    const spec = JSON.stringify(made[0]);
    expect(spec).not.toContain('S3RVER"');
    expect(JSON.stringify(made[0]!.spec.template.spec.containers.find((c: { name: string }) => c.name === 'run'))).not.toContain('X-Amz-Signature');
    await expectCleanedUp();
  });

  it('uses only the API calls its Role grants', () => {
    const granted = new Set(K8S_API_CALLS.flatMap((c) => c.verbs.map((v) => `${v} ${c.resource}`)));
    expect(standin.calls.length).toBeGreaterThan(0);
    expect([...new Set(standin.calls)].filter((c) => !granted.has(c))).toEqual([]);
  });

  it('reattaches to the Job of a worker that died instead of creating a second one', async () => {
    // Worker A: its API and store go silent once "killed", as a dead process makes no calls.
    let dead = false;
    const never = new Promise<never>(() => undefined);
    const severable = <T extends object>(target: T): T =>
      new Proxy(target, { get: (t, k) => (typeof (t as never)[k] === 'function' ? (...a: unknown[]) => (dead ? never : (t as any)[k](...a)) : (t as never)[k]) });
    // A dead worker leaves its temp dir behind; this one is the test's to remove.
    const deadTmp = mkdtempSync(join(tmpdir(), 'ay-k8s-dead-worker-'));
    tmpDirs.push(deadTmp);
    const a = new K8sJobExecutor({
      tmpDir: deadTmp,
      api: severable(api),
      store: severable(store),
      spec: { namespace: NS, images: images(), cpuMilli: 500, jobTtlS: 60, startAllowanceS: 60 },
    });
    const ws = freshWorkspace();
    await ws.write('in.txt', 'seed\n');
    const req = request(['/bin/sh', '-c', 'sleep 1; cat in.txt; echo made > out.txt'], { workspace: ws });
    const name = jobName(req.runId, req.stepId, req.attempt);
    void a.exec(req).catch(() => undefined);
    await waitFor(() => standin.jobs().includes(name), { label: 'worker A created the Job' });
    dead = true;
    const lines: string[] = [];
    const r = await makeExecutor().exec({ ...req, signal: new AbortController().signal, onOutput: (_s, l) => lines.push(l) });
    expect(r).toMatchObject({ exit_code: 0, stdout: 'seed\n', files_changed: [{ path: 'out.txt', change: 'created' }] });
    expect(lines).toEqual(['seed']);
    expect(standin.created.filter((j) => j.metadata.name === name)).toHaveLength(1);
    await expectCleanedUp();
  });

  it('classifies an OOM kill as exec_oom and cleans up', async () => {
    await expect(makeExecutor({ shell: 'standin-oom/debian' }).exec(request(['/bin/sh', '-c', 'sleep 10']))).rejects.toMatchObject({ code: 'exec_oom', retryable: false });
    await expectCleanedUp();
  });

  it('classifies an image that cannot be pulled, past the grace, as executor_unavailable and cleans up', async () => {
    const t0 = Date.now();
    await expect(makeExecutor({ shell: 'standin-fail-pull/debian' }).exec(request(['/bin/true']))).rejects.toMatchObject({
      code: 'executor_unavailable',
      retryable: true,
      message: expect.stringContaining('ImagePullBackOff'),
    });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(1000);
    await expectCleanedUp();
  });

  it('classifies an eviction as executor_unavailable and cleans up', async () => {
    await expect(makeExecutor({ shell: 'standin-evict/debian' }).exec(request(['/bin/sh', '-c', 'sleep 10']))).rejects.toMatchObject({
      code: 'executor_unavailable',
      retryable: true,
      message: expect.stringContaining('evicted'),
    });
    await expectCleanedUp();
  });

  it('a Job past its activeDeadlineSeconds before the command started is executor_unavailable; cleaned up', async () => {
    const ex = makeExecutor({ transfer: 'standin-stall/curl', spec: { namespace: NS, images: images({ transfer: 'standin-stall/curl' }), cpuMilli: 500, jobTtlS: 60, startAllowanceS: 1 } });
    await expect(ex.exec(request(['/bin/true'], { timeoutS: 1 }))).rejects.toMatchObject({
      code: 'executor_unavailable',
      message: expect.stringContaining('deadline before the command started'),
    });
    await expectCleanedUp();
  });

  it('a command past its timeout is exec_timeout and its Job is deleted', async () => {
    await expect(makeExecutor().exec(request(['/bin/sh', '-c', 'sleep 30'], { timeoutS: 1 }))).rejects.toMatchObject({ code: 'exec_timeout' });
    await expectCleanedUp();
  });

  it('cancel deletes the Job and rejects within 2 s', async () => {
    const controller = new AbortController();
    const req = request(['/bin/sh', '-c', 'sleep 60'], { signal: controller.signal });
    const name = jobName(req.runId, req.stepId, req.attempt);
    const pending = makeExecutor().exec(req).catch((e: unknown) => ({ e, at: Date.now() }));
    await waitFor(() => standin.jobs().includes(name), { label: 'the Job exists' });
    const t0 = Date.now();
    controller.abort(new CancelledError());
    const out = (await pending) as { e: unknown; at: number };
    expect(out.e).toBeInstanceOf(CancelledError);
    expect(out.at - t0).toBeLessThan(2000);
    await expectCleanedUp();
  });

  it('refuses an invalid Job like the API server would (422), as executor_unavailable', async () => {
    // An env value that is not a string: the schema of EnvVar refuses it.
    await expect(makeExecutor().exec(request(['/bin/true'], { env: { N: 5 as unknown as string } }))).rejects.toMatchObject({ code: 'executor_unavailable', message: expect.stringContaining('422') });
    await expectCleanedUp();
  });
});
