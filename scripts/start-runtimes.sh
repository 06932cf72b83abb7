#!/usr/bin/env bash
# Makes containerd (with its CRI plugin) and dockerd run. No systemd runs as PID 1 on these
# machines, so `systemctl start` cannot do it: the daemons are started in the background here.
# Idempotent: a daemon that already answers on its socket is left alone.
# Logs: /var/log/node-agent/containerd.log and dockerd.log.
set -euo pipefail

logdir=/var/log/node-agent
config=/etc/containerd/config.toml
marker='# node-agent: containerd configuration' # a config with this line was written by us
sock=/run/containerd/containerd.sock
pidfile=/run/node-agent-containerd.pid # the containerd this script started, if any

die() { echo "start-runtimes: $*" >&2; exit 1; }

for bin in containerd ctr runc dockerd docker; do
  command -v "$bin" >/dev/null || die "$bin not found; fix: apt-get install containerd runc docker.io"
done
mkdir -p "$logdir"

# Waits up to $2 seconds for "$@" to succeed; fails early if the daemon ($1 = pid) died.
wait_for() {
  local pid=$1 seconds=$2; shift 2
  for _ in $(seq $((seconds * 5))); do
    "$@" >/dev/null 2>&1 && return 0
    kill -0 "$pid" 2>/dev/null || return 1
    sleep 0.2
  done
  return 1
}
fail_with_log() { # name, log, fix
  echo "--- last lines of $2:" >&2
  tail -n 25 "$2" >&2 || true
  die "$1 did not come up. $3"
}

# ctr 1.6 waits forever for a socket that does not exist: test the file, bound the dial.
containerd_up() { [ -S "$sock" ] && timeout 5 ctr --address "$sock" --connect-timeout 2s version >/dev/null 2>&1; }
docker_up() { timeout 5 docker version --format '{{.Server.Version}}' >/dev/null 2>&1; }

# --- containerd
# The project's containerd configuration (systemd/containerd-config.toml) with the machine's
# default paths. A config file with our marker line is ours and follows the template (the one it
# replaces is saved as .bak.<time>); one without the marker is the operator's and is left alone.
template="$(dirname "$0")/../systemd/containerd-config.toml"
[ -f "$template" ] || die "$template is missing"
# runc lowers oom_score_adj for containers; where the kernel refuses (containers, CI sandboxes) CRI
# needs restrict_oom_score_adj, or every sandbox fails with "can't get final child's PID from pipe".
restrict=false
sh -c 'echo -1 > /proc/self/oom_score_adj' 2>/dev/null || restrict=true
rendered=$(sed -e "s|@ROOT@|/var/lib/containerd|g; s|@STATE@|/run/containerd|g; s|@ADDRESS@|$sock|g" \
  -e "s|@CNI_BIN@|/opt/cni/bin|g; s|@CNI_CONF@|/etc/cni/net.d|g; s|@RESTRICT_OOM_SCORE_ADJ@|$restrict|g" "$template")
# Debian's containerd package ships a config.toml of its own (CNI paths only; its sandbox_image
# default, registry.k8s.io/pause, cannot be pulled here). Unchanged since install (its md5 is the
# one dpkg recorded for the conffile), it is no operator's choice, and ours replaces it too.
packaged_default() {
  local shipped
  shipped=$(dpkg-query -W -f='${Conffiles}\n' containerd 2>/dev/null | awk -v f="$config" '$1 == f {print $2}')
  [ -n "$shipped" ] && [ "$(md5sum <"$config" | cut -d' ' -f1)" = "$shipped" ]
}
if [ ! -f "$config" ] || grep -qF "$marker" "$config" || packaged_default; then
  if [ "$(cat "$config" 2>/dev/null)" != "$rendered" ]; then
    [ -f "$config" ] && cp -p "$config" "$config.bak.$(date +%s)"
    mkdir -p "$(dirname "$config")"
    printf '%s\n' "$rendered" >"$config"
    if containerd_up; then
      # On a machine run by systemd (a Vagrant VM) the packaged containerd.service is restarted
      # with it; its shims keep the containers it runs. Elsewhere it is the operator's call.
      # One this script started (its pid file) is stopped and started again below; its shims
      # keep the containers it runs, and dockerd reconnects. Elsewhere it is the operator's call.
      if [ -d /run/systemd/system ] && systemctl is-active --quiet containerd 2>/dev/null; then
        systemctl restart containerd
      elif ours=$(cat "$pidfile" 2>/dev/null) && [ "$(cat "/proc/$ours/comm" 2>/dev/null)" = containerd ]; then
        echo "start-runtimes: $config updated; restarting the containerd this script started (pid $ours)" >&2
        kill "$ours"
        for _ in $(seq 100); do kill -0 "$ours" 2>/dev/null || break; sleep 0.1; done
      else
        echo "start-runtimes: $config updated; restart containerd to apply it" >&2
      fi
    fi
  fi
