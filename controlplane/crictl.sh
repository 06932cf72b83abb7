#!/usr/bin/env bash
# Builds crictl (kubernetes-sigs/cri-tools), the CRI command-line client operators use with
# containerd, from the Go module proxy into a cache outside the repository keyed by version. The
# tests drive containerd with it the way they drive Docker with the docker CLI: a real client that
# is not the agent's own. Debian 12 does not package it. First run about 2 minutes; later, at once.
# Prints the path of the binary on stdout.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
version=v1.34.0
cache=${NODE_AGENT_CACHE:-/var/cache/node-agent}/crictl/$version
if [ -x "$cache/crictl" ]; then
  echo "$cache/crictl"
  exit 0
fi
# shellcheck source=controlplane/go-env.sh
. "$here/go-env.sh"
go_ok || { echo "controlplane/crictl.sh: Go >= 1.24 is needed to build crictl and none could be had" >&2; exit 1; }
echo "building crictl $version into $cache (first run only)..." >&2
rm -rf "$cache.tmp"
mkdir -p "$cache.tmp"
(cd "$cache.tmp" && GOFLAGS=-mod=mod GOBIN="$cache.tmp" go install -trimpath -ldflags="-s -w" "sigs.k8s.io/cri-tools/cmd/crictl@$version") >&2
[ -x "$cache.tmp/crictl" ] || { echo "controlplane/crictl.sh: crictl was not built" >&2; exit 1; }
rm -rf "$cache"
mv "$cache.tmp" "$cache"
echo "$cache/crictl"
