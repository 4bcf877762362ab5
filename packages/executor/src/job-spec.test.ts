import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import type { V1Container, V1Job } from '@kubernetes/client-node';
import { buildJobSpec, CONTAINERS, SANDBOX_UID, type JobSpecInput, type JobSpecSettings } from './job-spec';
import { jobName, labelValue } from './k8s-names';

const settings: JobSpecSettings = {
  namespace: 'agentyard-sandbox',
  images: { python: 'img/python:1', node: 'img/node:1', bash: 'img/bash:1', shell: 'img/shell:1', transfer: 'img/curl:1' },
  cpuMilli: 750,
  memoryBytes: 512 * 1024 * 1024,
  boxBytes: 1024 * 1024 * 1024,
  jobTtlS: 300,
  startAllowanceS: 120,
};
const input: JobSpecInput = {
  name: jobName('run_01hx0000000000000000000000', 'build', 2),
  runId: 'run_01hx0000000000000000000000',
  stepId: 'build',
  attempt: 2,
  tenant: 'acme',
  argv: ['python3', 'main.py', '--flag'],
  cwd: 'src',
  env: { GREETING: 'hi' },
  timeoutS: 45,
  language: 'python',
  inputUrl: 'http://s3.example/in?X-Amz-Signature=abc',
  outputUrl: 'http://s3.example/out?X-Amz-Signature=def',
};

/** kubernetes-models is ESM-only (see tests/k8s/manifests.test.ts): validated in a plain Node child. */
function schemaError(job: V1Job): string | null {
  const script = `
    let s = ''; for await (const c of process.stdin) s += c;
    const { Job } = await import('kubernetes-models/batch/v1/Job');
    try { new Job(JSON.parse(s)).validate(); process.stdout.write('null'); } catch (e) { process.stdout.write(JSON.stringify(String(e.message))); }`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { cwd: resolve(__dirname, '../../..'), input: JSON.stringify(job), encoding: 'utf8' });
  if (r.status !== 0) throw new Error(r.stderr);
  return JSON.parse(r.stdout) as string | null;
}

const containers = (job: V1Job): V1Container[] => [...(job.spec!.template.spec!.initContainers ?? []), ...job.spec!.template.spec!.containers];
const container = (job: V1Job, name: string) => containers(job).find((c) => c.name === name)!;

