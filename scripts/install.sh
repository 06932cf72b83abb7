#!/usr/bin/env bash
# Installs node-agent on a node (a Vagrant worker, any Debian 12 / Ubuntu VM), or removes it.
#
#   bash scripts/install.sh --from DIR [--root DIR] [--no-systemd] [--link-agent] [--no-packages]
#   bash scripts/install.sh --uninstall [--root DIR] [--no-systemd]
#
# --from DIR     config.yaml and kubeconfig, optionally kubelet.crt, kubelet.key and ca.crt (the
#                kubelet API's certificate and the client CA), as `npm run lab -- vm-files` writes
#                them per worker (/vagrant/.cluster/worker-N on a Vagrant VM).
# --root DIR     write every path under DIR instead of /: the lab installs each namespace node
#                into its worker directory this way. Paths are real paths (links point into DIR;
#                it is not a chroot image), and config.yaml is copied as it is: its paths are the
#                agent's, so the caller writes them for that root (the lab does).
# --no-systemd   no unit, no systemctl: the caller starts the agent (the lab, in a namespace).
# --link-agent   <root>/opt/node-agent is a link to this checkout instead of a copy (the lab, a
#                developer machine). A VM gets a copy: its /vagrant is mounted only by `vagrant up`,
#                not at boot, and the service must start at boot.
# --no-packages  do not look at Debian packages.
# --uninstall    removes everything an install made (see "Uninstall" below).
#
# Steps, each printing one line, "unchanged" or what it changed; every step compares before it
# writes, so a second run writes nothing:
#   packages  the runtime's Debian packages (docker.io or containerd, runc, the reference CNI
#             plugins, iptables, iproute2), installed only when missing
#   kernel    <root>/etc/sysctl.d/90-node-agent.conf (net.ipv4.ip_forward = 1 and, where
#             br_netfilter exists, net.bridge.bridge-nf-call-iptables = 1; the values found before
#             are kept in it as comments, for --uninstall), applied now; br_netfilter in
#             <root>/etc/modules-load.d/node-agent.conf and loaded (only with root /: a module is
#             the machine's, not a namespace's). Sysctls under net. are per network namespace.
#   agent     <root>/opt/node-agent (a copy of this checkout without .git, .cluster, .vagrant, or
#             a link with --link-agent) and the link <root>/usr/local/bin/node-agent
#   config    <root>/etc/node-agent (0700): config.yaml, kubeconfig (0600), pki/ (0700: kubelet.key
#             0600, kubelet.crt and ca.crt 0644)
#   cni       the plugin's launcher in the configured directories.cniBin, by `node-agent
#             install-cni`, the agent's own code; the conflist too when config.yaml fixes podCIDR,
#             otherwise the agent writes it once the controller manager assigns the pod CIDR
#             (a conflist before that would tell containerd the network is ready)
#   unit      <root>/etc/systemd/system/node-agent.service, enabled (and started or restarted when
#             something changed, where systemd runs); with --root, `systemctl --root` enables it
#   dirs      <root>/etc/node-agent/installed-dirs: the directories the install created, so that
#             --uninstall removes those and no others (never an /etc/sysctl.d that was there)
#
# Uninstall stops and removes the unit and its enablement link, removes the plugin, the conflist,
# the loopback link the agent made and the pod network it programmed (iptables chains, cni0, the
# VXLAN device, its routes), the configuration, the agent and its link, the sysctl and modules
# files (restoring the sysctl values found before the install, when they still are what it set;
# br_netfilter stays loaded: other bridges may use it), and the directories it created when they
# are empty. It keeps the agent's state directories (directories.root, directories.logs,
# directories.containerLogs, /var/cache/node-agent): pods' volumes, IPAM records and logs are the
# agent's, they may outlive an agent upgrade, and running pods still use them. It prints them.
set -euo pipefail

me=install.sh
usage() {
  sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'
}
die() {
  echo "$me: $*" >&2
  exit 1
}

