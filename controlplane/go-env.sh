# shellcheck shell=bash
# Sourced by the build scripts here: puts a Go >= 1.24 on PATH and defines go_ok. Kubernetes 1.33
# and cri-tools need it; Debian 12's golang-go is 1.19. When no new enough go is here, the Go
# toolchain is taken as a module (golang.org/toolchain) from the Go module proxy, which is how
# `go` itself fetches newer toolchains, and cached under /var/cache/node-agent.
export PATH="$PATH:/usr/local/go/bin"
go_ok() { command -v go >/dev/null && [ "$(go env GOVERSION 2>/dev/null | sed -E 's/^go1\.([0-9]+).*/\1/')" -ge 24 ] 2>/dev/null; }
if ! go_ok; then
  toolchain=v0.0.1-go1.24.13.linux-amd64
  tdir=${NODE_AGENT_CACHE:-/var/cache/node-agent}/go-toolchain/$toolchain
  if [ ! -x "$tdir/bin/go" ]; then
    proxy=$(echo "${GOPROXY:-https://proxy.golang.org}" | cut -d, -f1)
    echo "fetching the Go toolchain module $toolchain from $proxy ..." >&2
    mkdir -p "$tdir.tmp" && curl -fsSL "$proxy/golang.org/toolchain/@v/$toolchain.zip" -o "$tdir.tmp/go.zip"
    (cd "$tdir.tmp" && python3 -m zipfile -e go.zip . && rm go.zip)
    rm -rf "$tdir" && mv "$tdir.tmp/golang.org/toolchain@$toolchain" "$tdir" && rm -rf "$tdir.tmp"
    chmod +x "$tdir/bin/"* "$tdir/pkg/tool/"*/* 2>/dev/null || true
  fi
  export PATH="$tdir/bin:$PATH" GOTOOLCHAIN=local
fi
