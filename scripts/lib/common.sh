# Shared by scripts/dev and scripts/test. Sourced, not executed.

PNPM_VERSION=10.34.9

# pnpm 10 from PATH when it is there, else through npx (corepack cannot always download).
pnpm_cmd() {
  if command -v pnpm >/dev/null 2>&1 && [[ "$(pnpm --version 2>/dev/null)" == 10.* ]]; then
    pnpm "$@"
  else
    npx --yes "pnpm@${PNPM_VERSION}" "$@"
  fi
}

need_node() {
  if ! command -v node >/dev/null 2>&1; then
    echo "Node.js 20 or newer is required (https://nodejs.org)." >&2
    exit 1
  fi
  local major
  major="$(node -p 'process.versions.node.split(".")[0]')"
  if (( major < 20 )); then
    echo "Node.js 20 or newer is required; found $(node --version)." >&2
    exit 1
  fi
}

# Installs redis-server from the system's packages when it is missing and we may.
ensure_redis_server() {
  command -v redis-server >/dev/null 2>&1 && return 0
  if command -v apt-get >/dev/null 2>&1 && [[ "$(id -u)" == 0 ]]; then
    echo "installing redis-server (apt-get)…" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null 2>&1 \
      || { apt-get update -qq >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null 2>&1; } \
      || echo "could not install redis-server; set REDIS_URL to a running Redis" >&2
  fi
}

port_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

install_and_build() {
  need_node
  pnpm_cmd install --frozen-lockfile --reporter=append-only >/dev/null
  pnpm_cmd run build
}
