import { createReadStream } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as tar from 'tar';
import type { OutputCapture } from './output-capture';
import type { Snapshot } from './workspace-sync';

/**
 * The worker's side of moving files through S3 for one tool Job: where its objects live, the
 * tarball that goes in (`ws/` and `ctl/stdin`, see pod-scripts.ts) and unpacking the one that
 * comes back. The snapshot of what went in is stored next to the input, so a worker that
 * reattaches to another worker's Job can still tell what the command changed.
 */

export interface ExecKeys {
  input: string;
  snapshot: string;
  output: string;
}

/** Beside the tenant's workspaces (`tenants/<t>/workspaces/`), never inside one. */
export function execKeys(tenant: string, jobName: string): ExecKeys {
  const base = `tenants/${tenant}/exec/${jobName}`;
  return { input: `${base}/in.tar`, snapshot: `${base}/snapshot.json`, output: `${base}/out.tar` };
}

export function serialiseSnapshot(s: Snapshot): string {
  return JSON.stringify({ bytes: s.bytes, files: [...s.files.entries()] });
}

export function parseSnapshot(text: string): Snapshot {
  const raw = JSON.parse(text) as { bytes: number; files: [string, { size: number; sha256: string }][] };
  return { bytes: raw.bytes, files: new Map(raw.files) };
}

/** `dir/ws` (the materialised workspace) and the command's stdin, as `dir/in.tar`. */
export async function packInput(dir: string, stdin: string | undefined): Promise<string> {
  await mkdir(join(dir, 'in', 'ws'), { recursive: true });
  const entries = ['ws'];
  if (stdin !== undefined) {
    await mkdir(join(dir, 'in', 'ctl'), { recursive: true });
    await writeFile(join(dir, 'in', 'ctl', 'stdin'), stdin);
    entries.push('ctl');
  }
  const file = join(dir, 'in.tar');
  // portable: no uid/gid/uname of the worker in the archive; the pod's uid owns what it unpacks.
  await tar.c({ cwd: join(dir, 'in'), file, portable: true }, entries);
  return file;
}

/**
 * Unpacks the pod's `out.tar` into `dir/out`: regular files and directories only (a link the
 * command made is not written back anyway, and must not steer the unpacking outside `dir`).
 */
export async function unpackOutput(tarFile: string, dir: string): Promise<{ ws: string; exitCode: number | undefined }> {
  const out = join(dir, 'out');
  await mkdir(out, { recursive: true });
  await tar.x({
    file: tarFile,
    cwd: out,
    strict: false,
    filter: (_path, entry) => {
      const type = (entry as { type?: string }).type;
      return type === 'File' || type === 'Directory' || type === 'OldFile' || type === 'ContiguousFile';
    },
  });
  await mkdir(join(out, 'ws'), { recursive: true });
  const raw = await readFile(join(out, 'out', 'exit_code'), 'utf8').catch(() => undefined);
  const exitCode = raw === undefined || !/^\d+\s*$/.test(raw) ? undefined : Number.parseInt(raw, 10);
  return { ws: join(out, 'ws'), exitCode };
}

/** Feeds the whole streams the pod kept into the capture (their heads become the result). */
export async function captureStreams(dir: string, capture: OutputCapture): Promise<void> {
  for (const stream of ['stdout', 'stderr'] as const) {
    try {
      for await (const chunk of createReadStream(join(dir, 'out', 'out', stream))) capture.write(stream, chunk as Buffer);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
  }
}
