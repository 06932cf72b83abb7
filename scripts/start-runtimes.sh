#!/usr/bin/env bash
# Makes sure containerd (with its CRI plugin) and dockerd run, starting them in the background
# when they do not (no systemd is assumed: on a VM with systemd, `systemctl start` does the same).
# Idempotent: a daemon that already answers is left alone.
set -euo pipefail
logdir=/var/log/node-agent
mkdir -p "$logdir"
marker='# node-agent: containerd configuration'

wait_for() { # what, seconds, command...
  local what=$1 seconds=$2; shift 2
  for _ in $(seq $((seconds * 5))); do "$@" >/dev/null 2>&1 && return 0; sleep 0.2; done
  echo "start-runtimes: $what did not come up in ${seconds}s" >&2
  return 1
}

if ctr version >/dev/null 2>&1; then
  echo "containerd: already running"
else
  if [ -f /etc/containerd/config.toml ] && ! grep -q "$marker" /etc/containerd/config.toml; then
    cp /etc/containerd/config.toml "/etc/containerd/config.toml.bak.$(date +%s)"
  fi
  mkdir -p /etc/containerd /etc/cni/net.d /opt/cni/bin
  # restrict_oom_score_adj: these machines refuse to lower oom_score_adj, which runc otherwise
  # tries for every sandbox (the failure reads "can't get final child's PID from pipe: EOF").
  cat >/etc/containerd/config.toml <<TOML
$marker (written by scripts/start-runtimes.sh)
version = 2
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
  setsid nohup containerd >>"$logdir/containerd.log" 2>&1 </dev/null &
  wait_for containerd 20 ctr version || { tail -20 "$logdir/containerd.log" >&2; echo "start-runtimes: fix the error above (log: $logdir/containerd.log)" >&2; exit 1; }
  echo "containerd: started"
fi
if ! ctr plugins ls 2>/dev/null | awk '$2=="cri" {print $NF}' | grep -qx ok; then
  echo "start-runtimes: containerd runs without its CRI plugin; check 'disabled_plugins' in /etc/containerd/config.toml and restart containerd" >&2
  exit 1
fi

if docker version --format '{{.Server.Version}}' >/dev/null 2>&1; then
  echo "dockerd: already running"
else
  # Pods get their network from the CNI plugin, not Docker: no docker0, no iptables rules (with
  # them dockerd sets FORWARD to DROP, which silently drops bridged lab traffic).
  setsid nohup dockerd --containerd=/run/containerd/containerd.sock --iptables=false --ip-masq=false --bridge=none \
    >>"$logdir/dockerd.log" 2>&1 </dev/null &
  wait_for dockerd 30 docker version --format '{{.Server.Version}}' || { tail -20 "$logdir/dockerd.log" >&2; echo "start-runtimes: fix the error above (log: $logdir/dockerd.log)" >&2; exit 1; }
  echo "dockerd: started"
fi