fi
if containerd_up; then
  containerd_state="already running"
else
  mkdir -p /opt/cni/bin /etc/cni/net.d
  # setsid + nohup: the daemon must not die with this shell or its terminal.
  setsid nohup containerd --config "$config" >>"$logdir/containerd.log" 2>&1 </dev/null &
  echo $! >"$pidfile"
  wait_for $! 20 containerd_up || fail_with_log containerd "$logdir/containerd.log" \
    "Fix the error above (often a bad $config: move it away and re-run; or another containerd holds /var/lib/containerd: see 'pgrep -a containerd')."
  containerd_state="started"
fi
# containerd's CRI brings each pod's lo up with the reference loopback plugin from its bin_dir;
# Debian installs the reference plugins in /usr/lib/cni.
[ -e /opt/cni/bin/loopback ] || { [ -x /usr/lib/cni/loopback ] && ln -s /usr/lib/cni/loopback /opt/cni/bin/loopback; } || true

# CRI is what the agent talks to; a containerd started with some other config may lack it.
cri=$(timeout 5 ctr --address "$sock" --connect-timeout 2s plugins ls 2>/dev/null | awk '$1 == "io.containerd.grpc.v1" && $2 == "cri" {print $NF}')
if [ "$cri" != ok ]; then
  if [ "$containerd_state" = "already running" ]; then
    die "containerd was already running, but without its CRI plugin (status: '${cri:-absent}'). Fix: stop that containerd (it was started with another config, e.g. disabled_plugins = [\"cri\"]) and re-run this script, which starts it with $config."
  fi
  grep -i cri "$logdir/containerd.log" | tail -n 10 >&2 || true
  die "containerd started, but its CRI plugin did not load (status: '${cri:-absent}'). Fix the CRI error above in $config."
fi
if [ "$restrict" = true ] && ! grep -Eq '^\s*restrict_oom_score_adj\s*=\s*true' "$config" 2>/dev/null; then
  echo "start-runtimes: warning: $config lacks restrict_oom_score_adj = true, which this machine needs; CRI sandboxes will fail" >&2
fi
# CRI pulls its sandbox (pause) image by the name in its config; no registry is reachable here.
sandbox_image=$(containerd --config "$config" config dump 2>/dev/null | awk -F'"' '$1 ~ /^ *sandbox_image = $/ {print $2; exit}')
if [ -n "$sandbox_image" ] && [ "$sandbox_image" != localhost/pause:1 ] &&
  [ -z "$(ctr --address "$sock" -n k8s.io images ls -q "name==$sandbox_image" 2>/dev/null)" ]; then
  echo "start-runtimes: warning: containerd's sandbox_image is $sandbox_image, which is not on this machine and cannot be pulled without a registry; CRI sandboxes will fail. Fix: set sandbox_image = \"localhost/pause:1\" in $config (images/build.sh builds it), or: ctr -n k8s.io images tag localhost/pause:1 $sandbox_image" >&2
fi
echo "containerd: $containerd_state (CRI plugin ok)"

# --- dockerd
if docker_up; then
  echo "dockerd: already running"
  # Defaults (docker0, iptables) set FORWARD to DROP, which silently drops bridged lab traffic.
  if ip link show docker0 >/dev/null 2>&1; then
    echo "start-runtimes: warning: dockerd runs with its default bridge/iptables; restart it with --iptables=false --ip-masq=false --bridge=none" >&2
  fi
else
  # Pods get their network from CNI, not from Docker: no docker0, no iptables rules (see above).
  # --containerd: use the containerd above (namespace moby) rather than start a private one.
  setsid nohup dockerd --containerd="$sock" --iptables=false --ip-masq=false --bridge=none \
    >>"$logdir/dockerd.log" 2>&1 </dev/null &
  wait_for $! 30 docker_up || fail_with_log dockerd "$logdir/dockerd.log" \
    "Fix the error above (a live process named in /var/run/docker.pid means another dockerd: stop it; 'failed to dial' means containerd is not up)."
  echo "dockerd: started"
fi