# OPTION VALUE: a value, not the next option.
value_of() {
  if [ $# -lt 2 ] || [ "${2#-}" != "$2" ]; then
    echo "$me: $1 needs a directory. Fix: $1 DIR" >&2
    exit 2
  fi
}
args=("$@")
from='' root=/ systemd=1 uninstall=0 link_agent=0 packages=1
while [ $# -gt 0 ]; do
  case $1 in
    --from) value_of "$@"; from=$2; shift ;;
    --from=*) from=${1#--from=} ;;
    --root) value_of "$@"; root=$2; shift ;;
    --root=*) root=${1#--root=} ;;
    --no-systemd) systemd=0 ;;
    --link-agent) link_agent=1 ;;
    --no-packages) packages=0 ;;
    --uninstall) uninstall=1 ;;
    -h | --help) usage; exit 0 ;;
    *) echo "$me: unknown option \"$1\"" >&2; usage >&2; exit 2 ;;
  esac
  shift
done

[ "$(id -u)" = 0 ] || die "must run as root (it writes /etc and /opt and kernel settings). Fix: sudo bash $0 ${args[*]-}"
if [ "$uninstall" = 0 ]; then
  [ -n "$from" ] || { echo "$me: --from DIR is required: the directory with this node's config.yaml and kubeconfig. Fix: npm run lab -- vm-files --out DIR (on a Vagrant VM: --from /vagrant/.cluster/<node>)" >&2; exit 2; }
  for f in config.yaml kubeconfig; do
    [ -f "$from/$f" ] || { echo "$me: $from/$f is missing: --from must hold config.yaml and kubeconfig. Fix: npm run lab -- vm-files --out DIR writes them per worker (on a Vagrant VM, the control plane's provisioning does)" >&2; exit 2; }
  done
  if [ -f "$from/kubelet.crt" ]; then
    for f in kubelet.key ca.crt; do
      [ -f "$from/$f" ] || { echo "$me: $from has kubelet.crt but no $f: the kubelet API needs its key and the client CA too. Fix: write all three (npm run lab -- vm-files does)" >&2; exit 2; }
    done
  fi
fi
[ "$root" = / ] || [ -d "$root" ] || die "--root $root is not a directory. Fix: mkdir -p $root"
root=$(realpath -m "$root")
R=${root%/}

repo=$(cd "$(dirname "$0")/.." && pwd -P)
etc_dir=$R/etc/node-agent
pki_dir=$etc_dir/pki
manifest=$etc_dir/installed-dirs
agent_dir=$R/opt/node-agent
bin_link=$R/usr/local/bin/node-agent
units_dir=$R/etc/systemd/system
unit=$units_dir/node-agent.service
sysctl_file=$R/etc/sysctl.d/90-node-agent.conf
modules_file=$R/etc/modules-load.d/node-agent.conf
systemd_runs=0
[ "$root" = / ] && [ -d /run/systemd/system ] && systemd_runs=1

