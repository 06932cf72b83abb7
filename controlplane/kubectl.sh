#!/usr/bin/env bash
# Builds kubectl at the control plane's Kubernetes version (from this folder's go.mod) into a cache
# outside the repository, for the control-plane VM: Debian 12 packages only kubectl 1.20, too old
# for a v1.33 apiserver (kubectl supports one minor version of skew). The lab and the tests use
# the machine's own kubectl. kubectl's main lives in k8s.io/kubernetes, whose replace directives
# rule out `go install pkg@version`, so it is built against a scratch copy of go.mod (the
# repository's is left as it is). First run a few minutes; later, at once.
# Prints the path of the binary on stdout.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
version=$(awk '$1=="k8s.io/kubernetes" && $2 ~ /^v/ {print $2; exit}' "$here/go.mod")
[ -n "$version" ] || { echo "controlplane/kubectl.sh: cannot read the Kubernetes version from go.mod" >&2; exit 1; }
cache=${NODE_AGENT_CACHE:-/var/cache/node-agent}/kubectl/$version
if [ -x "$cache/kubectl" ]; then
  echo "$cache/kubectl"
  exit 0
fi
# shellcheck source=controlplane/go-env.sh
. "$here/go-env.sh"
go_ok || { echo "controlplane/kubectl.sh: Go >= 1.24 is needed to build kubectl and none could be had" >&2; exit 1; }
echo "building kubectl $version into $cache (first run only)..." >&2
rm -rf "$cache.tmp"
mkdir -p "$cache.tmp/mod"
cp "$here/go.mod" "$here/go.sum" "$cache.tmp/mod/"
printf 'package controlplane\n' >"$cache.tmp/mod/doc.go"
minor=$(echo "$version" | cut -d. -f2)
ldflags="-s -w -X k8s.io/component-base/version.gitVersion=$version -X k8s.io/component-base/version.gitMajor=1"
ldflags+=" -X k8s.io/component-base/version.gitMinor=$minor -X k8s.io/client-go/pkg/version.gitVersion=$version"
(cd "$cache.tmp/mod" && GOFLAGS=-mod=mod go build -trimpath -ldflags="$ldflags" -o "$cache.tmp/kubectl" k8s.io/kubernetes/cmd/kubectl) >&2
[ -x "$cache.tmp/kubectl" ] || { echo "controlplane/kubectl.sh: kubectl was not built" >&2; exit 1; }
rm -rf "$cache.tmp/mod"
rm -rf "$cache"
mv "$cache.tmp" "$cache"
echo "$cache/kubectl"
