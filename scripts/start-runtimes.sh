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
if containerd_up; then
  containerd_state="already running"
else
  if ! grep -qF "$marker" "$config" 2>/dev/null; then
    [ -f "$config" ] && cp -p "$config" "$config.bak.$(date +%s)"
    mkdir -p "$(dirname "$config")"
    # restrict_oom_score_adj: this sandbox refuses to lower a process's oom_score_adj, and without
    # the option runc fails every sandbox with "can't get final child's PID from pipe: EOF".
    # sandbox_image: there is no registry; images/build.sh imports localhost/pause:1 locally.
    # SystemdCgroup = false: no systemd to delegate cgroups to.
    cat >"$config" <<TOML
$marker (written by scripts/start-runtimes.sh; delete this line to keep your own edits)
version = 2
disabled_plugins = []

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "localhost/pause:1"
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
    runtime_type = "io.containerd.runc.v2"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
      SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/opt/cni/bin"
    conf_dir = "/etc/cni/net.d"
TOML
  fi
  mkdir -p /opt/cni/bin /etc/cni/net.d
  # setsid + nohup: the daemon must not die with this shell or its terminal.
  setsid nohup containerd --config "$config" >>"$logdir/containerd.log" 2>&1 </dev/null &
  wait_for $! 20 containerd_up || fail_with_log containerd "$logdir/containerd.log" \
    "Fix the error above (often a bad $config: move it away and re-run; or another containerd holds /var/lib/containerd: see 'pgrep -a containerd')."
  containerd_state="started"
fi

# CRI is what the agent talks to; a containerd started with some other config may lack it.
cri=$(timeout 5 ctr --address "$sock" --connect-timeout 2s plugins ls 2>/dev/null | awk '$1 == "io.containerd.grpc.v1" && $2 == "cri" {print $NF}')
if [ "$cri" != ok ]; then
  if [ "$containerd_state" = "already running" ]; then
    die "containerd was already running, but without its CRI plugin (status: '${cri:-absent}'). Fix: stop that containerd (it was started with another config, e.g. disabled_plugins = [\"cri\"]) and re-run this script, which starts it with $config."
  fi
  grep -i cri "$logdir/containerd.log" | tail -n 10 >&2 || true
  die "containerd started, but its CRI plugin did not load (status: '${cri:-absent}'). Fix the CRI error above in $config."
fi
if ! grep -Eq '^\s*restrict_oom_score_adj\s*=\s*true' "$config" 2>/dev/null; then
  echo "start-runtimes: warning: $config lacks restrict_oom_score_adj = true; CRI sandboxes will fail here" >&2
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
