#!/usr/bin/env bash
# Vagrant provisioning of a worker VM: runtimes and images (scripts/setup.sh with the control
# plane build skipped), then node-agent as a service with this node's identity, installed by the
# same scripts/install.sh the lab runs for its namespace nodes. Provisioning again (`vagrant
# provision`) changes only what changed.
set -euo pipefail
name=${1:?usage: worker.sh NODE-NAME}
cd /vagrant
SKIP_CONTROLPLANE=1 bash scripts/setup.sh
bash scripts/install.sh --from "/vagrant/.cluster/$name"
