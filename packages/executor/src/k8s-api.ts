import { StringDecoder } from 'node:string_decoder';
import { BatchV1Api, CoreV1Api, HttpMethod, KubeConfig, RequestContext, type V1Job, type V1Pod } from '@kubernetes/client-node';
import { fetch } from 'undici';
import { ExecError } from './exec-errors';

export { K8S_API_CALLS } from './k8s-api-calls';

export interface KubeJobsApi {
  createJob(namespace: string, job: V1Job): Promise<V1Job>;
  /** Undefined when no Job of that name exists. */
  getJob(namespace: string, name: string): Promise<V1Job | undefined>;
  /** Deletes with propagationPolicy Background (the garbage collector removes the pods); a missing Job is no error. */
  deleteJob(namespace: string, name: string): Promise<void>;
  listPods(namespace: string, labelSelector: string): Promise<V1Pod[]>;
  /**
   * Follows one container's log (follow=true), handing each complete line to onLine; resolves
   * when the stream ends (the container ended) or `signal` aborts.
   */
  followLog(namespace: string, pod: string, container: string, onLine: (line: string) => void, signal: AbortSignal): Promise<void>;
}

/** HTTP status of a failed API call, when it came from the API server. */
export function apiStatus(e: unknown): number | undefined {
  const code = (e as { code?: unknown })?.code;
  return typeof code === 'number' ? code : undefined;
}

export function describeApiError(e: unknown): string {
  const status = apiStatus(e);
  const body = (e as { body?: unknown })?.body;
  const message = typeof body === 'string' ? body : ((body as { message?: string } | undefined)?.message ?? (e as Error)?.message ?? String(e));
  return `${status ?? 'no status'}: ${String(message).slice(0, 300)}`;
}

/** A Kubernetes API call whose failure is the sandbox's, retryable. */
export async function k8s<T>(what: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (e) {
    if (e instanceof ExecError) throw e;
    throw ExecError.unavailable(`the Kubernetes API failed to ${what} (${describeApiError(e)})`, e);
  }
}

/** In-cluster service account when `kubeconfig` is unset, else that file. */
export function loadKubeConfig(kubeconfig?: string): KubeConfig {
  const kc = new KubeConfig();
  if (kubeconfig) kc.loadFromFile(kubeconfig);
  else kc.loadFromCluster();
  return kc;
}

export function createKubeJobsApi(kc: KubeConfig): KubeJobsApi {
  const batch = kc.makeApiClient(BatchV1Api);
  const core = kc.makeApiClient(CoreV1Api);
  return {
    createJob: (namespace, body) => batch.createNamespacedJob({ namespace, body }),
    async getJob(namespace, name) {
      try {
        return await batch.readNamespacedJob({ namespace, name });
      } catch (e) {
        if (apiStatus(e) === 404) return undefined;
        throw e;
      }
    },
    async deleteJob(namespace, name) {
      try {
        await batch.deleteNamespacedJob({ namespace, name, propagationPolicy: 'Background' });
      } catch (e) {
        if (apiStatus(e) !== 404) throw e;
      }
    },
    async listPods(namespace, labelSelector) {
      return (await core.listNamespacedPod({ namespace, labelSelector })).items;
    },
    async followLog(namespace, pod, container, onLine, signal) {
      // Not client-node's Log: it pipes the response into the sink without an error handler
      // on the source, so a connection that breaks mid-stream (or an abort) would surface as
      // an uncaught 'error' event and take the worker down.
      const cluster = kc.getCurrentCluster();
      if (!cluster) throw new Error('the kubeconfig has no current cluster');
      const url = new URL(`${cluster.server}/api/v1/namespaces/${encodeURIComponent(namespace)}/pods/${encodeURIComponent(pod)}/log`);
      url.searchParams.set('container', container);
      url.searchParams.set('follow', 'true');
      const ctx = new RequestContext(url.toString(), HttpMethod.GET);
      await kc.applySecurityAuthentication(ctx);
      const dispatcher = ctx.getDispatcher();
      const res = await fetch(url, { headers: ctx.getHeaders(), signal, ...(dispatcher ? { dispatcher } : {}) });
      if (res.status !== 200 || !res.body) {
        const body = await res.text().catch(() => '');
        throw Object.assign(new Error(`pods/log answered ${res.status}: ${body.slice(0, 300)}`), { code: res.status });
      }
      const decoder = new StringDecoder('utf8');
      let pending = '';
      try {
        for await (const chunk of res.body) {
          pending += decoder.write(Buffer.from(chunk as Uint8Array));
          let nl: number;
          while ((nl = pending.indexOf('\n')) >= 0) {
            onLine(pending.slice(0, nl));
            pending = pending.slice(nl + 1);
          }
        }
      } catch (e) {
        if (!signal.aborted) throw e;
      }
      pending += decoder.end();
      if (pending && !signal.aborted) onLine(pending);
    },
  };
}
