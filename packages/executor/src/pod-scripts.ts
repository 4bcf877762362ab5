/**
 * The shell scripts a tool Job's three containers run, POSIX sh only (dash, busybox ash), so
 * any image with /bin/sh works as a language image and any image with sh, curl and tar as the
 * transfer image. They share one emptyDir, BOX:
 *
 *   BOX/in.tar      the workspace tarball, fetched by `fetch` and removed once unpacked
 *   BOX/ws/         the workspace; the command runs in BOX/ws/<cwd>
 *   BOX/ctl/stdin   the command's stdin, when it has one (carried in the tarball)
 *   BOX/out/stdout, BOX/out/stderr   the whole streams, byte for byte
 *   BOX/out/exit_code                the command's exit status, written when it ends
 *   BOX/.done       written last by `run`; `upload` waits for it
 *   BOX/out.tar     ws/ and out/, PUT by `upload` to the presigned URL
 *
 * Live output goes to the container log (one merged stream in Kubernetes), each line tagged
 * with its stream: `1 <line>` for stdout, `2 <line>` for stderr, so the worker following the
 * log can say which stream a line came from. The tagging loop uses only shell builtins
 * (`read`, `printf`): sed or awk would buffer when writing to a pipe and need a flag that is
 * not portable to flush per line. The exact bytes come from the files, not from the log, which
 * the kubelet may rotate.
 *
 * The presigned URLs are in the environment of `fetch` and `upload` only; the command never
 * sees them.
 */

export const BOX = '/box';

/** Init container: download and unpack the workspace. */
export const FETCH_SCRIPT = [
  'set -eu',
  `curl -fsS --retry 3 --retry-connrefused --connect-timeout 10 -o ${BOX}/in.tar "$AGENTYARD_IN_URL"`,
  `tar -xf ${BOX}/in.tar -C ${BOX}`,
  `rm -f ${BOX}/in.tar`,
  `mkdir -p ${BOX}/ws ${BOX}/out`,
].join('\n');

/**
 * Main container: `sh -c RUN_SCRIPT agentyard <cwd> <argv...>`. Exits with the command's
 * status, so the pod's container status tells the same story as BOX/out/exit_code.
 */
export const RUN_SCRIPT = [
  `B=${BOX}; cwd=$1; shift`,
  'tag() { while IFS= read -r l || [ -n "$l" ]; do printf \'%s %s\\n\' "$1" "$l"; done; }',
  'mkfifo "$B/out/.o" "$B/out/.e"',
  'tee "$B/out/stdout" < "$B/out/.o" | tag 1 &',
  'tee "$B/out/stderr" < "$B/out/.e" | tag 2 &',
  'exec 3>"$B/out/.o" 4>"$B/out/.e"',
  'in=/dev/null; [ -f "$B/ctl/stdin" ] && in="$B/ctl/stdin"',
  'mkdir -p "$B/ws/$cwd" && cd "$B/ws/$cwd" 2>&4 && "$@" <"$in" >&3 2>&4 3>&- 4>&-',
  'code=$?',
  'exec 3>&- 4>&-',
  'wait',
  'rm -f "$B/out/.o" "$B/out/.e"',
  'echo "$code" > "$B/out/exit_code"',
  'touch "$B/.done"',
  'exit "$code"',
].join('\n');

/** Second container: wait for the command to end, then upload the work dir and its output. */
export const UPLOAD_SCRIPT = [
  'set -eu',
  `while [ ! -f ${BOX}/.done ]; do sleep 0.1; done`,
  `tar -cf ${BOX}/out.tar -C ${BOX} ws out`,
  // A presigned PUT needs a Content-Length, so the tarball is a file, not a pipe.
  `curl -fsS --retry 3 --retry-connrefused --connect-timeout 10 --upload-file ${BOX}/out.tar "$AGENTYARD_OUT_URL"`,
].join('\n');

/** One line of the main container's log back to its stream and text. */
export function parseLogLine(line: string): { stream: 'stdout' | 'stderr'; text: string } {
  if (line.startsWith('1 ')) return { stream: 'stdout', text: line.slice(2) };
  if (line.startsWith('2 ')) return { stream: 'stderr', text: line.slice(2) };
  // Untagged: the wrapper shell itself complained (a broken image); stderr is where it belongs.
  return { stream: 'stderr', text: line };
}