# One line per step: what changed in it, or "unchanged".
step_changes=()
total_changes=0
changed() { step_changes+=("$*"); total_changes=$((total_changes + 1)); }
report() {
  if [ ${#step_changes[@]} -eq 0 ]; then echo "$me: $1: unchanged${2:+ ($2)}"; else
    local IFS=';'
    echo "$me: $1: ${step_changes[*]}" | sed 's/;/; /g'
  fi
  step_changes=()
}

created_dirs=()
# Makes DIR (and its missing parents, 0755) with MODE, remembering what it made.
ensure_dir() {
  local dir=$1 mode=$2 d missing=()
  d=$dir
  while [ ! -d "$d" ]; do missing=("$d" ${missing[@]+"${missing[@]}"}); d=$(dirname "$d"); done
  for d in ${missing[@]+"${missing[@]}"}; do
    if [ "$d" = "$dir" ]; then mkdir -m "$mode" "$d"; else mkdir -m 0755 "$d"; fi
    created_dirs+=("$d")
    changed "made $d"
  done
  if [ "$(stat -c %a "$dir")" != "${mode#0}" ]; then chmod "$mode" "$dir"; changed "chmod $mode $dir"; fi
}
# Copies SRC to DEST with MODE when the content or the mode differ (atomically: a reader never
# sees half a file).
put_file() {
  local src=$1 dest=$2 mode=$3
  if [ -f "$dest" ] && [ ! -L "$dest" ] && cmp -s "$src" "$dest"; then
    if [ "$(stat -c %a "$dest")" != "${mode#0}" ]; then chmod "$mode" "$dest"; changed "chmod $mode $dest"; fi
    return 0
  fi
  install -m "$mode" "$src" "$dest.tmp-$$"
  mv -f "$dest.tmp-$$" "$dest"
  changed "wrote $dest"
}
put_text() {
  local dest=$1 mode=$2 text=$3 tmp
  tmp=$(mktemp)
  printf '%s' "$text" >"$tmp"
  put_file "$tmp" "$dest" "$mode"
  rm -f "$tmp"
}
put_link() {
  local target=$1 link=$2
  [ -L "$link" ] && [ "$(readlink "$link")" = "$target" ] && return 0
  [ -e "$link" ] && [ ! -L "$link" ] && { rm -rf "$link"; changed "removed $link"; }
  ln -sfn "$target" "$link"
  changed "linked $link -> $target"
}
remove() {
  local path
  for path in "$@"; do
    if [ -e "$path" ] || [ -L "$path" ]; then rm -rf "$path"; changed "removed $path"; fi
  done
}
# The install's subcommands (`node-agent install-info` and the like: the agent's own code), run
# straight from their file, on the Node the agent runs on.
agent() { "$1/node_modules/.bin/node" "$1/src/cli/install-steps.ts" "${@:2}"; }
info() { sed -n "s/^$1=//p" <<<"$2"; }

sysctl_path() { echo "/proc/sys/${1//.//}"; }
bridge_nf=0
[ -d /proc/sys/net/bridge ] && bridge_nf=1
br_module=0
{ [ "$bridge_nf" = 1 ] || modinfo br_netfilter >/dev/null 2>&1; } && br_module=1

if [ "$uninstall" = 1 ]; then
  # The agent first: what follows removes what it runs on.
  if [ "$systemd" = 1 ]; then
    if [ -f "$unit" ]; then
      if [ "$systemd_runs" = 1 ]; then
        systemctl disable --now node-agent.service >/dev/null 2>&1 && changed "stopped and disabled node-agent"
        rm -f "$unit"; systemctl daemon-reload; changed "removed $unit"
      else
        systemctl --root="$root" disable node-agent.service >/dev/null 2>&1 && changed "disabled node-agent"
        remove "$unit"
      fi
    fi
    report unit
  fi
  if [ -f "$etc_dir/config.yaml" ]; then
    pid=$(pgrep -f -- " run --config $etc_dir/config.yaml\$" | head -n1 || true)
    [ -z "$pid" ] || die "the agent still runs with $etc_dir/config.yaml (pid $pid). Fix: stop it first (systemctl stop node-agent, or kill $pid), then run --uninstall again"
  fi
  kept=''
  if [ -x "$agent_dir/bin/node-agent" ] && [ -f "$etc_dir/config.yaml" ]; then
    facts=$(agent "$agent_dir" install-info --config "$etc_dir/config.yaml") || die "cannot read $etc_dir/config.yaml (see above). Fix it, or remove the agent's CNI files by hand"
    kept="$(info root "$facts") $(info logs "$facts") $(info containerLogs "$facts") /var/cache/node-agent"
    cni_out=$(agent "$agent_dir" uninstall-cni --config "$etc_dir/config.yaml") || die "removing the CNI plugin and the pod network failed (see above). Fix the cause and run --uninstall again"
    while IFS= read -r line; do echo "$me: $line"; done <<<"$cni_out"
  else
    echo "$me: cni: no installed agent and config: nothing of the plugin to remove"
  fi
  remove "$etc_dir/config.yaml" "$etc_dir/kubeconfig" "$pki_dir"
  report config
  remove "$bin_link" "$agent_dir"
  report agent
  if [ -f "$sysctl_file" ]; then
    # Back to the values found before the install, where they are still what it set.
    while read -r key value; do
      p=$(sysctl_path "$key")
      if [ -w "$p" ] && [ "$(cat "$p")" = 1 ] && [ "$value" != 1 ]; then echo "$value" >"$p"; changed "$key = $value (as before)"; fi
    done < <(sed -n 's/^# before: \([^=]*\)=\(.*\)$/\1 \2/p' "$sysctl_file")
  fi
  remove "$sysctl_file" "$modules_file"
  report kernel
  # The directories the installs made, deepest first, when nothing else lives in them.
  made=()
  [ -f "$manifest" ] && mapfile -t made < <(sed '/^$/d' "$manifest" | sort -r)
  rm -f "$manifest"
  for dir in ${made[@]+"${made[@]}"} "$etc_dir"; do
    [ -d "$dir" ] || continue
    if rmdir "$dir" 2>/dev/null; then changed "removed $dir"; else echo "$me: dirs: kept $dir: not empty (it holds files the install did not make)"; fi
  done
  report dirs
  [ -z "$kept" ] || echo "$me: kept: the agent's state ($kept): pods' volumes, IPAM records and logs; remove them by hand once no pod runs"
  echo "$me: uninstalled ($total_changes changes)"
  exit 0
fi

# --- install ---
[ -x "$repo/node_modules/.bin/node" ] || die "$repo/node_modules/.bin/node is missing. Fix: bash $repo/scripts/setup.sh (installs Node 24 and the npm dependencies)"
facts=$(agent "$repo" install-info --config "$from/config.yaml") || { echo "$me: $from/config.yaml is not a valid agent configuration (see above). Fix it, then run again" >&2; exit 2; }
runtime=$(info runtime "$facts")

if [ "$packages" = 1 ]; then
  wanted=(iproute2 iptables runc containernetworking-plugins)
  if [ "$runtime" = docker ]; then wanted+=(docker.io containerd); else wanted+=(containerd); fi
  missing=()
  for pkg in "${wanted[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q '^install ok installed$' || missing+=("$pkg")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null || die "apt-get install ${missing[*]} failed. Fix: apt-get update, then run again"
    changed "installed ${missing[*]}"
  fi
  report packages
fi

# kernel: the before-values recorded at the first install stay, so the file does not change.
settings=(net.ipv4.ip_forward)
[ "$bridge_nf" = 1 ] && settings+=(net.bridge.bridge-nf-call-iptables)
text="# Written by node-agent's scripts/install.sh: pods are routed, and bridged pod traffic passes iptables.
"
for key in "${settings[@]}"; do
  before=''
  [ ! -f "$sysctl_file" ] || before=$(sed -n "s/^# before: $key=//p" "$sysctl_file" | head -n1)
  [ -n "$before" ] || before=$(cat "$(sysctl_path "$key")")
  text+="# before: $key=$before
"
done
for key in "${settings[@]}"; do text+="$key = 1
"; done
ensure_dir "$(dirname "$sysctl_file")" 0755
put_text "$sysctl_file" 0644 "$text"
for key in "${settings[@]}"; do
  p=$(sysctl_path "$key")
  if [ "$(cat "$p")" != 1 ]; then echo 1 >"$p"; changed "$key = 1"; fi
done
if [ "$br_module" = 1 ]; then
  ensure_dir "$(dirname "$modules_file")" 0755
  put_text "$modules_file" 0644 "br_netfilter
"
  if [ "$root" = / ] && [ "$bridge_nf" = 0 ]; then modprobe br_netfilter && changed "loaded br_netfilter"; fi
fi
report kernel

ensure_dir "$(dirname "$agent_dir")" 0755
if [ "$link_agent" = 1 ]; then
  put_link "$repo" "$agent_dir"
elif [ "$repo" != "$agent_dir" ]; then
  excludes=(--exclude=.git --exclude=.cluster --exclude=.vagrant)
  if [ -L "$agent_dir" ] || [ ! -d "$agent_dir" ] || ! diff -rq --no-dereference -x .git -x .cluster -x .vagrant "$repo" "$agent_dir" >/dev/null 2>&1; then
    # A whole new tree swapped in: no half-copied agent, no file left from an older one.
    rm -rf "$agent_dir.new"
    mkdir -p "$agent_dir.new"
    tar -C "$repo" "${excludes[@]}" -cf - . | tar -C "$agent_dir.new" -xf -
    rm -rf "$agent_dir"
    mv "$agent_dir.new" "$agent_dir"
    changed "copied $repo to $agent_dir"
  fi
fi
ensure_dir "$(dirname "$bin_link")" 0755
put_link "$agent_dir/bin/node-agent" "$bin_link"
report agent

ensure_dir "$etc_dir" 0700
put_file "$from/config.yaml" "$etc_dir/config.yaml" 0644
put_file "$from/kubeconfig" "$etc_dir/kubeconfig" 0600
if [ -f "$from/kubelet.crt" ]; then
  ensure_dir "$pki_dir" 0700
  put_file "$from/kubelet.crt" "$pki_dir/kubelet.crt" 0644
  put_file "$from/kubelet.key" "$pki_dir/kubelet.key" 0600
  put_file "$from/ca.crt" "$pki_dir/ca.crt" 0644
fi
config_changes=${#step_changes[@]}
report config

ensure_dir "$(info cniBin "$facts")" 0755
ensure_dir "$(info cniConf "$facts")" 0755
cni_out=$(agent "$agent_dir" install-cni --config "$etc_dir/config.yaml") || die "installing the CNI plugin failed (see above)"
note=''
while IFS= read -r line; do
  case $line in
    *": wrote") path=${line#cni: }; changed "wrote ${path%: wrote}" ;;
    *"written by the agent"*) note="the conflist is the agent's to write, once it has its pod CIDR" ;;
  esac
done <<<"$cni_out"
report cni "$note"

if [ "$systemd" = 1 ]; then
  ensure_dir "$units_dir" 0755
  put_file "$agent_dir/systemd/node-agent.service" "$unit" 0644
  unit_changes=${#step_changes[@]}
  if [ "$systemd_runs" = 1 ]; then
    [ "$unit_changes" = 0 ] || systemctl daemon-reload
    systemctl is-enabled --quiet node-agent.service || { systemctl enable node-agent.service >/dev/null 2>&1; changed "enabled node-agent"; }
    # Every --from this node gets is checked before the agent (re)starts on it.
    if ! systemctl is-active --quiet node-agent.service; then
      "$agent_dir/bin/node-agent" check --config "$etc_dir/config.yaml" || echo "$me: see the FAIL lines above; the service retries until they are fixed" >&2
      systemctl start node-agent.service; changed "started node-agent"
    elif [ $((config_changes + unit_changes)) -gt 0 ] || [ "$total_changes" -gt 0 ]; then
      systemctl restart node-agent.service; changed "restarted node-agent"
    fi
  else
    ensure_dir "$units_dir/multi-user.target.wants" 0755
    if ! systemctl --root="$root" is-enabled --quiet node-agent.service 2>/dev/null; then
      systemctl --root="$root" enable node-agent.service >/dev/null 2>&1 || die "systemctl --root=$root enable node-agent.service failed"
      changed "enabled node-agent (not started: systemd does not run here)"
    fi
  fi
  report unit
fi

# The directories this and earlier installs made, for --uninstall.
list=$( { cat "$manifest" 2>/dev/null || true; printf '%s\n' ${created_dirs[@]+"${created_dirs[@]}"}; } | sed '/^$/d' | sort -u)
put_text "$manifest" 0600 "$list
"
report dirs

if [ "$total_changes" = 0 ]; then echo "$me: done: nothing changed"; else echo "$me: done: $total_changes changes"; fi
