import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { createInterface } from 'node:readline';
import { StandInPod } from './k8s-standin-pod';

/**
 * A loopback stand-in for the Kubernetes API, for the k8s executor's tests (there is no
 * cluster on these machines). It speaks the subset the executor uses: create, get and delete
 * of Jobs in a namespace, list of pods by label selector, and pods/log with follow=true
 * streaming; any other request is a 404 and is recorded, so a test can assert the executor
 * stayed within its Role. Every object it receives is validated against the Kubernetes OpenAPI
 * schemas (kubernetes-models) plus the name and label syntax the API server checks, and an
 * invalid one is refused with a 422 Status like the real API. Each created Job's pod is played
 * by k8s-standin-pod.ts. Not emulated: the scheduler, quotas, admission (PodSecurity), watch,
 * resourceVersion semantics, the TTL controller.
 *
 * `kubeconfig` is a file pointing client-node at it (http, no auth).
 */

/* eslint-disable @typescript-eslint/no-explicit-any */
type Obj = Record<string, any>;

export interface StandIn {
  url: string;
  kubeconfig: string;
  /** Every Job ever created, in order (deleted ones included). */
  created: Obj[];
  /** Names of the Jobs that exist now. */
  jobs(): string[];
  /** `VERB resource` of every request, e.g. `create jobs`, `list pods`, `get pods/log`. */
  calls: string[];
  close(): Promise<void>;
}

const VALIDATOR = `
import { createInterface } from 'node:readline';
for await (const line of createInterface({ input: process.stdin })) {
  const { id, module, kind, object } = JSON.parse(line);
  let error = null;
  try {
    const Model = (await import(module.startsWith('file:') ? module : 'kubernetes-models/' + module))[kind];
    new Model(object).validate();
  } catch (e) {
    error = String(e && e.message ? e.message : e);
  }
  process.stdout.write(JSON.stringify({ id, error }) + '\\n');
}
`;

/** DeleteOptions lives in a dependency of kubernetes-models that is not exported through it. */
const DELETE_OPTIONS = pathToFileURL(
  join(dirname(realpathSync(resolve(__dirname, '../../node_modules/kubernetes-models'))), '@kubernetes-models/apimachinery/apis/meta/v1/DeleteOptions.js'),
).href;

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
const LABEL_NAME = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;

