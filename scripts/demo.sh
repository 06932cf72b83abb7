#!/usr/bin/env bash
# The demo of README.md: sets the machine up, brings up a lab of simulated VMs (a real
# Kubernetes control plane and one node-agent per worker), waits for the workers to be Ready and
# shows them the way an operator would look: kubectl (get, logs, exec), the leases, and a
# node report.
# The lab stays up afterwards; `npm run lab -- down` removes it.
#   NODES=3 RUNTIME=containerd NETWORK=vxlan bash scripts/demo.sh
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
nodes=${NODES:-2}
runtime=${RUNTIME:-docker}
network=${NETWORK:-host-gw}
bash scripts/setup.sh
export PATH="$repo/node_modules/.bin:$PATH"

echo
echo "== lab: control plane + $nodes workers, runtime $runtime, network $network"
node src/lab/main.ts down >/dev/null
node src/lab/main.ts up --nodes "$nodes" --runtime "$runtime" --network "$network"
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
kubectl get nodes -o custom-columns='NODE:.metadata.name,IP:.status.addresses[?(@.type=="InternalIP")].address,POD-CIDR:.spec.podCIDR,READY:.status.conditions[?(@.type=="Ready")].reason,MEMORY:.status.conditions[?(@.type=="MemoryPressure")].reason,DISK:.status.conditions[?(@.type=="DiskPressure")].reason,PID:.status.conditions[?(@.type=="PIDPressure")].reason,RUNTIME-HEALTH:.status.conditions[?(@.type=="ContainerRuntimeUnhealthy")].reason,RUNTIME:.status.nodeInfo.containerRuntimeVersion,AGENT:.status.nodeInfo.kubeletVersion'
echo
echo "== a pod on each worker (two containers sharing localhost), run by node-agent on $runtime"
echo "   (the server's readiness probe, an HTTP GET to the pod IP, decides READY)"
for i in $(seq "$nodes"); do
  kubectl apply -f - >/dev/null <<YAML
apiVersion: v1
kind: Pod
metadata: {name: hello-$i, labels: {app: hello}}
spec:
  nodeName: worker-$i
  terminationGracePeriodSeconds: 2
  containers:
  - name: server
    image: localhost/busybox:1
    command: [sh, -c, "mkdir -p /www && echo hello from worker-$i > /www/index.html && exec httpd -f -p 0.0.0.0:8080 -h /www"]
    readinessProbe: {httpGet: {path: /, port: 8080}, periodSeconds: 2}
    livenessProbe: {tcpSocket: {port: 8080}, periodSeconds: 5}
  - {name: client, image: localhost/busybox:1, command: [sh, -c, "while true; do wget -qO- http://127.0.0.1:8080/; sleep 5; done"]}
YAML
done
kubectl wait --for=condition=Ready pod -l app=hello --timeout=120s >/dev/null
kubectl get pods -o wide
sleep 1
# kubectl logs, through the apiserver to the agent's kubelet API on the worker (port 10250).
for i in $(seq "$nodes"); do
  echo "worker-$i client saw (kubectl logs hello-$i -c client --tail=1): $(kubectl logs "hello-$i" -c client --tail=1)"
done

if [ "$nodes" -ge 2 ]; then
  echo
  case $network in vxlan) how="a VXLAN tunnel between the nodes";; *) how="a route via the peer node";; esac
  echo "== pod to pod across nodes ($network: $how), no NAT"
  target=$(kubectl get pod hello-2 -o jsonpath='{.status.podIP}')
  echo "$ kubectl exec hello-1 -c client -- ping -c 3 $target     (worker-1 -> worker-2)"
  kubectl exec hello-1 -c client -- ping -c 3 -W 2 "$target" | sed 's/^/  /'
  echo "$ kubectl exec hello-1 -c client -- wget -qO- http://$target:8080/"
  kubectl exec hello-1 -c client -- timeout 10 wget -qO- "http://$target:8080/" | sed 's/^/  /'
fi

echo
echo "== node-agent report on worker-1 (what an operator runs on the node)"
node src/lab/main.ts report worker-1 || true

echo
echo "== events"
kubectl get events -n default --field-selector involvedObject.kind=Node --sort-by=.lastTimestamp | tail -n 12

cat <<TXT

The lab is up. Try:
  export KUBECONFIG=$KUBECONFIG
  npm run lab -- agent kill worker-2     # within ~20 s worker-2 turns Unknown and is tainted unreachable
  kubectl get nodes -w
  kubectl exec -it hello-1 -c client -- sh   # a shell in the pod (exit to leave)
  kubectl get --raw /api/v1/nodes/worker-1/proxy/stats/summary   # the node's kubelet API, through the apiserver
  npm run lab -- agent start worker-2    # Ready again
  npm run lab -- status
  npm run lab -- down                    # remove everything the lab made
TXT
