/**
 * The Kubernetes manifests and the compose file, checked without a cluster: every kustomize
 * build (base, each overlay, the hpa-external component) is rendered with
 * `kubectl kustomize`, every object is validated against the Kubernetes OpenAPI schemas
 * (kubernetes-models), and the properties the design depends on are asserted: the worker's
 * grace period outlasts its drain, probes hit the right paths and ports, pods run as
 * non-root, the example Secret holds placeholders only, the sandbox reaches only DNS and S3 (for its presigned transfers), the worker's Role equals the executor's API calls, the
 * worker autoscaler reads the whole backlog, prod leaves nothing site-specific hard-coded, and
 * the ConfigMaps load with packages/config. The smoke Job is rendered through each overlay's
 * smoke/ and checked against the Dockerfile's cli target and the built yardctl; compose and
 * the operator docs (port-forward ports, links) are checked against the same facts.
 *
 * The schemas accept unknown fields, so a misspelled field name passes the schema check
 * (the API server's strict field validation would refuse it at apply time); the assertions
 * on probes, ports, security contexts and references cover the fields that matter most.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { parse, parseAllDocuments } from 'yaml';
import { loadConfig } from '@agentyard/config';
import { K8S_API_CALLS } from '@agentyard/executor';
import { freePort } from '../helpers/global-setup';

const REPO = resolve(__dirname, '../..');
const K8S = join(REPO, 'k8s');
const KUBECTL = process.env.KUBECTL ?? (existsSync('/usr/bin/kubectl') ? '/usr/bin/kubectl' : 'kubectl');

interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  [field: string]: unknown;
}

// Loose shapes for the parts of pod specs the assertions read; the schema check above them
// is what guarantees the structure.
interface Probe {
  httpGet?: { path: string; port: number | string };
}
interface Container {
  name: string;
  image: string;
  ports?: { name?: string; containerPort: number }[];
  env?: { name: string; value?: string; valueFrom?: Record<string, { name: string; key: string; optional?: boolean }> }[];
  envFrom?: { configMapRef?: { name: string }; secretRef?: { name: string } }[];
  livenessProbe?: Probe;
  readinessProbe?: Probe;
  securityContext?: SecurityContext;
  volumeMounts?: { name: string; mountPath: string }[];
  args?: string[];
}
interface SecurityContext {
  runAsNonRoot?: boolean;
  runAsUser?: number;
  allowPrivilegeEscalation?: boolean;
  readOnlyRootFilesystem?: boolean;
  capabilities?: { drop?: string[] };
  seccompProfile?: { type: string };
}
interface PodSpec {
  containers: Container[];
  initContainers?: Container[];
  securityContext?: SecurityContext;
  serviceAccountName?: string;
  terminationGracePeriodSeconds?: number;
  volumes?: { name: string; emptyDir?: unknown; persistentVolumeClaim?: { claimName: string } }[];
}
interface PodTemplate {
  metadata: { labels: Record<string, string> };
  spec: PodSpec;
}

/**
 * kubernetes-models class per apiVersion/kind used anywhere in k8s/. A kind missing here
 * fails the suite, so a new kind cannot slip in unvalidated. The value is the module under
 * kubernetes-models/ that exports a class named after the kind.
 */
const MODELS: Record<string, string> = {
  'v1/Namespace': 'v1/Namespace',
  'v1/ConfigMap': 'v1/ConfigMap',
  'v1/Secret': 'v1/Secret',
  'v1/Service': 'v1/Service',
  'v1/ServiceAccount': 'v1/ServiceAccount',
  'v1/ResourceQuota': 'v1/ResourceQuota',
  'v1/LimitRange': 'v1/LimitRange',
  'v1/PersistentVolumeClaim': 'v1/PersistentVolumeClaim',
  'apps/v1/Deployment': 'apps/v1/Deployment',
  'apps/v1/StatefulSet': 'apps/v1/StatefulSet',
  'batch/v1/Job': 'batch/v1/Job',
  'policy/v1/PodDisruptionBudget': 'policy/v1/PodDisruptionBudget',
  'autoscaling/v2/HorizontalPodAutoscaler': 'autoscaling/v2/HorizontalPodAutoscaler',
  'rbac.authorization.k8s.io/v1/Role': 'rbac.authorization.k8s.io/v1/Role',
  'rbac.authorization.k8s.io/v1/RoleBinding': 'rbac.authorization.k8s.io/v1/RoleBinding',
  'networking.k8s.io/v1/NetworkPolicy': 'networking.k8s.io/v1/NetworkPolicy',
};
/** Custom resources kubernetes-models does not cover; checked by hand below. */
const CUSTOM_KINDS = new Set(['keda.sh/v1alpha1/ScaledObject']);

/**
 * kubernetes-models v5 is ESM-only (exported under the "import" condition), which jest's
 * CommonJS runtime can neither resolve nor load, even through createRequire. So the
 * validation runs in a plain Node child process that imports the model classes; it reads
 * `[{module, kind, object}]` on stdin and writes one error message or null per object.
 */
const VALIDATOR = `
let input = '';
for await (const chunk of process.stdin) input += chunk;
const results = [];
for (const { module, kind, object } of JSON.parse(input)) {
  try {
    const Model = (await import('kubernetes-models/' + module))[kind];
    new Model(object).validate();
    results.push(null);
  } catch (e) {
    results.push(String(e && e.message ? e.message : e));
  }
}
process.stdout.write(JSON.stringify(results));
`;

