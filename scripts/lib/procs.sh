# Stopping what a script started, with waits that cannot hang. Sourced, not executed.

# stop_pids SECONDS PID...: SIGTERM each, wait up to SECONDS for all of them, then SIGKILL
# whatever is left (and say so). Returns once every one is gone.
stop_pids() {
  local secs="$1" pid deadline
  shift
  (( $# )) || return 0
  deadline=$(( SECONDS + secs ))
  for pid in "$@"; do kill -TERM "$pid" 2>/dev/null || true; done
  while :; do
    local alive=()
    for pid in "$@"; do kill -0 "$pid" 2>/dev/null && alive+=("$pid"); done
    (( ${#alive[@]} )) || break
    if (( SECONDS >= deadline )); then
      echo "still running ${secs} s after SIGTERM, killing: ${alive[*]}" >&2
      kill -KILL "${alive[@]}" 2>/dev/null || true
      break
    fi
    sleep 0.2
  done
  for pid in "$@"; do wait "$pid" 2>/dev/null || true; done
}

# http_ok URL: true when URL answers 200 within 2 s.
http_ok() {
  node -e 'fetch(process.argv[1], { signal: AbortSignal.timeout(2000) }).then((r) => process.exit(r.status === 200 ? 0 : 1), () => process.exit(1))' "$1"
}
