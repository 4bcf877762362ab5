import { ValidationError } from '@agentyard/core';

/**
 * Path rules shared by every workspace driver. A path is a relative, '/'-separated key that
 * means the same thing as an S3 key and as a file under a directory, so it must not be able
 * to climb out of its workspace (`..`, absolute) or smuggle in bytes that filesystems, shells
 * or log lines treat specially (NUL, control characters, backslashes, which Windows and some
 * S3 gateways read as separators). The byte limits are S3's key limit (1024) and the common
 * filesystem name limit (255), so a path valid here is valid on both drivers.
 */

export const MAX_PATH_BYTES = 1024;
export const MAX_SEGMENT_BYTES = 255;

// Built from code points so the source stays free of raw control characters.
const CONTROL = new RegExp('[\\u0001-\\u001f\\u007f]');
// With the u flag a well-formed surrogate pair is one code point, so this finds only halves,
// which UTF-8 cannot encode: S3 would store U+FFFD and the key would no longer round-trip.
const LONE_SURROGATE = /\p{Cs}/u;

const EMPTY = 'must not be empty';

/**
 * Names the filesystem driver gives its temp files while a write is renamed into place. A
 * client's file with such a name could be written and read but never listed (the driver hides
 * its temp files), and could collide with a write in flight, so every driver refuses it.
 */
export const RESERVED_SEGMENT_PREFIX = '.~ay-tmp.';

type Normalised = { path: string; problem?: undefined } | { path?: undefined; problem: string };

function normalise(p: string): Normalised {
  if (typeof p !== 'string') return { problem: 'must be a string' };
  if (p.includes('\u0000')) return { problem: 'must not contain NUL' };
  if (CONTROL.test(p)) return { problem: 'must not contain control characters' };
  if (p.includes('\\')) return { problem: 'must not contain a backslash' };
  if (LONE_SURROGATE.test(p)) return { problem: 'must be valid Unicode' };
  if (p.startsWith('/')) return { problem: 'must be relative, not absolute' };
  const segments = p.split('/').filter((s) => s !== '' && s !== '.');
  if (segments.includes('..')) return { problem: 'must not contain a ".." segment' };
  if (segments.length === 0) return { problem: EMPTY };
  if (segments.some((s) => s.startsWith(RESERVED_SEGMENT_PREFIX))) {
    return { problem: `must not have a segment starting with "${RESERVED_SEGMENT_PREFIX}" (reserved for the workspace's temp files)` };
  }
  if (segments.some((s) => Buffer.byteLength(s, 'utf8') > MAX_SEGMENT_BYTES)) {
    return { problem: `must not have a segment longer than ${MAX_SEGMENT_BYTES} bytes` };
  }
  const path = segments.join('/');
  if (Buffer.byteLength(path, 'utf8') > MAX_PATH_BYTES) {
    return { problem: `must be at most ${MAX_PATH_BYTES} bytes` };
  }
  return { path };
}

/** Why `p` is not a valid workspace path, or undefined when it is. Pure; fits a zod refinement. */
export function pathProblem(p: string): string | undefined {
  return normalise(p).problem;
}

/**
 * The normalised form of `p` (no leading `./`, no `//`, no `.` segments, no trailing `/`),
 * or a ValidationError naming `field` (default `path`) with the reason.
 */
export function normalisePath(p: string, field = 'path'): string {
  const n = normalise(p);
  if (n.problem !== undefined) throw ValidationError.field(field, n.problem);
  return n.path;
}

/** Why `p` is not a valid directory to list (`''` and `'.'` are the root), or undefined. Pure. */
export function listPrefixProblem(p: string): string | undefined {
  const n = normalise(p);
  return n.problem === EMPTY ? undefined : n.problem;
}

/**
 * A list prefix: `''` (or anything that normalises to nothing, like `'.'` or `'./'`) means
 * the whole workspace; anything else must be a valid path and names a directory-like prefix.
 */
export function normaliseListPrefix(prefix: string, field = 'prefix'): string {
  const n = normalise(prefix);
  if (n.problem === EMPTY) return '';
  if (n.problem !== undefined) throw ValidationError.field(field, n.problem);
  return n.path;
}