function kustomize(dir: string): K8sObject[] {
  let out: string;
  try {
    out = execFileSync(KUBECTL, ['kustomize', dir], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    throw new Error(`kubectl kustomize ${dir} failed: ${err.stderr || err.message}`);
  }
  // Read as YAML 1.1, like the API server's decoder: a string such as `yes` that reached it
  // unquoted would be a boolean there, and the schema check below would then catch it.
  return parseAllDocuments(out, { version: '1.1' }).flatMap((doc) => {
    if (doc.errors.length > 0) throw new Error(`${dir}: ${doc.errors.map((er) => er.message).join('; ')}`);
    const obj = doc.toJS() as K8sObject | null;
    return obj ? [obj] : [];
  });
}

function schemaErrors(objects: K8sObject[]): string[] {
  const errors: string[] = [];
  const batch: { module: string; kind: string; object: K8sObject }[] = [];
  for (const o of objects) {
    const key = `${o.apiVersion}/${o.kind}`;
    if (CUSTOM_KINDS.has(key)) continue;
    const module = MODELS[key];
    if (!module) errors.push(`${key} ${o.metadata.name}: no schema model mapped for this kind`);
    else batch.push({ module, kind: o.kind, object: o });
  }
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', VALIDATOR], {
    cwd: REPO,
    input: JSON.stringify(batch),
    encoding: 'utf8',
  });
  if (r.status !== 0) throw new Error(`schema validator failed: ${r.stderr}`);
  (JSON.parse(r.stdout) as (string | null)[]).forEach((msg, i) => {
    const o = batch[i]!.object;
    if (msg) errors.push(`${o.kind} ${o.metadata.namespace ?? ''}/${o.metadata.name}: ${msg}`);
  });
  return errors;
}

/**
 * base plus a component, built from a throwaway kustomization outside the repo (kustomize
 * takes relative paths only).
 */
