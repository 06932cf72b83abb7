#!/usr/bin/env bash
# Vagrant provisioning of the control-plane VM (192.168.56.10): the same control plane the lab
# runs, as systemd services, and the files each worker needs under /vagrant/.cluster.
set -euo pipefail
workers=${1:?usage: control-plane.sh WORKERS [docker|containerd]}
runtime=${2:-docker}
cd /vagrant
bash scripts/setup.sh
export PATH="/vagrant/node_modules/.bin:$PATH"
# kubectl at the control plane's version (Debian's is 1.20), for this script and for operators
# who `vagrant ssh control-plane`.
install -m 0755 "$(bash controlplane/kubectl.sh)" /usr/local/bin/kubectl
node src/lab/main.ts vm-files --out /vagrant/.cluster --nodes "$workers" --runtime "$runtime"
for unit in etcd kube-apiserver kube-controller-manager kube-scheduler; do
  install -m 0644 "/vagrant/.cluster/control-plane/systemd/$unit.service" "/etc/systemd/system/$unit.service"
done
systemctl daemon-reload
systemctl enable --now etcd kube-apiserver kube-controller-manager kube-scheduler
# The agents read every Node for their peer routes (see the manifest for why).
for _ in $(seq 60); do
  kubectl --kubeconfig /vagrant/.cluster/admin.kubeconfig apply -f controlplane/rbac/node-agent.yaml && break
  sleep 2
done
echo "control plane up; on the host: export KUBECONFIG=$PWD/.cluster/admin.kubeconfig"
