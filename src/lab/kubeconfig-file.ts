import { readFile, writeFile } from 'node:fs/promises';
import yaml from 'js-yaml';

/**
 * Writes a kubeconfig with the certificates embedded (base64 data), so the file can be copied
 * to a VM on its own, as `kubeadm` does for kubelet.conf and admin.conf.
 */
export async function writeKubeconfig(path: string, options: {
  server: string;
  caFile: string;
  certFile: string;
  keyFile: string;
  user: string;
  clusterName?: string;
}): Promise<void> {
  const b64 = async (file: string): Promise<string> => (await readFile(file)).toString('base64');
  const cluster = options.clusterName ?? 'node-agent-lab';
  const doc = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: cluster, cluster: { server: options.server, 'certificate-authority-data': await b64(options.caFile) } }],
    users: [{ name: options.user, user: { 'client-certificate-data': await b64(options.certFile), 'client-key-data': await b64(options.keyFile) } }],
    contexts: [{ name: `${options.user}@${cluster}`, context: { cluster, user: options.user } }],
    'current-context': `${options.user}@${cluster}`,
  };
  await writeFile(path, yaml.dump(doc), { mode: 0o600 });
}