function kustomizeBaseWith(component: string): K8sObject[] {
  const dir = mkdtempSync(join(tmpdir(), 'ay-kustomize-'));
  try {
    writeFileSync(
      join(dir, 'kustomization.yaml'),
      [
        'apiVersion: kustomize.config.k8s.io/v1beta1',
        'kind: Kustomization',
        'resources:',
        `  - ${relative(dir, join(K8S, 'base'))}`,
        'components:',
        `  - ${relative(dir, join(K8S, component))}`,
        '',
      ].join('\n'),
    );
    return kustomize(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function find<T = Record<string, unknown>>(objects: K8sObject[], kind: string, name: string): K8sObject & T {
  const o = objects.find((x) => x.kind === kind && x.metadata.name === name);
  if (!o) throw new Error(`no ${kind} named ${name} in [${objects.map((x) => `${x.kind}/${x.metadata.name}`).join(', ')}]`);
  return o as K8sObject & T;
}

type Workload = K8sObject & { spec: { replicas?: number; template: PodTemplate } };

function workloads(objects: K8sObject[]): Workload[] {
  return objects.filter((o) => ['Deployment', 'StatefulSet', 'Job'].includes(o.kind)) as Workload[];
}

function container(objects: K8sObject[], deployment: string, name: string): Container {
  const c = (find(objects, 'Deployment', deployment) as Workload).spec.template.spec.containers.find((x) => x.name === name);
  if (!c) throw new Error(`Deployment ${deployment} has no container ${name}`);
  return c;
}

/** A probe's port as a number, resolving a named port through the container's ports. */
function probePort(c: Container, probe: Probe | undefined): number | undefined {
  const port = probe?.httpGet?.port;
  if (typeof port === 'number') return port;
  return c.ports?.find((p) => p.name === port)?.containerPort;
}

function configValue(objects: K8sObject[], key: string): string | undefined {
  return (find(objects, 'ConfigMap', 'agentyard-config') as K8sObject & { data: Record<string, string> }).data[key];
}

function secretData(objects: K8sObject[]): Record<string, string> {
  const s = find(objects, 'Secret', 'agentyard-secrets') as K8sObject & {
    data?: Record<string, string>;
    stringData?: Record<string, string>;
  };
  const decoded = Object.fromEntries(
    Object.entries(s.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]),
  );
  return { ...decoded, ...(s.stringData ?? {}) };
}

/** What the `restricted` Pod Security Standard (and our own rules) would refuse in a build's workloads. */
function securityProblems(objects: K8sObject[]): string[] {
  const problems: string[] = [];
  for (const w of workloads(objects)) {
    const pod = w.spec.template.spec;
    if (pod.securityContext?.seccompProfile?.type !== 'RuntimeDefault') problems.push(`${w.metadata.name}: seccomp`);
    for (const c of [...(pod.initContainers ?? []), ...pod.containers]) {
      const id = `${w.kind}/${w.metadata.name}/${c.name}`;
      const nonRoot = c.securityContext?.runAsNonRoot ?? pod.securityContext?.runAsNonRoot;
      const uid = c.securityContext?.runAsUser ?? pod.securityContext?.runAsUser;
      if (nonRoot !== true) problems.push(`${id}: runAsNonRoot is not true`);
      // A numeric uid is what lets the kubelet verify runAsNonRoot for images whose USER is a name.
      if (typeof uid !== 'number' || uid === 0) problems.push(`${id}: runAsUser ${uid}`);
      if (c.securityContext?.allowPrivilegeEscalation !== false) problems.push(`${id}: allowPrivilegeEscalation`);
      if (c.securityContext?.readOnlyRootFilesystem !== true) problems.push(`${id}: readOnlyRootFilesystem`);
      if (!c.securityContext?.capabilities?.drop?.includes('ALL')) problems.push(`${id}: capabilities not dropped`);
    }
  }
  return problems;
}

const CLUSTER_SCOPED = new Set(['Namespace']);

const builds: Record<string, () => K8sObject[]> = {
  base: () => kustomize(join(K8S, 'base')),
  'overlays/dev': () => kustomize(join(K8S, 'overlays/dev')),
  'overlays/prod': () => kustomize(join(K8S, 'overlays/prod')),
  'base + autoscaling/hpa-external': () => kustomizeBaseWith('autoscaling/hpa-external'),
};

/** The smoke Job as each overlay renders it (`kubectl create -k k8s/overlays/<env>/smoke`). */
const smokeBuilds: Record<string, { build: () => K8sObject[]; deployment: string }> = {
  'overlays/dev/smoke': { build: () => kustomize(join(K8S, 'overlays/dev/smoke')), deployment: 'overlays/dev' },
  'overlays/prod/smoke': { build: () => kustomize(join(K8S, 'overlays/prod/smoke')), deployment: 'overlays/prod' },
};

/** Each build renders once, on first use, so a broken one fails only its own tests. */
const cache = new Map<string, K8sObject[]>();
function rendered(name: string): K8sObject[] {
  const build = builds[name] ?? smokeBuilds[name]?.build;
  if (!build) throw new Error(`no build named ${name}`);
  if (!cache.has(name)) cache.set(name, build());
  return cache.get(name)!;
}

describe.each(Object.keys(builds))('%s', (name) => {
  const objs = () => rendered(name);

  it('validates every object against the Kubernetes schemas', () => {
    expect(objs().length).toBeGreaterThan(10);
    expect(schemaErrors(objs())).toEqual([]);
  });

  it('names a namespace on every namespaced object, agentyard or agentyard-sandbox', () => {
    const bad = objs()
      .filter((o) => !CLUSTER_SCOPED.has(o.kind))
      .filter((o) => !['agentyard', 'agentyard-sandbox'].includes(o.metadata.namespace ?? ''))
      .map((o) => `${o.kind}/${o.metadata.name}: ${o.metadata.namespace}`);
    expect(bad).toEqual([]);
  });

  it('runs every workload container as non-root, without privilege escalation or capabilities', () => {
    expect(securityProblems(objs())).toEqual([]);
  });

  it('refers only to ConfigMaps, Secret keys, ServiceAccounts and claims that the build defines', () => {
    const objects = objs();
    const has = (kind: string, n: string) => objects.some((o) => o.kind === kind && o.metadata.name === n);
    const problems: string[] = [];
    for (const w of workloads(objects)) {
      const pod = w.spec.template.spec;
      const id = `${w.kind}/${w.metadata.name}`;
      if (pod.serviceAccountName && !has('ServiceAccount', pod.serviceAccountName)) {
        problems.push(`${id}: ServiceAccount ${pod.serviceAccountName}`);
      }
      for (const v of pod.volumes ?? []) {
        const claim = v.persistentVolumeClaim?.claimName;
        if (claim && !has('PersistentVolumeClaim', claim)) problems.push(`${id}: claim ${claim}`);
      }
      for (const c of pod.containers) {
        for (const m of c.volumeMounts ?? []) {
          const declared =
            (pod.volumes ?? []).some((v) => v.name === m.name) ||
            ((w.spec as { volumeClaimTemplates?: { metadata: { name: string } }[] }).volumeClaimTemplates ?? []).some(
              (t) => t.metadata.name === m.name,
            );
          if (!declared) problems.push(`${id}/${c.name}: volume ${m.name}`);
        }
        for (const ref of c.envFrom ?? []) {
          if (ref.configMapRef && !has('ConfigMap', ref.configMapRef.name)) problems.push(`${id}: ConfigMap ${ref.configMapRef.name}`);
          if (ref.secretRef && !has('Secret', ref.secretRef.name)) problems.push(`${id}: Secret ${ref.secretRef.name}`);
        }
        for (const e of c.env ?? []) {
          const s = e.valueFrom?.secretKeyRef;
          if (s && !s.optional && secretData(objects)[s.key] === undefined) problems.push(`${id}: secret key ${s.key} (${e.name})`);
          const cm = e.valueFrom?.configMapKeyRef;
          if (cm && configValue(objects, cm.key) === undefined) problems.push(`${id}: config key ${cm.key} (${e.name})`);
        }
      }
    }
    expect(problems).toEqual([]);
  });

  it('gives every Service a selector that matches a pod template and target ports those pods name', () => {
    const objects = objs();
    const problems: string[] = [];
    const services = objects.filter((o) => o.kind === 'Service') as (K8sObject & {
      spec: { selector: Record<string, string>; ports: { targetPort: string | number }[] };
    })[];
    for (const s of services) {
      const pods = workloads(objects).filter((w) =>
        Object.entries(s.spec.selector).every(([k, v]) => w.spec.template.metadata.labels[k] === v),
      );
      if (pods.length === 0) problems.push(`Service ${s.metadata.name}: selects no pod template`);
      for (const p of s.spec.ports) {
        const named = pods.some((w) =>
          w.spec.template.spec.containers.some((c) =>
            (c.ports ?? []).some((cp) => cp.name === p.targetPort || cp.containerPort === p.targetPort),
          ),
        );
        if (!named) problems.push(`Service ${s.metadata.name}: targetPort ${p.targetPort}`);
      }
    }
    expect(problems).toEqual([]);
  });

  it('keeps the agentyard-secrets keys free of anything but placeholders, outside the dev overlay', () => {
    const data = secretData(objs());
    expect(Object.keys(data)).toEqual(expect.arrayContaining(['API_KEYS', 'S3_ACCESS_KEY', 'S3_SECRET_KEY', 'LLM_API_KEY', 'SMOKE_TOKEN']));
    if (name === 'overlays/dev') {
      // Dev carries known local-only values (overlays/dev/patches/secrets.yaml) so that
      // `kubectl apply -k` yields a working stack; it has no model, so the LLM key stays a
      // placeholder.
      expect(data.LLM_API_KEY).toBe('REPLACE_ME');
    } else {
      expect(Object.entries(data).filter(([, v]) => v !== 'REPLACE_ME')).toEqual([]);
    }
  });

  it('configures the model endpoint in the ConfigMap and its key only in the Secret', () => {
    const cm = find(objs(), 'ConfigMap', 'agentyard-config') as K8sObject & { data: Record<string, string> };
    expect(Object.keys(cm.data)).toEqual(expect.arrayContaining(['LLM_BASE_URL', 'LLM_MODEL']));
    expect(Object.keys(cm.data)).not.toContain('LLM_API_KEY');
    expect(secretData(objs())).toHaveProperty('LLM_API_KEY');
    // Either both or neither: a URL without a model (or the reverse) is a half-configured model.
    expect(cm.data.LLM_BASE_URL === '').toBe(cm.data.LLM_MODEL === '');
  });

  it('sets EXECUTOR to k8s in prod and leaves it none elsewhere (dev and the base run no sandbox)', () => {
    expect(configValue(objs(), 'EXECUTOR')).toBe(name === 'overlays/prod' ? 'k8s' : 'none');
  });

  it('gives the apps a configuration packages/config accepts once the Secret is filled in', () => {
    // Secret placeholders are meant to fail (the api refuses API_KEYS=REPLACE_ME), so they
    // are filled with well-formed values; ConfigMap placeholders are left as they are.
    const filled: Record<string, string> = { API_KEYS: 'acme:tok_acme_12345', REDIS_URL: 'rediss://default:pw@redis.example.com:6380/0' };
    const secret = Object.fromEntries(Object.entries(secretData(objs())).map(([k, v]) => [k, v === 'REPLACE_ME' ? (filled[k] ?? 'secret-value') : v]));
    const cm = (find(objs(), 'ConfigMap', 'agentyard-config') as K8sObject & { data: Record<string, string> }).data;
    const config = loadConfig({ ...cm, ...secret }, { requireApiKeys: true });
    expect(config.WORKSPACE_DRIVER).toBe('s3');
    expect(config.EXECUTOR).toBe(name === 'overlays/prod' ? 'k8s' : 'none');
  });

  it('runs the worker with a grace period longer than its drain, probes on :9464 and its labels', () => {
    const objects = objs();
    const worker = find(objects, 'Deployment', 'agent-worker') as Workload;
    const drainS = Number(configValue(objects, 'WORKER_DRAIN_S'));
    expect(drainS).toBeGreaterThan(0);
    expect(worker.spec.template.spec.terminationGracePeriodSeconds).toBeGreaterThan(drainS);

    const c = container(objects, 'agent-worker', 'worker');
    expect(c.ports).toContainEqual(expect.objectContaining({ name: 'metrics', containerPort: 9464 }));
    expect(configValue(objects, 'WORKER_METRICS_PORT')).toBe('9464');
    expect(c.livenessProbe?.httpGet?.path).toBe('/healthz');
    expect(probePort(c, c.livenessProbe)).toBe(9464);
    expect(c.readinessProbe?.httpGet?.path).toBe('/readyz');
    expect(probePort(c, c.readinessProbe)).toBe(9464);
    expect(worker.spec.template.spec.serviceAccountName).toBe('agent-worker');

    const labels = { 'app.kubernetes.io/name': 'agent-worker', 'app.kubernetes.io/component': 'worker', 'app.kubernetes.io/part-of': 'agentyard' };
    expect(worker.metadata.labels).toEqual(expect.objectContaining(labels));
    expect(worker.spec.template.metadata.labels).toEqual(expect.objectContaining(labels));
  });

  it('probes the api with /healthz for liveness and /readyz for readiness on its http port', () => {
    const objects = objs();
    const api = find(objects, 'Deployment', 'agent-api') as Workload;
    const c = container(objects, 'agent-api', 'api');
    const port = Number(configValue(objects, 'API_PORT'));
    expect(c.livenessProbe?.httpGet?.path).toBe('/healthz');
    expect(probePort(c, c.livenessProbe)).toBe(port);
    expect(c.readinessProbe?.httpGet?.path).toBe('/readyz');
    expect(probePort(c, c.readinessProbe)).toBe(port);
    expect(api.spec.template.metadata.labels).toEqual(
      expect.objectContaining({ 'app.kubernetes.io/name': 'agent-api', 'app.kubernetes.io/component': 'api', 'app.kubernetes.io/part-of': 'agentyard' }),
    );
    const pdb = find(objects, 'PodDisruptionBudget', 'agent-api') as K8sObject & { spec: { selector: { matchLabels: Record<string, string> } } };
    expect(api.spec.template.metadata.labels).toEqual(expect.objectContaining(pdb.spec.selector.matchLabels));
  });

  it('gives the api longer than preStop plus its drain before it is killed', () => {
    const objects = objs();
    const api = find(objects, 'Deployment', 'agent-api') as Workload;
    const preStop = container(objects, 'agent-api', 'api').lifecycle?.preStop?.exec?.command ?? [];
    const preStopS = preStop[0] === 'sleep' ? Number(preStop[1]) : 0;
    const drainS = Number(configValue(objects, 'API_DRAIN_S'));
    expect(drainS).toBeGreaterThan(0);
    expect(api.spec.template.spec.terminationGracePeriodSeconds).toBeGreaterThan(preStopS + drainS);
  });

  it('mounts an emptyDir at /tmp under the read-only root filesystem of api and worker', () => {
    for (const [deployment, cname] of [['agent-api', 'api'], ['agent-worker', 'worker']] as const) {
      const w = find(rendered(name), 'Deployment', deployment) as Workload;
      const mount = container(rendered(name), deployment, cname).volumeMounts?.find((m) => m.mountPath === '/tmp');
      expect(mount).toBeDefined();
      expect(w.spec.template.spec.volumes?.find((v) => v.name === mount!.name)?.emptyDir).toBeDefined();
    }
  });

  it('leaves the worker replica count to kubectl scale or an autoscaler, never to kubectl apply', () => {
    expect((find(objs(), 'Deployment', 'agent-worker') as Workload).spec.replicas).toBeUndefined();
  });

  it('denies all egress and ingress in the sandbox namespace except DNS and S3 for tool Job pods', () => {
    const policies = objs().filter((o) => o.kind === 'NetworkPolicy' && o.metadata.namespace === 'agentyard-sandbox') as (K8sObject & {
      spec: { podSelector: { matchLabels?: Record<string, string> }; policyTypes: string[]; egress?: Egress[]; ingress?: unknown[] };
    })[];
    interface Egress {
      to: { ipBlock?: { cidr: string }; namespaceSelector?: { matchLabels: Record<string, string> }; podSelector?: { matchLabels: Record<string, string> } }[];
      ports: { protocol: string; port: number }[];
    }
    const denies = (type: 'Egress' | 'Ingress') =>
      policies.some(
        (p) =>
          Object.keys(p.spec.podSelector).length === 0 &&
          p.spec.policyTypes.includes(type) &&
          (p.spec[type === 'Egress' ? 'egress' : 'ingress'] ?? []).length === 0,
      );
    expect(denies('Egress')).toBe(true);
    expect(denies('Ingress')).toBe(true);
    // Nothing opens ingress; the one egress hole is for the tool Jobs' transfers only.
    expect(policies.filter((p) => (p.spec.ingress ?? []).length > 0)).toEqual([]);
    const holes = policies.filter((p) => (p.spec.egress ?? []).length > 0);
    expect(holes.map((p) => p.metadata.name)).toEqual(['sandbox-transfer-egress']);
    const allow = holes[0]!;
    // The executor's Jobs carry this label (packages/executor/src/k8s-names.ts).
    expect(allow.spec.podSelector.matchLabels).toEqual({ 'app.kubernetes.io/managed-by': 'agentyard-worker' });
    const [dns, s3] = allow.spec.egress!;
    expect(dns!.to).toEqual([{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'kube-system' } }, podSelector: { matchLabels: { 'k8s-app': 'kube-dns' } } }]);
    expect(dns!.ports.map((p) => `${p.protocol}/${p.port}`).sort()).toEqual(['TCP/53', 'UDP/53']);
    expect(s3!.to).toHaveLength(1);
    expect(s3!.ports).toHaveLength(1);
    if (name === 'overlays/dev') {
      expect(s3!.to[0]!.podSelector).toEqual({ matchLabels: { 'app.kubernetes.io/name': 'minio' } });
      expect(s3!.ports[0]).toEqual({ protocol: 'TCP', port: 9000 });
    } else {
      // An address to fill in, never an open range.
      expect(s3!.to[0]!.ipBlock!.cidr).toContain('REPLACE_ME');
      expect(s3!.ports[0]).toEqual({ protocol: 'TCP', port: 443 });
    }
  });

  it('caps the sandbox with a ResourceQuota and a LimitRange', () => {
    const inSandbox = (kind: string) => objs().filter((o) => o.kind === kind && o.metadata.namespace === 'agentyard-sandbox');
    expect(inSandbox('ResourceQuota')).toHaveLength(1);
    expect(inSandbox('LimitRange')).toHaveLength(1);
    const sa = find(objs(), 'ServiceAccount', 'default') as K8sObject & { automountServiceAccountToken?: boolean };
    expect(sa.metadata.namespace).toBe('agentyard-sandbox');
    expect(sa.automountServiceAccountToken).toBe(false);
  });

  it('lets agent-worker make exactly the executor’s API calls, in agentyard-sandbox only', () => {
    const objects = objs();
    const role = find(objects, 'Role', 'agent-worker-executor') as K8sObject & {
      rules: { apiGroups: string[]; resources: string[]; verbs: string[] }[];
    };
    expect(role.metadata.namespace).toBe('agentyard-sandbox');
    const verbsFor = (group: string, resource: string) =>
      role.rules.filter((r) => r.apiGroups.includes(group) && r.resources.includes(resource)).flatMap((r) => r.verbs).sort();
    // The Role's rules equal K8S_API_CALLS, the list the executor's code keeps of what it calls.
    const granted = role.rules.flatMap((r) => r.apiGroups.flatMap((g) => r.resources.flatMap((res) => r.verbs.map((v) => `${g}/${res}:${v}`)))).sort();
    const called = K8S_API_CALLS.flatMap((c) => c.verbs.map((v) => `${c.apiGroup}/${c.resource}:${v}`)).sort();
    expect(granted).toEqual(called);
    expect(verbsFor('batch', 'jobs')).toEqual(['create', 'delete', 'get']);
    expect(role.rules.flatMap((r) => r.verbs)).not.toContain('*');

    const binding = find(objects, 'RoleBinding', 'agent-worker-executor') as K8sObject & {
      roleRef: { kind: string; name: string };
      subjects: { kind: string; name: string; namespace: string }[];
    };
    expect(binding.metadata.namespace).toBe('agentyard-sandbox');
    expect(binding.roleRef).toEqual(expect.objectContaining({ kind: 'Role', name: 'agent-worker-executor' }));
    expect(binding.subjects).toEqual([{ kind: 'ServiceAccount', name: 'agent-worker', namespace: 'agentyard' }]);
    expect(objects.filter((o) => o.kind === 'ClusterRole' || o.kind === 'ClusterRoleBinding')).toEqual([]);
  });
});

