export type { Workspace, WorkspaceEntry, ListPage, ListOptions, WriteOptions } from './workspace';
export { DEFAULT_LIST_LIMIT, MAX_LIST_LIMIT } from './workspace';
export { pathProblem, listPrefixProblem, normaliseListPrefix, normalisePath, MAX_PATH_BYTES, MAX_SEGMENT_BYTES } from './normalise-path';
export { workspaceRoot, tenantRoot, scopeWorkspace } from './scope-workspace';
export { FsWorkspace, type FsWorkspaceOptions } from './fs-workspace';
export { S3Workspace, createS3Client, type S3WorkspaceOptions } from './s3-workspace';
export { createWorkspace, workspaceFromSettings, s3Settings, type WorkspaceDriverConfig, type WorkspaceSettings } from './create-workspace';
export { meterWorkspace, type UsageMeter, type WorkspaceCaps } from './metered-workspace';
