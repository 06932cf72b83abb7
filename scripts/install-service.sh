#!/usr/bin/env bash
# Installs node-agent as a systemd service on a node (a Vagrant worker, or any Debian 12 VM):
# the project under /opt/node-agent, its unit in /etc/systemd/system, and the node's config and
# kubeconfig (from FROM_DIR, e.g. /vagrant/.cluster/worker-1) in /etc/node-agent. Then starts it.
#   scripts/install-service.sh FROM_DIR
set -euo pipefail
from=${1:?usage: install-service.sh DIR-with-config.yaml-and-kubeconfig}
repo=$(cd "$(dirname "$0")/.." && pwd)
[ -f "$from/config.yaml" ] && [ -f "$from/kubeconfig" ] || { echo "install-service: $from must hold config.yaml and kubeconfig (made by 'npm run lab -- vm-files')" >&2; exit 1; }
if [ "$repo" != /opt/node-agent ]; then
  mkdir -p /opt/node-agent
  tar -C "$repo" --exclude=./.git --exclude=./.cluster --exclude=./.vagrant -c . | tar -C /opt/node-agent -x
fi
install -d -m 0755 /etc/node-agent
install -m 0644 "$from/config.yaml" /etc/node-agent/config.yaml
install -m 0600 "$from/kubeconfig" /etc/node-agent/kubeconfig
# The kubelet API's certificate (the apiserver verifies it) and the client CA.
if [ -f "$from/kubelet.crt" ]; then
  install -d -m 0700 /etc/node-agent/pki
  install -m 0644 "$from/kubelet.crt" /etc/node-agent/pki/kubelet.crt
  install -m 0600 "$from/kubelet.key" /etc/node-agent/pki/kubelet.key
  install -m 0644 "$from/ca.crt" /etc/node-agent/pki/ca.crt
fi
install -m 0644 "$repo/systemd/node-agent.service" /etc/systemd/system/node-agent.service
/opt/node-agent/bin/node-agent check --config /etc/node-agent/config.yaml || echo "install-service: see the FAIL lines above; the service retries until they are fixed" >&2
systemctl daemon-reload
systemctl enable --now node-agent
