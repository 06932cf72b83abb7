#!/usr/bin/env bash
# Builds the project's local images, since no registry is reachable:
#   localhost/pause:1    the pod sandbox: images/pause/pause.c, static
#   localhost/busybox:1  Debian's static busybox with its applets (sh, ping, wget, httpd, nc, ...)
# and loads each into Docker and into containerd's k8s.io namespace (where CRI looks).
# Idempotent and quick: each image carries a hash of its inputs as a label; an image whose hash
# matches in both runtimes is left alone.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
busybox=/bin/busybox
[ -x "$busybox" ] && "$busybox" --list >/dev/null 2>&1 || { echo "images: $busybox missing; apt-get install busybox-static" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

input_hash() { cat "$@" "$0" | sha256sum | cut -c1-16; }

up_to_date() { # image hash
  local docker_hash ctr_hash
  docker_hash=$(docker image inspect --format '{{index .Config.Labels "node-agent.inputs"}}' "$1" 2>/dev/null || true)
  [ "$docker_hash" = "$2" ] || return 1
  ctr_hash=$(ctr -n k8s.io images ls "name==$1" 2>/dev/null | awk 'NR>1 {print $1}')
  [ -n "$ctr_hash" ] && [ -f "/var/cache/node-agent/images/$(echo "$1" | tr '/:' '__').$2" ]
}

load_into_containerd() { # image hash
  docker save "$1" -o "$work/image.tar"
  ctr -n k8s.io images import --no-unpack=false "$work/image.tar" >/dev/null
  mkdir -p /var/cache/node-agent/images
  rm -f "/var/cache/node-agent/images/$(echo "$1" | tr '/:' '__')".*
  touch "/var/cache/node-agent/images/$(echo "$1" | tr '/:' '__').$2"
}

# --- localhost/pause:1
image=localhost/pause:1
hash=$(input_hash "$here/pause/pause.c")
if up_to_date "$image" "$hash"; then
  echo "$image: up to date"
else
  mkdir -p "$work/pause"
  gcc -static -Os -Wall -Werror -o "$work/pause/pause" "$here/pause/pause.c"
  strip "$work/pause/pause"
  tar -C "$work/pause" -c pause | docker import --change 'ENTRYPOINT ["/pause"]' --change "LABEL node-agent.inputs=$hash" - "$image" >/dev/null
  load_into_containerd "$image" "$hash"
  echo "$image: built"
fi

# --- localhost/busybox:1
image=localhost/busybox:1
hash=$(input_hash "$busybox")
if up_to_date "$image" "$hash"; then
  echo "$image: up to date"
else
  root="$work/busybox"
  mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,etc,tmp,root,var/www,proc,sys,dev}
  chmod 1777 "$root/tmp"
  cp "$busybox" "$root/bin/busybox"
  # One symlink per applet, where busybox itself would install it.
  "$busybox" --list-full | while read -r applet; do
    [ -e "$root/$applet" ] || ln -s /bin/busybox "$root/$applet"
  done
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$root/etc/passwd"
  printf 'root:x:0:\nnobody:x:65534:\n' >"$root/etc/group"
  printf '127.0.0.1\tlocalhost\n' >"$root/etc/hosts"
  tar -C "$root" -c . | docker import --change 'CMD ["sh"]' --change 'ENV PATH=/usr/sbin:/usr/bin:/sbin:/bin' \
    --change "LABEL node-agent.inputs=$hash" - "$image" >/dev/null
  load_into_containerd "$image" "$hash"
  echo "$image: built"
fi