describe('buildJobSpec', () => {
  const job = buildJobSpec(input, settings);

  it('is a valid batch/v1 Job by the Kubernetes OpenAPI schema', () => {
    expect(schemaError(job)).toBeNull();
  });

  it('runs one pod once: backoffLimit 0, restartPolicy Never, a deadline of timeout plus allowance, a TTL', () => {
    expect(job.spec).toMatchObject({ backoffLimit: 0, activeDeadlineSeconds: 45 + 120, ttlSecondsAfterFinished: 300 });
    expect(job.spec!.template.spec).toMatchObject({ restartPolicy: 'Never', automountServiceAccountToken: false, enableServiceLinks: false });
    expect(job.metadata).toMatchObject({ name: input.name, namespace: 'agentyard-sandbox' });
  });

  it.each([
    ['python', 'img/python:1'],
    ['node', 'img/node:1'],
    ['bash', 'img/bash:1'],
    [undefined, 'img/shell:1'],
  ] as const)('picks the image for language %s: %s', (language, image) => {
    const { language: _drop, ...rest } = input;
    const j = buildJobSpec(language ? { ...rest, language } : rest, settings);
    expect(container(j, CONTAINERS.run).image).toBe(image);
    expect(container(j, CONTAINERS.fetch).image).toBe('img/curl:1');
    expect(container(j, CONTAINERS.upload).image).toBe('img/curl:1');
  });

  it('locks down every container: non-root fixed uid, read-only root, no escalation, no capabilities, RuntimeDefault seccomp', () => {
    expect(job.spec!.template.spec!.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: SANDBOX_UID, fsGroup: SANDBOX_UID, seccompProfile: { type: 'RuntimeDefault' } });
    for (const c of containers(job)) {
      expect([c.name, c.securityContext]).toEqual([
        c.name,
        expect.objectContaining({
          runAsNonRoot: true,
          runAsUser: SANDBOX_UID,
          readOnlyRootFilesystem: true,
          allowPrivilegeEscalation: false,
          capabilities: { drop: ['ALL'] },
          seccompProfile: { type: 'RuntimeDefault' },
        }),
      ]);
      expect(c.resources?.limits).toEqual(expect.objectContaining({ cpu: expect.any(String), memory: expect.any(String), 'ephemeral-storage': expect.any(String) }));
    }
  });

  it('gives the command its CPU and memory as request and limit, and the box as ephemeral storage', () => {
    const r = container(job, CONTAINERS.run).resources!;
    expect(r.requests).toEqual({ cpu: '750m', memory: '512Mi', 'ephemeral-storage': '1024Mi' });
    expect(r.limits).toEqual(r.requests);
    expect(job.spec!.template.spec!.volumes).toEqual([
      { name: 'box', emptyDir: { sizeLimit: '1024Mi' } },
      { name: 'tmp', emptyDir: { sizeLimit: '64Mi' } },
    ]);
  });

  it('runs the argv through the wrapper with the cwd, and the env it was given plus HOME and LANG', () => {
    const run = container(job, CONTAINERS.run);
    expect(run.command!.slice(0, 2)).toEqual(['/bin/sh', '-c']);
    expect(run.command!.slice(3)).toEqual(['agentyard', 'src', 'python3', 'main.py', '--flag']);
    expect(run.env).toEqual([
      { name: 'GREETING', value: 'hi' },
      { name: 'HOME', value: '/tmp' },
      { name: 'LANG', value: 'C.UTF-8' },
    ]);
  });

  it('puts each presigned URL only in the container that uses it', () => {
    const urls = (c: V1Container) => JSON.stringify(c).match(/X-Amz-Signature=\w+/g) ?? [];
    expect(urls(container(job, CONTAINERS.fetch))).toEqual(['X-Amz-Signature=abc']);
    expect(urls(container(job, CONTAINERS.upload))).toEqual(['X-Amz-Signature=def']);
    expect(urls(container(job, CONTAINERS.run))).toEqual([]);
  });

  it('labels the Job and its pod with run, step, attempt and tenant, and keeps the exact ids in annotations', () => {
    const labels = { 'agentyard.dev/run': input.runId, 'agentyard.dev/step': 'build', 'agentyard.dev/attempt': '2', 'agentyard.dev/tenant': 'acme' };
    expect(job.metadata!.labels).toMatchObject(labels);
    expect(job.spec!.template.metadata!.labels).toMatchObject(labels);
    expect(job.metadata!.annotations).toMatchObject({ 'agentyard.dev/step-id': 'build' });
  });
});

describe('jobName', () => {
  const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
  it.each([
    ['run_01hx0000000000000000000000', 's1', 1],
    ['run_01hx0000000000000000000000', 'A step id with Spaces & Symbols!', 3],
    ['run_' + 'z'.repeat(200), 'x'.repeat(300), 123456],
    ['RUN', '---', 1],
  ])('is a DNS-1123 label of at most 63 characters for (%s, %s, %s)', (run, step, attempt) => {
    const n = jobName(run, step, attempt);
    expect(n.length).toBeLessThanOrEqual(63);
    expect(n).toMatch(DNS_LABEL);
  });

  it('is stable for the same inputs and differs by attempt, step and run', () => {
    const a = jobName('run_a', 's1', 1);
    expect(jobName('run_a', 's1', 1)).toBe(a);
    expect(new Set([a, jobName('run_a', 's1', 2), jobName('run_a', 's2', 1), jobName('run_b', 's1', 1)]).size).toBe(4);
    // Ids that slug alike still get different names.
    expect(jobName('run_a', 'Step-1', 1)).not.toBe(jobName('run_a', 'step 1', 1));
  });
});

describe('labelValue', () => {
  const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
  it.each([['acme'], ['run_01hx0000000000000000000000'], ['tenant with spaces'], ['-leading'], ['ü'], ['x'.repeat(100)]])('makes %s a valid label value', (v) => {
    const l = labelValue(v);
    expect(l.length).toBeLessThanOrEqual(63);
    expect(l).toMatch(LABEL_VALUE);
  });
  it('keeps valid values as they are and tells changed ones apart', () => {
    expect(labelValue('acme')).toBe('acme');
    expect(labelValue('a b')).not.toBe(labelValue('a_b'));
    expect(labelValue('a b')).not.toBe(labelValue('a-b'));
  });
});
