#!/usr/bin/env bash
# The demo of README.md: sets the machine up, brings up a lab of simulated VMs (a real
# Kubernetes control plane and one node-agent per worker), waits for the workers to be Ready and
# shows them the way an operator would look: kubectl, the leases, and a node report.
# The lab stays up afterwards; `npm run lab -- down` removes it.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
nodes=${NODES:-2}
bash scripts/setup.sh
export PATH="$repo/node_modules/.bin:$PATH"

echo
echo "== lab: control plane + $nodes workers"
node src/lab/main.ts down >/dev/null
node src/lab/main.ts up --nodes "$nodes"
export KUBECONFIG=/var/lib/node-agent-lab/nalab/admin.kubeconfig

echo
echo "== waiting for the workers to be Ready"
for _ in $(seq 60); do
  [ "$(kubectl get nodes --no-headers 2>/dev/null | wc -l)" -ge "$nodes" ] && break
  sleep 1
done
kubectl wait --for=condition=Ready node --all --timeout=120s
# The controller manager's node IPAM gives each node its own pod CIDR; wait until all have one.
for _ in $(seq 60); do
  [ "$(kubectl get nodes -o jsonpath='{.items[*].spec.podCIDR}' | wc -w)" -ge "$nodes" ] && break
  sleep 1
done

echo
echo "== kubectl get nodes -o wide"
kubectl get nodes -o wide
echo
echo "== kubectl get lease -n kube-node-lease (renewed every 10 s)"
kubectl get lease -n kube-node-lease -o custom-columns=NAME:.metadata.name,HOLDER:.spec.holderIdentity,DURATION:.spec.leaseDurationSeconds,RENEWED:.spec.renewTime
echo
echo "== node report"
kubectl get nodes -o custom-columns='NODE:.metadata.name,IP:.status.addresses[?(@.type=="InternalIP")].address,POD-CIDR:.spec.podCIDR,READY:.status.conditions[?(@.type=="Ready")].reason,MEMORY:.status.conditions[?(@.type=="MemoryPressure")].reason,DISK:.status.conditions[?(@.type=="DiskPressure")].reason,PID:.status.conditions[?(@.type=="PIDPressure")].reason,RUNTIME:.status.nodeInfo.containerRuntimeVersion,AGENT:.status.nodeInfo.kubeletVersion'
echo
echo "== a pod on each worker (two containers sharing localhost), run by node-agent on Docker"
for i in $(seq "$nodes"); do
  kubectl apply -f - >/dev/null <<YAML
apiVersion: v1
kind: Pod
metadata: {name: hello-$i, labels: {app: hello}}
spec:
  nodeName: worker-$i
  terminationGracePeriodSeconds: 2
  containers:
  - {name: server, image: localhost/busybox:1, command: [sh, -c, "mkdir -p /www && echo hello from worker-$i > /www/index.html && exec httpd -f -p 127.0.0.1:8080 -h /www"]}
  - {name: client, image: localhost/busybox:1, command: [sh, -c, "while true; do wget -qO- http://127.0.0.1:8080/; sleep 5; done"]}
YAML
done
kubectl wait --for=condition=Ready pod -l app=hello --timeout=120s >/dev/null
kubectl get pods -o wide
sleep 1
for i in $(seq "$nodes"); do
  echo "worker-$i client saw: $(docker logs "$(docker ps -q --filter label=io.kubernetes.pod.name=hello-$i --filter label=io.kubernetes.container.name=client | head -1)" 2>&1 | tail -1)"
done

echo
echo "== events"
kubectl get events -n default --field-selector involvedObject.kind=Node --sort-by=.lastTimestamp | tail -n 12

cat <<TXT

The lab is up. Try:
  export KUBECONFIG=$KUBECONFIG
  npm run lab -- agent kill worker-2     # within ~20 s worker-2 turns Unknown and is tainted unreachable
  kubectl get nodes -w
  npm run lab -- agent start worker-2    # Ready again
  npm run lab -- status
  npm run lab -- down                    # remove everything the lab made
TXT
