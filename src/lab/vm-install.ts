import { mkdir, writeFile, copyFile } from 'node:fs/promises';
import { join } from 'node:path';
import yaml from 'js-yaml';
import { componentArgs, controlPlaneComponents, prepareControlPlane, controlPlanePaths, type ControlPlaneOptions } from './controlplane.ts';
import { writeKubeconfig } from './kubeconfig-file.ts';
import type { Lab } from './lab.ts';

/**
 * The same control plane and agent configuration the lab runs, laid out for real VMs (the
 * Vagrantfile's): systemd units for etcd, kube-apiserver, kube-controller-manager and
 * kube-scheduler with exactly the lab's flags, and, per worker, the --from directory of
 * scripts/install.sh (config.yaml, kubeconfig, kubelet.crt, kubelet.key, ca.crt), which it puts in
 * /etc/node-agent; the lab's prepareWorker gives the same script the same files. Writing files
 * only: starting them is systemctl's job on the VM.
 */
export function controlPlaneUnit(component: string, binary: string, args: string[], after: string[]): string {
  const exec = [binary, ...args].map((a) => (/[\s"']/.test(a) ? JSON.stringify(a) : a)).join(' \\\n  ');
  return `# Written by \`npm run lab -- vm-files\`: the lab's ${component}, as a service of the control-plane VM.
[Unit]
Description=Kubernetes ${component} (node-agent lab)
After=network-online.target ${after.join(' ')}
Wants=network-online.target ${after.join(' ')}

[Service]
ExecStart=${exec}
Restart=always
RestartSec=5

[Install]
WantedBy=multi-user.target
`;
}

export async function writeVmFiles(lab: Lab, binDir: string, outDir: string): Promise<string[]> {
  const options: ControlPlaneOptions = { topology: lab.topology, pki: lab.pki, binDir, nodeMonitorGracePeriod: '40s' };
  await prepareControlPlane(options);
  const written: string[] = [];
  const unitsDir = join(outDir, 'control-plane', 'systemd');
  await mkdir(unitsDir, { recursive: true });
  for (const [index, component] of controlPlaneComponents.entries()) {
    const after = controlPlaneComponents.slice(0, Math.min(index, 2)).map((c) => `${c}.service`);
    const path = join(unitsDir, `${component}.service`);
    await writeFile(path, controlPlaneUnit(component, join(binDir, component), componentArgs(component, options), after));
    written.push(path);
  }
  await copyFile(controlPlanePaths(lab.topology).admin, join(outDir, 'admin.kubeconfig'));
  written.push(join(outDir, 'admin.kubeconfig'));
  for (const worker of lab.topology.workers) {
    const dir = join(outDir, worker.name);
    await mkdir(dir, { recursive: true });
    const certName = `node-${worker.name}`;
    await lab.pki.ensureClient({ name: certName, commonName: `system:node:${worker.name}`, organizations: ['system:nodes'] });
    await writeKubeconfig(join(dir, 'kubeconfig'), { server: lab.topology.apiserverURL, caFile: lab.pki.caCert, certFile: lab.pki.cert(certName), keyFile: lab.pki.key(certName), user: `system:node:${worker.name}` });
    // The kubelet API's serving certificate from the cluster CA, and the CA for client certificates.
    const servingName = `kubelet-${worker.name}`;
    await lab.pki.ensureServing(servingName, worker.name, [worker.ip], [worker.name]);
    await copyFile(lab.pki.cert(servingName), join(dir, 'kubelet.crt'));
    await copyFile(lab.pki.key(servingName), join(dir, 'kubelet.key'));
    await copyFile(lab.pki.caCert, join(dir, 'ca.crt'));
    written.push(join(dir, 'kubelet.crt'), join(dir, 'kubelet.key'), join(dir, 'ca.crt'));
    // On a VM the agent keeps the default directories; only identity and network differ per node.
    const config = {
      nodeName: worker.name,
      nodeIP: worker.ip,
      hostname: worker.name,
      kubeconfig: '/etc/node-agent/kubeconfig',
      clusterCIDR: lab.topology.options.clusterCIDR,
      // containerd at its default socket, or the machine's dockerd: as `--runtime` says.
      runtime: { type: lab.topology.options.runtime },
      network: { mode: lab.topology.options.network },
      tlsCertFile: '/etc/node-agent/pki/kubelet.crt',
      tlsPrivateKeyFile: '/etc/node-agent/pki/kubelet.key',
      authentication: { x509: { clientCAFile: '/etc/node-agent/pki/ca.crt' } },
    };
    await writeFile(join(dir, 'config.yaml'), yaml.dump(config));
    written.push(join(dir, 'config.yaml'), join(dir, 'kubeconfig'));
  }
  return written;
}
