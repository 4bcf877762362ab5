/**
 * The Kubernetes calls the executor makes, and nothing else: the worker's Role in the sandbox
 * namespace (k8s/base/sandbox/rbac.yaml) grants exactly K8S_API_CALLS, and the manifest test
 * compares the two. The executor polls (get the Job, list its pods) instead of watching, so
 * no `watch` or `list` on Jobs is needed; see k8s-job-executor.ts for why.
 */
export const K8S_API_CALLS = [
  { apiGroup: 'batch', resource: 'jobs', verbs: ['create', 'get', 'delete'] },
  { apiGroup: '', resource: 'pods', verbs: ['list'] },
  { apiGroup: '', resource: 'pods/log', verbs: ['get'] },
] as const;