export async function startK8sStandIn(opts: { namespace: string }): Promise<StandIn> {
  const validator = startValidator();
  const jobs = new Map<string, { job: Obj; pod: StandInPod }>();
  const created: Obj[] = [];
  const calls: string[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'ay-standin-'));

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((e) => send(res, 500, status(500, 'InternalError', String(e))));
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://standin');
    const ns = opts.namespace;
    const jobsPath = `/apis/batch/v1/namespaces/${ns}/jobs`;
    const podsPath = `/api/v1/namespaces/${ns}/pods`;
    const p = url.pathname;
    const m = req.method ?? 'GET';
    if (m === 'POST' && p === jobsPath) {
      calls.push('create jobs');
      const job = JSON.parse(await body(req)) as Obj;
      const problems = await validate(validator, 'batch/v1/Job', 'Job', job);
      if (job.metadata?.namespace && job.metadata.namespace !== ns) problems.push({ field: 'metadata.namespace', message: 'does not match the namespace of the request' });
      if (problems.length) return send(res, 422, invalid('jobs', job.metadata?.name ?? '', problems));
      if (jobs.has(job.metadata.name)) return send(res, 409, status(409, 'AlreadyExists', `jobs.batch "${job.metadata.name}" already exists`));
      job.metadata = { ...job.metadata, namespace: ns, uid: `job-${created.length + 1}`, creationTimestamp: new Date().toISOString(), resourceVersion: '1' };
      job.status = { active: 1, startTime: new Date().toISOString() };
      const pod = new StandInPod(job, (type, reason, message) => {
        job.status = { ...job.status, active: 0, ...(type === 'Complete' ? { succeeded: 1 } : { failed: 1 }) };
        job.status.conditions = [{ type, status: 'True', reason, message, lastTransitionTime: new Date().toISOString() }];
      });
      jobs.set(job.metadata.name, { job, pod });
      created.push(structuredClone(job));
      void pod.start();
      return send(res, 201, job);
    }
    const jobMatch = p.startsWith(`${jobsPath}/`) ? decodeURIComponent(p.slice(jobsPath.length + 1)) : undefined;
    if (jobMatch !== undefined && (m === 'GET' || m === 'DELETE')) {
      calls.push(`${m === 'GET' ? 'get' : 'delete'} jobs`);
      const entry = jobs.get(jobMatch);
      if (m === 'DELETE') {
        const text = await body(req);
        if (text) {
          const problems = await validate(validator, DELETE_OPTIONS, 'DeleteOptions', JSON.parse(text));
          if (problems.length) return send(res, 422, invalid('jobs', jobMatch, problems));
        }
      }
      if (!entry) return send(res, 404, status(404, 'NotFound', `jobs.batch "${jobMatch}" not found`));
      if (m === 'GET') return send(res, 200, entry.job);
      jobs.delete(jobMatch);
      entry.pod.stop();
      return send(res, 200, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', details: { name: jobMatch, group: 'batch', kind: 'jobs' } });
    }
    if (m === 'GET' && p === podsPath) {
      calls.push('list pods');
      const selector = parseSelector(url.searchParams.get('labelSelector') ?? '');
      const items = [...jobs.values()].map((j) => j.pod.object).filter((pod) => Object.entries(selector).every(([k, v]) => pod.metadata.labels[k] === v));
      return send(res, 200, { kind: 'PodList', apiVersion: 'v1', metadata: { resourceVersion: '1' }, items });
    }
    const logMatch = p.match(new RegExp(`^${podsPath}/([^/]+)/log$`));
    if (m === 'GET' && logMatch) {
      calls.push('get pods/log');
      const pod = [...jobs.values()].map((j) => j.pod).find((x) => x.name === logMatch[1]);
      if (!pod) return send(res, 404, status(404, 'NotFound', `pods "${logMatch[1]}" not found`));
      const container = url.searchParams.get('container');
      if (container !== 'run') return send(res, 400, status(400, 'BadRequest', `container ${container} is not followed by the stand-in`));
      const st = pod.object.status.containerStatuses.find((s: Obj) => s.name === 'run');
      if (st?.state?.waiting) return send(res, 400, status(400, 'BadRequest', `container "run" in pod "${pod.name}" is waiting to start: ${st.state.waiting.reason}`));
      res.writeHead(200, { 'content-type': 'text/plain' });
      for (const c of pod.log.chunks) res.write(c);
      if (pod.log.ended || url.searchParams.get('follow') !== 'true') return void res.end();
      const listener = (chunk: Buffer | null) => (chunk ? res.write(chunk) : res.end());
      pod.log.listeners.add(listener);
      res.on('close', () => pod.log.listeners.delete(listener));
      return;
    }
    calls.push(`${m} ${p}`);
    send(res, 404, status(404, 'NotFound', `the stand-in does not serve ${m} ${p}`));
  }

  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as { port: number }).port;
  const url = `http://127.0.0.1:${port}`;
  const kubeconfig = join(dir, 'kubeconfig');
  writeFileSync(
    kubeconfig,
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      // client-node refuses plain http unless TLS verification is declared off.
      clusters: [{ name: 'standin', cluster: { server: url, 'insecure-skip-tls-verify': true } }],
      users: [{ name: 'standin', user: {} }],
      contexts: [{ name: 'standin', context: { cluster: 'standin', user: 'standin', namespace: opts.namespace } }],
      'current-context': 'standin',
    }),
  );
  return {
    url,
    kubeconfig,
    created,
    calls,
    jobs: () => [...jobs.keys()],
    async close() {
      for (const { pod } of jobs.values()) pod.stop();
      jobs.clear();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
      validator.proc.kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

interface Validator {
  proc: ChildProcess;
  pending: Map<number, (error: string | null) => void>;
  next: number;
}

function startValidator(): Validator {
  // kubernetes-models is ESM-only, which jest's CommonJS runtime cannot load: a plain Node child does.
  const proc = spawn(process.execPath, ['--input-type=module', '-e', VALIDATOR], { cwd: resolve(__dirname, '../..'), stdio: ['pipe', 'pipe', 'inherit'] });
  const v: Validator = { proc, pending: new Map(), next: 1 };
  createInterface({ input: proc.stdout! }).on('line', (line) => {
    const { id, error } = JSON.parse(line) as { id: number; error: string | null };
    v.pending.get(id)?.(error);
    v.pending.delete(id);
  });
  return v;
}

async function validate(v: Validator, module: string, kind: string, object: Obj): Promise<{ field: string; message: string }[]> {
  const problems: { field: string; message: string }[] = [];
  const id = v.next++;
  const error = await new Promise<string | null>((r) => {
    v.pending.set(id, r);
    v.proc.stdin!.write(`${JSON.stringify({ id, module, kind, object })}\n`);
  });
  if (error) problems.push({ field: '', message: error });
  if (kind !== 'Job') return problems;
  const name = object.metadata?.name;
  if (typeof name !== 'string' || name.length > 63 || !DNS_LABEL.test(name)) problems.push({ field: 'metadata.name', message: 'must be a DNS-1123 label of at most 63 characters' });
  const labelSets: [string, Obj | undefined][] = [
    ['metadata.labels', object.metadata?.labels],
    ['spec.template.metadata.labels', object.spec?.template?.metadata?.labels],
  ];
  for (const [field, labels] of labelSets) {
    for (const [k, val] of Object.entries(labels ?? {})) {
      if (!LABEL_NAME.test(k)) problems.push({ field: `${field}.${k}`, message: 'invalid label name' });
      if (typeof val !== 'string' || val.length > 63 || !LABEL_VALUE.test(val)) problems.push({ field: `${field}.${k}`, message: `invalid label value ${JSON.stringify(val)}` });
    }
  }
  return problems;
}

function parseSelector(s: string): Record<string, string> {
  return Object.fromEntries(
    s
      .split(',')
      .filter(Boolean)
      .map((kv) => kv.split('=') as [string, string]),
  );
}

function status(code: number, reason: string, message: string): Obj {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code };
}

function invalid(kind: string, name: string, problems: { field: string; message: string }[]): Obj {
  return {
    ...status(422, 'Invalid', `${kind}.batch "${name}" is invalid: ${problems.map((p) => `${p.field}: ${p.message}`).join('; ')}`),
    details: { name, group: 'batch', kind, causes: problems.map((p) => ({ reason: 'FieldValueInvalid', message: p.message, field: p.field })) },
  };
}

function send(res: ServerResponse, code: number, obj: Obj): void {
  if (res.headersSent) return void res.end();
  res.writeHead(code, { 'content-type': 'application/json' });
  res.end(JSON.stringify(obj));
}

function body(req: IncomingMessage): Promise<string> {
  return new Promise((r, j) => {
    let s = '';
    req.setEncoding('utf8');
    req.on('data', (d) => (s += d));
    req.on('end', () => r(s));
    req.on('error', j);
  });
}