describe('base', () => {
  const objs = () => rendered('base');

  it('scales the api on CPU with an autoscaling/v2 HPA', () => {
    const hpa = find(objs(), 'HorizontalPodAutoscaler', 'agent-api') as K8sObject & {
      spec: { scaleTargetRef: { name: string }; metrics: { type: string; resource?: { name: string } }[] };
    };
    expect(hpa.spec.scaleTargetRef.name).toBe('agent-api');
    expect(hpa.spec.metrics).toContainEqual(expect.objectContaining({ type: 'Resource', resource: expect.objectContaining({ name: 'cpu' }) }));
    expect((find(objs(), 'Deployment', 'agent-api') as Workload).spec.replicas).toBeUndefined();
  });

  it('includes no worker autoscaler: overlays choose KEDA or hpa-external', () => {
    expect(objs().filter((o) => o.kind === 'ScaledObject')).toEqual([]);
    expect(objs().filter((o) => o.kind === 'HorizontalPodAutoscaler').map((o) => o.metadata.name)).toEqual(['agent-api']);
  });
});

describe('overlays/dev', () => {
  const objs = () => rendered('overlays/dev');

  it('runs Redis as a StatefulSet with AOF, noeviction and a volume claim template, behind Service redis', () => {
    const redis = find(objs(), 'StatefulSet', 'redis') as Workload & { spec: { volumeClaimTemplates?: unknown[] } };
    const args = redis.spec.template.spec.containers[0]!.args!.join(' ');
    expect(args).toContain('--appendonly yes');
    expect(args).toContain('--maxmemory-policy noeviction');
    expect(redis.spec.volumeClaimTemplates).toHaveLength(1);
    expect(redis.spec.replicas).toBe(1);
    find(objs(), 'Service', 'redis');
    expect(configValue(objs(), 'REDIS_URL')).toBe('redis://redis:6379');
  });

  it('points the s3 workspace at the in-cluster MinIO and creates its bucket with a Job', () => {
    expect(configValue(objs(), 'WORKSPACE_DRIVER')).toBe('s3');
    expect(configValue(objs(), 'S3_ENDPOINT')).toBe('http://minio:9000');
    expect(configValue(objs(), 'S3_FORCE_PATH_STYLE')).toBe('true');
    const minio = find(objs(), 'Deployment', 'minio') as Workload;
    expect(minio.spec.replicas).toBe(1);
    find(objs(), 'Service', 'minio');
    const job = find(objs(), 'Job', 'minio-create-bucket') as Workload;
    expect(job.spec.template.spec.containers[0]!.args!.join(' ')).toContain('mb --ignore-existing');
  });

  it('has no autoscaler, so api and worker run one replica each', () => {
    expect(objs().filter((o) => o.kind === 'HorizontalPodAutoscaler' || o.kind === 'ScaledObject')).toEqual([]);
    expect((find(objs(), 'Deployment', 'agent-api') as Workload).spec.replicas ?? 1).toBe(1);
    expect((find(objs(), 'Deployment', 'agent-worker') as Workload).spec.replicas ?? 1).toBe(1);
  });
});

