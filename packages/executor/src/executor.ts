import type { Workspace } from '@agentyard/workspace';

/**
 * The contract every sandbox for shell and code tools meets (one conformance suite,
 * executor-conformance.ts, checks it against each):
 *
 * - The command runs in a directory holding the run's workspace files; files it creates,
 *   changes or deletes there are written back to the workspace when it ends and listed in
 *   `files_changed`. Nothing written anywhere else survives.
 * - A non-zero exit is a result, not an error. A timeout, an out-of-memory kill and a
 *   failure of the sandbox itself are ExecError (below), each with its retry decision.
 * - stdout and stderr are each capped at `limits.outputBytes` in the result (`truncated`);
 *   the whole stream is kept as a workspace file named in `stdout_file` / `stderr_file`.
 * - Lines reach `onOutput` while the command runs.
 * - An aborted `signal` (cancel, step or run timeout, shutdown) stops the whole process
 *   tree within 2 s and rejects with the signal's reason.
 * - The environment holds only what the request passes (plus PATH/HOME/LANG), never the
 *   worker's own (API keys, S3 or model credentials). No network.
 */
export interface Executor {
  readonly kind: 'local' | 'k8s';
  exec(req: ExecRequest): Promise<ExecResult>;
  /** Releases what the executor holds (watches, temp dirs); idempotent. */
  close(): Promise<void>;
}

export type Language = 'python' | 'node' | 'bash';

export interface ExecRequest {
  /** The program and its arguments, no shell: shell.exec's `command` arrives as ['/bin/sh', '-c', command]. */
  argv: string[];
  /** Working directory relative to the workspace root ('' = the root). */
  cwd?: string;
  env?: Record<string, string>;
  stdin?: string;
  timeoutS: number;
  /** code.run's language: the Kubernetes executor picks its image by it. */
  language?: Language;
  /** Who runs it: names, labels and reattachment derive from these. */
  runId: string;
  stepId: string;
  attempt: number;
  tenant: string;
  /** The run's workspace, scoped to it. */
  workspace: Workspace;
  signal: AbortSignal;
  /** Output lines while the command runs, each without its newline. */
  onOutput?(stream: 'stdout' | 'stderr', line: string): void;
}

export interface FileChange {
  path: string;
  change: 'created' | 'modified' | 'deleted';
}

export interface ExecResult {
  exit_code: number;
  stdout: string;
  stderr: string;
  /** True when stdout or stderr was cut at the output cap. */
  truncated: boolean;
  duration_ms: number;
  files_changed: FileChange[];
  /** Workspace paths of the whole streams, present when they were cut. */
  stdout_file?: string;
  stderr_file?: string;
}

/** Limits every executor enforces; config resolves them once. */
export interface ExecLimits {
  /** Bytes of stdout and of stderr kept in the result. @default 65536 */
  outputBytes: number;
  /** The workspace copied into the sandbox, refused before anything is copied. @default 256 MiB */
  workspaceBytes: number;
  /** Files in the workspace copied into the sandbox. @default 10000 */
  workspaceFiles: number;
  /** Memory of the process tree. @default 512 MiB */
  memoryBytes: number;
  /** CPU seconds of the process tree. @default the step timeout */
  cpuSeconds?: number;
  /** Largest file the program may write. @default 256 MiB */
  fileBytes: number;
  /** Processes the program may run at once. @default 256 */
  processes: number;
}

export const DEFAULT_EXEC_LIMITS: ExecLimits = {
  outputBytes: 64 * 1024,
  workspaceBytes: 256 * 1024 * 1024,
  workspaceFiles: 10_000,
  memoryBytes: 512 * 1024 * 1024,
  fileBytes: 256 * 1024 * 1024,
  processes: 256,
};
