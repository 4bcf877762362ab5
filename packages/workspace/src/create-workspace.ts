import { FsWorkspace } from './fs-workspace';
import { S3Workspace } from './s3-workspace';
import type { Workspace } from './workspace';

/** The `WORKSPACE_*` / `S3_*` slice of the configuration, already validated. */
export type WorkspaceDriverConfig =
  | { driver: 'fs'; dir: string }
  | {
      driver: 's3';
      bucket: string;
      endpoint?: string;
      region: string;
      accessKeyId: string;
      secretAccessKey: string;
      forcePathStyle: boolean;
    };

export function createWorkspace(cfg: WorkspaceDriverConfig): Workspace {
  switch (cfg.driver) {
    case 'fs':
      return new FsWorkspace({ dir: cfg.dir });
    case 's3':
      return new S3Workspace({
        bucket: cfg.bucket,
        ...(cfg.endpoint === undefined ? {} : { endpoint: cfg.endpoint }),
        region: cfg.region,
        accessKeyId: cfg.accessKeyId,
        secretAccessKey: cfg.secretAccessKey,
        forcePathStyle: cfg.forcePathStyle,
      });
  }
}

/** The workspace settings as the validated environment spells them. */
export interface WorkspaceSettings {
  WORKSPACE_DRIVER: 'fs' | 's3';
  WORKSPACE_DIR: string;
  S3_ENDPOINT?: string | undefined;
  S3_REGION: string;
  S3_BUCKET?: string | undefined;
  S3_ACCESS_KEY?: string | undefined;
  S3_SECRET_KEY?: string | undefined;
  S3_FORCE_PATH_STYLE: boolean;
}

/** The S3 connection the environment names (the config check guarantees the fields when used). */
export function s3Settings(s: Omit<WorkspaceSettings, 'WORKSPACE_DRIVER' | 'WORKSPACE_DIR'>) {
  return {
    bucket: s.S3_BUCKET ?? '',
    ...(s.S3_ENDPOINT ? { endpoint: s.S3_ENDPOINT } : {}),
    region: s.S3_REGION,
    accessKeyId: s.S3_ACCESS_KEY ?? '',
    secretAccessKey: s.S3_SECRET_KEY ?? '',
    forcePathStyle: s.S3_FORCE_PATH_STYLE,
  };
}

/** The workspace the environment asks for (the config check guarantees the S3 fields). */
export function workspaceFromSettings(s: WorkspaceSettings): Workspace {
  if (s.WORKSPACE_DRIVER === 'fs') return createWorkspace({ driver: 'fs', dir: s.WORKSPACE_DIR });
  return createWorkspace({ driver: 's3', ...s3Settings(s) });
}