describe('overlays/prod', () => {
  const objs = () => rendered('overlays/prod');

  interface ScaledObject {
    spec: {
      scaleTargetRef: { apiVersion?: string; kind?: string; name: string };
      minReplicaCount?: number;
      maxReplicaCount?: number;
      advanced?: { horizontalPodAutoscalerConfig?: { behavior?: { scaleDown?: { stabilizationWindowSeconds?: number } } } };
      triggers: { type: string; metadata: Record<string, unknown> }[];
    };
  }

  it('has a well-formed KEDA ScaledObject (no schema model covers it, so checked field by field)', () => {
    const so = find<ScaledObject>(objs(), 'ScaledObject', 'agent-worker');
    expect(so.apiVersion).toBe('keda.sh/v1alpha1');
    expect(so.metadata.namespace).toBe('agentyard');
    expect(so.spec.scaleTargetRef).toEqual({ apiVersion: 'apps/v1', kind: 'Deployment', name: 'agent-worker' });
    expect(so.spec.minReplicaCount).toBeGreaterThanOrEqual(1);
    expect(so.spec.maxReplicaCount).toBeGreaterThan(so.spec.minReplicaCount!);
    expect(so.spec.triggers.length).toBeGreaterThan(0);
    for (const t of so.spec.triggers) {
      expect(typeof t.type).toBe('string');
      // Trigger metadata is map[string]string in KEDA's CRD: a bare number is rejected.
      expect(Object.entries(t.metadata).filter(([, v]) => typeof v !== 'string')).toEqual([]);
    }
    expect(so.spec.advanced?.horizontalPodAutoscalerConfig?.behavior?.scaleDown?.stabilizationWindowSeconds).toBeGreaterThan(0);
  });

  it('scales the worker on the whole backlog: waiting, prioritized and due delayed runs', () => {
    const so = find<ScaledObject>(objs(), 'ScaledObject', 'agent-worker');
    const prom = so.spec.triggers.find((t) => t.type === 'prometheus');
    expect(prom).toBeDefined();
    const query = String(prom!.metadata.query);
    expect(query).toContain('agentyard_queue_depth');
    const states = /state=~"([^"]+)"/.exec(query)?.[1]?.split('|').sort();
    expect(states).toEqual(['delayed_due', 'prioritized', 'waiting']);
    expect(Number(prom!.metadata.threshold)).toBe(Number(configValue(objs(), 'WORKER_CONCURRENCY')));
    expect(String(prom!.metadata.serverAddress)).toMatch(/^https?:\/\//);
  });

  it('keeps a single autoscaler per Deployment, with no replica counts for kubectl apply to reset', () => {
    const hpas = objs().filter((o) => o.kind === 'HorizontalPodAutoscaler') as (K8sObject & {
      spec: { scaleTargetRef: { name: string }; minReplicas: number };
    })[];
    expect(hpas.map((h) => h.spec.scaleTargetRef.name)).toEqual(['agent-api']);
    expect(hpas[0]!.spec.minReplicas).toBeGreaterThan(1);
    expect((find(objs(), 'Deployment', 'agent-api') as Workload).spec.replicas).toBeUndefined();
  });

  it('leaves no site-specific value hard-coded: every address outside the cluster, image and name to fill reads REPLACE_ME', () => {
    const objects = [...objs(), ...rendered('overlays/prod/smoke')];
    const hardCoded: string[] = [];
    const walk = (v: unknown, path: string) => {
      if (typeof v === 'string') {
        const url = /^[a-z][a-z0-9+.-]*:\/\/([^/:?#]*)/i.exec(v);
        // In-cluster Service names (agent-api.agentyard.svc) are the same at every site.
        if (url && !v.includes('REPLACE_ME') && !/(^|\.)svc(\.cluster\.local)?$/.test(url[1]!)) hardCoded.push(`${path}: ${v}`);
        if (/\.image$/.test(path) && !v.startsWith('REPLACE_ME/')) hardCoded.push(`${path}: ${v}`);
      } else if (Array.isArray(v)) v.forEach((x, i) => walk(x, `${path}[${i}]`));
      else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) walk(x, `${path}.${k}`);
    };
    for (const o of objects) walk(o, `${o.kind}/${o.metadata.name}`);
    expect(hardCoded).toEqual([]);
    for (const key of ['S3_ENDPOINT', 'S3_REGION', 'S3_BUCKET', 'LLM_BASE_URL', 'LLM_MODEL']) {
      expect([key, configValue(objs(), key)]).toEqual([key, expect.stringContaining('REPLACE_ME')]);
    }
    const so = find<ScaledObject>(objs(), 'ScaledObject', 'agent-worker');
    expect(so.spec.triggers.find((t) => t.type === 'prometheus')!.metadata.serverAddress).toContain('REPLACE_ME');
  });

  it('takes Redis and S3 from external placeholders, with the Redis URL in the Secret', () => {
    expect(configValue(objs(), 'REDIS_URL')).toBeUndefined();
    expect(configValue(objs(), 'S3_ENDPOINT')).toContain('REPLACE_ME');
    expect(configValue(objs(), 'S3_BUCKET')).toBe('REPLACE_ME');
    expect(secretData(objs()).REDIS_URL).toBe('REPLACE_ME');
    for (const [deployment, cname] of [['agent-api', 'api'], ['agent-worker', 'worker']] as const) {
      const env = container(objs(), deployment, cname).env ?? [];
      expect(env.find((e) => e.name === 'REDIS_URL')?.valueFrom?.secretKeyRef).toEqual({ name: 'agentyard-secrets', key: 'REDIS_URL' });
    }
  });
});

