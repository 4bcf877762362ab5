import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import type { Workspace } from '@agentyard/workspace';
import type { ExecLimits } from './executor';

/**
 * What a command prints, captured three ways for every executor:
 *
 * - lines to `onOutput` as they complete (without the newline; a line longer than
 *   MAX_LINE_CHARS is delivered in pieces of that size, so a program that never prints a
 *   newline still streams), and the unfinished last line at `finish`;
 * - the first `limits.outputBytes` of each stream for the result, cut back to a whole UTF-8
 *   character;
 * - the whole stream, once it passes the cap, in a temp file (written synchronously, which
 *   holds back reading the pipe while the disk catches up, so a chatty program is not buffered
 *   in memory), saved to the workspace as `.agent/exec/<step>/<attempt>/<stream>.txt` by
 *   `save`. The spool itself stops at `limits.fileBytes` (the largest file a command may write)
 *   and says so in its last line.
 */

export type Stream = 'stdout' | 'stderr';

/** Longest line handed to onOutput in one piece. */
export const MAX_LINE_CHARS = 16 * 1024;

export interface OutputCaptureOptions {
  limits: Pick<ExecLimits, 'outputBytes' | 'fileBytes'>;
  onOutput?(stream: Stream, line: string): void;
  /** Parent of the spool directory. @default os.tmpdir() */
  tmpDir?: string;
}

export interface CapturedOutput {
  stdout: string;
  stderr: string;
  /** True when either stream was longer than the cap. */
  truncated: boolean;
  /** Whole length of each stream, in bytes. */
  bytes: Record<Stream, number>;
}

export interface OutputCapture {
  write(stream: Stream, chunk: Buffer | string): void;
  /** Flushes unfinished lines; no writes after it. */
  finish(): CapturedOutput;
  /** Saves each cut stream whole to the workspace; returns the paths it wrote. */
  save(workspace: Workspace, where: { stepId: string; attempt: number }): Promise<{ stdout_file?: string; stderr_file?: string }>;
  /** Removes the spool files; idempotent. */
  dispose(): void;
}

/** Where the whole stream of a cut output is kept in the workspace. */
export function execOutputPath(stepId: string, attempt: number, stream: Stream): string {
  return `.agent/exec/${stepId}/${attempt}/${stream}.txt`;
}

interface StreamState {
  head: Buffer[];
  headBytes: number;
  total: number;
  decoder: StringDecoder;
  pending: string;
  spool?: { fd: number; path: string; bytes: number; full: boolean };
}

export function createOutputCapture(opts: OutputCaptureOptions): OutputCapture {
  const { outputBytes, fileBytes } = opts.limits;
  const streams: Record<Stream, StreamState> = { stdout: fresh(), stderr: fresh() };
  let spoolDir: string | undefined;
  let finished = false;

  const emitLines = (stream: Stream, st: StreamState, text: string, final: boolean) => {
    st.pending += text;
    let nl: number;
    while ((nl = st.pending.indexOf('\n')) >= 0) {
      deliver(stream, st.pending.slice(0, nl).replace(/\r$/, ''));
      st.pending = st.pending.slice(nl + 1);
    }
    while (st.pending.length >= MAX_LINE_CHARS) {
      deliver(stream, st.pending.slice(0, MAX_LINE_CHARS));
      st.pending = st.pending.slice(MAX_LINE_CHARS);
    }
    if (final && st.pending !== '') {
      deliver(stream, st.pending);
      st.pending = '';
    }
  };
  const deliver = (stream: Stream, line: string) => {
    // A listener that throws must not break the capture of the command's output.
    try {
      opts.onOutput?.(stream, line);
    } catch {
      /* the executor's caller owns its listener's failures */
    }
  };

  const spoolWrite = (st: StreamState, stream: Stream, chunk: Buffer) => {
    if (!st.spool) {
      spoolDir ??= mkdtempSync(join(opts.tmpDir ?? tmpdir(), 'ay-exec-out-'));
      const path = join(spoolDir, `${stream}.txt`);
      st.spool = { fd: openSync(path, 'w', 0o600), path, bytes: 0, full: false };
      for (const part of st.head) put(st, part);
    }
    put(st, chunk);
  };
  const put = (st: StreamState, chunk: Buffer) => {
    const sp = st.spool!;
    if (sp.full) return;
    const room = fileBytes - sp.bytes;
    const part = chunk.length > room ? chunk.subarray(0, room) : chunk;
    writeSync(sp.fd, part);
    sp.bytes += part.length;
    if (chunk.length > room) {
      sp.full = true;
      writeSync(sp.fd, `\n[agentyard: output beyond ${fileBytes} bytes was discarded]\n`);
    }
  };

  return {
    write(stream, chunk) {
      if (finished) return;
      const buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
      const st = streams[stream];
      st.total += buf.length;
      emitLines(stream, st, st.decoder.write(buf), false);
      if (st.spool) return spoolWrite(st, stream, buf);
      st.head.push(buf);
      st.headBytes += buf.length;
      if (st.headBytes > outputBytes) spoolWrite(st, stream, Buffer.alloc(0));
    },

    finish() {
      if (!finished) {
        finished = true;
        for (const s of ['stdout', 'stderr'] as const) {
          const st = streams[s];
          emitLines(s, st, st.decoder.end(), true);
          if (st.spool) closeSync(st.spool.fd);
        }
      }
      const cut = (st: StreamState) => headText(Buffer.concat(st.head), outputBytes);
      return {
        stdout: cut(streams.stdout),
        stderr: cut(streams.stderr),
        truncated: streams.stdout.total > outputBytes || streams.stderr.total > outputBytes,
        bytes: { stdout: streams.stdout.total, stderr: streams.stderr.total },
      };
    },

    async save(workspace, where) {
      const out: { stdout_file?: string; stderr_file?: string } = {};
      for (const s of ['stdout', 'stderr'] as const) {
        const sp = streams[s].spool;
        if (!sp) continue;
        const path = execOutputPath(where.stepId, where.attempt, s);
        await workspace.write(path, await readFile(sp.path), { contentType: 'text/plain; charset=utf-8' });
        out[`${s}_file`] = path;
      }
      return out;
    },

    dispose() {
      for (const st of Object.values(streams)) {
        if (st.spool && !finished) closeSync(st.spool.fd);
      }
      finished = true;
      if (spoolDir) rmSync(spoolDir, { recursive: true, force: true });
      spoolDir = undefined;
    },
  };
}

function fresh(): StreamState {
  return { head: [], headBytes: 0, total: 0, decoder: new StringDecoder('utf8'), pending: '' };
}

/** The first `max` bytes as text, ending on a whole character. */
function headText(buf: Buffer, max: number): string {
  if (buf.length <= max) return buf.toString('utf8');
  let end = max;
  // Step back over continuation bytes (10xxxxxx) to the start of the cut character.
  while (end > 0 && ((buf[end] as number) & 0xc0) === 0x80) end--;
  return buf.subarray(0, end).toString('utf8');
}
