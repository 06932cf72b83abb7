#!/usr/bin/env bash
# Builds the upstream Kubernetes control plane (kube-apiserver, kube-controller-manager,
# kube-scheduler) and the etcd release it depends on, from the Go module proxy, into a cache
# outside the repository keyed by version and by this folder's go.mod/go.sum. Only the first run
# pays the build (about 4-8 minutes on 2 cores); later runs return at once.
# Prints the bin directory on stdout.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
version=$(awk '$1=="k8s.io/kubernetes" && $2 ~ /^v/ {print $2; exit}' "$here/go.mod")
[ -n "$version" ] || { echo "controlplane/build.sh: cannot read the Kubernetes version from go.mod" >&2; exit 1; }
key=$(cat "$here/go.mod" "$here/go.sum" "$here/etcd/main.go" "$0" "$here/go-env.sh" | sha256sum | cut -c1-12)
cache=${NODE_AGENT_CACHE:-/var/cache/node-agent}/controlplane/$version-$key
bins=(kube-apiserver kube-controller-manager kube-scheduler etcd)

if [ -f "$cache/.complete" ]; then
  echo "$cache/bin"
  exit 0
fi
# shellcheck source=controlplane/go-env.sh
. "$here/go-env.sh"
go_ok || { echo "controlplane/build.sh: Go >= 1.24 is needed to build the control plane and none could be had" >&2; exit 1; }
echo "building Kubernetes $version control plane into $cache (first run only, several minutes)..." >&2
rm -rf "$cache.tmp"
mkdir -p "$cache.tmp/bin"
minor=$(echo "$version" | cut -d. -f2)
ldflags="-s -w -X k8s.io/component-base/version.gitVersion=$version -X k8s.io/component-base/version.gitMajor=1"
ldflags+=" -X k8s.io/component-base/version.gitMinor=$minor -X k8s.io/component-base/version.gitTreeState=clean"
ldflags+=" -X k8s.io/client-go/pkg/version.gitVersion=$version"
start=$(date +%s)
(cd "$here" && GOFLAGS=-mod=mod go build -trimpath -ldflags="$ldflags" -o "$cache.tmp/bin/" \
  k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
  k8s.io/kubernetes/cmd/kube-scheduler ./etcd) >&2
for b in "${bins[@]}"; do [ -x "$cache.tmp/bin/$b" ] || { echo "controlplane/build.sh: $b was not built" >&2; exit 1; }; done
touch "$cache.tmp/.complete"
rm -rf "$cache"
mv "$cache.tmp" "$cache"
echo "built in $(( $(date +%s) - start ))s" >&2
echo "$cache/bin"