describe('base + autoscaling/hpa-external', () => {
  it('scales agent-worker with an HPA on an External metric instead of KEDA', () => {
    const objs = rendered('base + autoscaling/hpa-external');
    expect(objs.filter((o) => o.kind === 'ScaledObject')).toEqual([]);
    const hpa = find(objs, 'HorizontalPodAutoscaler', 'agent-worker') as K8sObject & {
      spec: {
        scaleTargetRef: { name: string };
        minReplicas: number;
        metrics: { type: string }[];
        behavior?: { scaleDown?: { stabilizationWindowSeconds?: number } };
      };
    };
    expect(hpa.spec.scaleTargetRef.name).toBe('agent-worker');
    expect(hpa.spec.minReplicas).toBeGreaterThanOrEqual(1);
    expect(hpa.spec.metrics.map((m) => m.type)).toEqual(['External']);
    expect(hpa.spec.behavior?.scaleDown?.stabilizationWindowSeconds).toBeGreaterThan(0);
  });
});

describe('docker/compose.yaml', () => {
  interface ComposeService {
    image?: string;
    command?: string[];
    build?: { context: string; dockerfile: string; target: string };
    environment?: Record<string, string>;
    depends_on?: Record<string, { condition: string }>;
    healthcheck?: unknown;
    stop_grace_period?: string;
  }
  const composePath = join(REPO, 'docker/compose.yaml');
  const compose = () => parse(readFileSync(composePath, 'utf8'), { merge: true }) as { services: Record<string, ComposeService> };

  it('builds api, worker and cli from the repository root with targets the Dockerfile defines', () => {
    const { services } = compose();
    for (const name of ['api', 'worker', 'cli']) {
      const build = services[name]!.build!;
      expect(resolve(join(REPO, 'docker'), build.context)).toBe(REPO);
      const dockerfile = readFileSync(resolve(join(REPO, 'docker'), build.context, build.dockerfile), 'utf8');
      expect(dockerfile).toMatch(new RegExp(`^FROM \\S+ AS ${build.target}$`, 'm'));
    }
  });

  it('runs Redis with AOF and noeviction, and starts the apps only after their dependencies are healthy', () => {
    const { services } = compose();
    expect(services.redis!.command!.join(' ')).toContain('--appendonly yes --maxmemory-policy noeviction');
    for (const name of ['api', 'worker']) {
      const s = services[name]!;
      expect(s.environment?.REDIS_URL).toBe('redis://redis:6379');
      expect(s.environment?.S3_ENDPOINT).toBe('http://minio:9000');
      expect(s.depends_on?.redis?.condition).toBe('service_healthy');
      expect(s.depends_on?.minio?.condition).toBe('service_healthy');
      expect(s.depends_on?.['minio-create-bucket']?.condition).toBe('service_completed_successfully');
      expect(s.healthcheck).toBeDefined();
    }
  });

  it('deploys each app the way scripts/check-deploy rehearses it (locked versions, offline)', () => {
    const deployFlags = (text: string) => {
      const line = text.replace(/\\\n\s*/g, ' ').match(/pnpm(?:_cmd)? deploy (--[^\n]*)/)?.[1] ?? '';
      return line.split(/\s+/).filter((w) => w.startsWith('--') && !w.startsWith('--reporter')).sort();
    };
    const dockerfile = deployFlags(readFileSync(join(REPO, 'docker/Dockerfile'), 'utf8'));
    const rehearsal = deployFlags(readFileSync(join(REPO, 'scripts/check-deploy'), 'utf8'));
    expect(dockerfile).toEqual(expect.arrayContaining(['--prod', '--config.inject-workspace-packages=true', '--offline', '--store-dir', '--filter']));
    expect(dockerfile).not.toContain('--legacy');
    expect(rehearsal).toEqual(dockerfile);
  });

  it('sets EXECUTOR to none in compose, like the base manifests (the tools are opt-in)', () => {
    expect(compose().services.worker!.environment?.EXECUTOR).toBe('none');
  });

  it('points the cli service at the api service with a token the api accepts by default', () => {
    const { services } = compose();
    const cli = services.cli!;
    expect(cli.environment?.AGENTYARD_API_URL).toBe(`http://api:${services.api!.environment?.API_PORT}`);
    expect(cli.depends_on?.api?.condition).toBe('service_healthy');
    const defaultKeys = /^\$\{API_KEYS:-(.*)\}$/.exec(services.api!.environment!.API_KEYS!)?.[1] ?? '';
    const defaultToken = /^\$\{AGENTYARD_TOKEN:-(.*)\}$/.exec(cli.environment!.AGENTYARD_TOKEN!)?.[1];
    expect(defaultKeys.split(',').map((k) => k.split(':')[1])).toContain(defaultToken);
  });

  it('gives a stopping worker longer than its drain before compose kills it', () => {
    const worker = compose().services.worker!;
    expect(parseInt(worker.stop_grace_period ?? '10s', 10)).toBeGreaterThan(Number(worker.environment?.WORKER_DRAIN_S));
  });
});

