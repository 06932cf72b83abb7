#!/usr/bin/env bash
# Everything a fresh Debian 12 machine needs, as root, idempotent: Debian packages, the npm
# dependencies (including Node.js 24 LTS from the npm registry), containerd and dockerd running,
# the local images built, and the Kubernetes control plane built for the lab.
# Each step is skipped quickly when already done.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
step() { printf '\n== %s\n' "$*" >&2; }

[ "$(id -u)" = 0 ] || { echo "setup: run as root (it installs packages and starts daemons)" >&2; exit 1; }

packages=(docker.io containerd runc iproute2 iptables iputils-ping iperf3 busybox-static containernetworking-plugins docker-registry
  openssl curl ca-certificates gcc libc6-dev git nodejs npm kmod procps systemd python3
  shellcheck ruby)
missing=()
for p in "${packages[@]}"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p"); done
# Node and npm may come from elsewhere on the machine (e.g. /usr/local/go); do not fight them.
command -v node >/dev/null && missing=("${missing[@]/nodejs}")
command -v npm >/dev/null && missing=("${missing[@]/npm}")
read -r -a missing <<<"${missing[*]}"
if [ ${#missing[@]} -gt 0 ]; then
  step "installing Debian packages: ${missing[*]}"
  export NEEDRESTART_SUSPEND=1 # no service-restart prompts from Debian's needrestart hook
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi

step "npm dependencies (Node.js 24 LTS comes with them, as node_modules/.bin/node)"
stamp=node_modules/.setup-stamp
want=$(sha256sum package-lock.json | cut -c1-16)
if [ ! -x node_modules/.bin/node ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  npm ci --no-audit --no-fund --loglevel=error >&2
  echo "$want" >"$stamp"
fi
node_modules/.bin/node --version >&2

step "container runtimes"
bash scripts/start-runtimes.sh

step "local images"
bash images/build.sh

if [ "${SKIP_CONTROLPLANE:-0}" != 1 ]; then
  step "Kubernetes control plane for the lab, and crictl for the containerd tests"
  bash controlplane/build.sh >/dev/null
  bash controlplane/crictl.sh >/dev/null
fi
echo "setup: done" >&2