/** `docker build --target X -t NAME:tag` lines of the Dockerfile's header: target -> image name. */
function dockerfileImages(dockerfile: string): Record<string, string> {
  return Object.fromEntries([...dockerfile.matchAll(/--target (\S+)\s+-t ([^:\s]+):/g)].map((m) => [m[1]!, m[2]!]));
}

describe('images: docker/Dockerfile, compose and the manifests agree', () => {
  const dockerfile = readFileSync(join(REPO, 'docker/Dockerfile'), 'utf8');
  const images = dockerfileImages(dockerfile);
  const imageName = (ref: string) => ref.replace(/:[^/:]+$/, '').split('/').pop();

  it('names one image per app target, each a stage of the Dockerfile built from that app', () => {
    expect(images).toEqual({ api: 'agentyard-api', worker: 'agentyard-worker', cli: 'agentyard-cli' });
    for (const target of Object.keys(images)) {
      expect(dockerfile).toMatch(new RegExp(`^FROM \\S+ AS ${target}\\nCOPY --from=build /out/${target} /app$`, 'm'));
    }
    expect(dockerfile).toMatch(/for app in api worker cli; do/);
  });

  it('runs the images the Dockerfile builds, under the names it gives them', () => {
    const base = rendered('base');
    expect(imageName(container(base, 'agent-api', 'api').image)).toBe(images.api);
    expect(imageName(container(base, 'agent-worker', 'worker').image)).toBe(images.worker);
    const job = find(rendered('overlays/dev/smoke'), 'Job', 'agentyard-smoke') as Workload;
    expect(imageName(job.spec.template.spec.containers[0]!.image)).toBe(images.cli);
    const services = (parse(readFileSync(join(REPO, 'docker/compose.yaml'), 'utf8'), { merge: true }) as {
      services: Record<string, { image?: string; build?: { target: string } }>;
    }).services;
    for (const target of Object.keys(images)) {
      expect([target, services[target]?.build?.target, imageName(services[target]?.image ?? '')]).toEqual([target, target, images[target]]);
    }
  });
});

describe.each(Object.keys(smokeBuilds))('%s', (name) => {
  const objs = () => rendered(name);
  const deployment = () => rendered(smokeBuilds[name]!.deployment);
  const job = () => find(objs(), 'Job', 'agentyard-smoke') as Workload & { spec: { backoffLimit?: number } };
  const smoke = () => job().spec.template.spec.containers[0]! as Container & { command?: string[] };

  it('is the smoke Job alone, valid against the schemas and as locked down as the apps', () => {
    expect(objs().map((o) => `${o.kind}/${o.metadata.namespace}/${o.metadata.name}`)).toEqual(['Job/agentyard/agentyard-smoke']);
    expect(schemaErrors(objs())).toEqual([]);
    expect(securityProblems(objs())).toEqual([]);
    expect(job().spec.backoffLimit).toBe(0);
    expect(job().spec.template.spec.restartPolicy).toBe('Never');
  });

  it("runs the overlay's cli image: the api's registry and tag, built from the Dockerfile's cli target", () => {
    const api = container(deployment(), 'agent-api', 'api').image;
    const images = dockerfileImages(readFileSync(join(REPO, 'docker/Dockerfile'), 'utf8'));
    expect(smoke().image).toBe(api.replace(images.api!, images.cli!));
    expect(smoke().image).not.toBe(api);
  });

  it('runs yardctl smoke through the image entrypoint, with arguments yardctl accepts', async () => {
    const dockerfile = readFileSync(join(REPO, 'docker/Dockerfile'), 'utf8');
    const stage = dockerfile.slice(dockerfile.indexOf('FROM runtime AS cli'));
    expect(stage).toMatch(/^ENTRYPOINT \["\/usr\/bin\/tini", "--", "node", "\/app\/dist\/main.js"\]$/m);
    // No command: a command would replace the ENTRYPOINT, and args would no longer reach yardctl.
    expect(smoke().command).toBeUndefined();
    const args = smoke().args!;
    expect(args[0]).toBe('smoke');
    const cli = join(REPO, 'apps/cli/dist/main.js');
    if (!existsSync(cli)) throw new Error(`${cli} is missing: run the build (pnpm build) first`);
    // Against a port nothing listens on: a usage error would exit 2 before any check ran;
    // with arguments yardctl accepts, smoke runs and fails its first check (exit 1).
    const url = `http://127.0.0.1:${await freePort()}`;
    const r = spawnSync(process.execPath, [cli, ...args, '--api-url', url, '--token', 'tok_unused'], { encoding: 'utf8', env: { PATH: process.env.PATH ?? '' } });
    expect([r.status, r.stderr]).toEqual([1, expect.stringContaining('SMOKE_FAILED:health')]);
  });

  it("reaches the overlay's api Service and takes SMOKE_TOKEN from the overlay's Secret", () => {
    const env = Object.fromEntries((smoke().env ?? []).map((e) => [e.name, e]));
    const url = new URL(env.AGENTYARD_API_URL!.value!);
    const [svcName, namespace] = url.hostname.split('.');
    const service = find(deployment(), 'Service', svcName!) as K8sObject & { spec: { ports: { port: number }[] } };
    expect(namespace).toBe(service.metadata.namespace);
    expect(service.spec.ports.map((p) => p.port)).toContain(Number(url.port || (url.protocol === 'https:' ? 443 : 80)));
    expect(env.AGENTYARD_TOKEN!.valueFrom!.secretKeyRef).toEqual({ name: 'agentyard-secrets', key: 'SMOKE_TOKEN' });
    const secret = secretData(deployment());
    expect(secret.SMOKE_TOKEN).toBeDefined();
    if (name === 'overlays/dev/smoke') {
      // Dev works as applied: its smoke token is one of its API keys.
      expect(secret.API_KEYS!.split(',').map((k) => k.split(':')[1])).toContain(secret.SMOKE_TOKEN);
    }
  });
});

describe('operator docs', () => {
  const docs = ['README.md', 'docs/RUNBOOK.md', 'k8s/README.md'];

  it('link only to files inside the repository, so a clone has no dead link', () => {
    const markdown = ['README.md', 'k8s/README.md', ...['docs', 'apps/cli'].flatMap((d) => readdirSync(join(REPO, d)).filter((f) => f.endsWith('.md')).map((f) => `${d}/${f}`))];
    const dead = markdown.flatMap((doc) =>
      [...readFileSync(join(REPO, doc), 'utf8').matchAll(/\]\(([^)\s]+)\)/g)]
        .map((m) => m[1]!.split('#')[0]!)
        .filter((target) => target !== '' && !/^[a-z]+:/.test(target))
        .map((target) => ({ doc, target, path: resolve(REPO, dirname(doc), target) }))
        .filter(({ path }) => !path.startsWith(`${REPO}/`) || !existsSync(path))
        .map(({ doc, target }) => `${doc}: ${target}`),
    );
    expect(markdown).toContain('docs/CONTRACT.md');
    expect(dead).toEqual([]);
  });

  it('port-forward only to ports the Services listen on', () => {
    const services = rendered('base').filter((o) => o.kind === 'Service') as (K8sObject & { spec: { ports: { port: number }[] } })[];
    const forwards = docs.flatMap((d) =>
      [...readFileSync(join(REPO, d), 'utf8').matchAll(/port-forward svc\/([a-z0-9-]+) (?:\d+:)?(\d+)/g)].map((m) => ({ doc: d, svc: m[1]!, port: Number(m[2]) })),
    );
    expect(forwards.length).toBeGreaterThan(1);
    const bad = forwards.filter((f) => !services.find((s) => s.metadata.name === f.svc)?.spec.ports.some((p) => p.port === f.port));
    expect(bad).toEqual([]);
  });
});
