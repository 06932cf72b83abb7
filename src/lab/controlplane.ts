import { request } from 'node:https';
import { readFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import type { Pki } from './pki.ts';
import type { LabTopology } from './topology.ts';
import { spawnInNetns, waitFor, stopProcess } from './daemon.ts';
import { writeKubeconfig } from './kubeconfig-file.ts';
import { processAlive } from './netns.ts';

export const controlPlaneComponents = ['etcd', 'kube-apiserver', 'kube-controller-manager', 'kube-scheduler'] as const;
export type ControlPlaneComponent = (typeof controlPlaneComponents)[number];

export interface ControlPlaneOptions {
  topology: LabTopology;
  pki: Pki;
  binDir: string;
  /** How long the node lifecycle controller waits for a silent node (kube default 40s). */
  nodeMonitorGracePeriod: string;
}

/** Where each component's files go. */
export function controlPlanePaths(topology: LabTopology) {
  const dir = topology.controlPlane.dir;
  return {
    dir,
    etcdData: join(dir, 'etcd'),
    log: (c: ControlPlaneComponent) => join(dir, `${c}.log`),
    kubeconfig: (user: string) => join(dir, `${user}.kubeconfig`),
    admin: join(topology.options.stateDir, 'admin.kubeconfig'),
  };
}

/** The command line of each component: the upstream binaries with a real cluster's settings. */
export function componentArgs(component: ControlPlaneComponent, options: ControlPlaneOptions): string[] {
  const { topology, pki } = options;
  const paths = controlPlanePaths(topology);
  const cp = topology.controlPlane;
  switch (component) {
    case 'etcd':
      // Only the apiserver talks to etcd, over the control-plane VM's loopback.
      return [
        '--name', 'control-plane', '--data-dir', paths.etcdData,
        '--listen-client-urls', 'http://127.0.0.1:2379', '--advertise-client-urls', 'http://127.0.0.1:2379',
        '--listen-peer-urls', 'http://127.0.0.1:2380', '--initial-advertise-peer-urls', 'http://127.0.0.1:2380',
        '--initial-cluster', 'control-plane=http://127.0.0.1:2380', '--log-level', 'warn',
      ];
    case 'kube-apiserver':
      return [
        `--advertise-address=${cp.ip}`, '--bind-address=0.0.0.0', '--secure-port=6443',
        '--etcd-servers=http://127.0.0.1:2379',
        `--client-ca-file=${pki.caCert}`,
        `--tls-cert-file=${pki.cert('apiserver')}`, `--tls-private-key-file=${pki.key('apiserver')}`,
        `--kubelet-client-certificate=${pki.cert('apiserver-kubelet-client')}`, `--kubelet-client-key=${pki.key('apiserver-kubelet-client')}`,
        `--kubelet-certificate-authority=${pki.caCert}`,
        '--kubelet-preferred-address-types=InternalIP,Hostname',
        `--service-account-issuer=https://kubernetes.default.svc.cluster.local`,
        `--service-account-key-file=${pki.saPub}`, `--service-account-signing-key-file=${pki.saKey}`,
        `--service-cluster-ip-range=${topology.options.serviceCIDR}`,
        // A real cluster's authorization: the Node authorizer confines each node to its own objects.
        '--authorization-mode=Node,RBAC', '--enable-admission-plugins=NodeRestriction',
        '--allow-privileged=true', '--profiling=false', '--v=1',
      ];
    case 'kube-controller-manager':
      return [
        `--kubeconfig=${paths.kubeconfig('kube-controller-manager')}`,
        `--authentication-kubeconfig=${paths.kubeconfig('kube-controller-manager')}`,
        `--authorization-kubeconfig=${paths.kubeconfig('kube-controller-manager')}`,
        '--bind-address=127.0.0.1', '--leader-elect=false',
        // Node IPAM: every node gets its own /24 of the cluster CIDR.
        '--allocate-node-cidrs=true', `--cluster-cidr=${topology.options.clusterCIDR}`, '--node-cidr-mask-size=24',
        `--service-cluster-ip-range=${topology.options.serviceCIDR}`,
        `--cluster-signing-cert-file=${pki.caCert}`, `--cluster-signing-key-file=${pki.caKey}`,
        `--root-ca-file=${pki.caCert}`, `--service-account-private-key-file=${pki.saKey}`,
        '--use-service-account-credentials=true', '--controllers=*,bootstrapsigner,tokencleaner',
        `--node-monitor-grace-period=${options.nodeMonitorGracePeriod}`, '--node-monitor-period=2s', '--v=1',
      ];
    case 'kube-scheduler':
      return [
        `--kubeconfig=${paths.kubeconfig('kube-scheduler')}`,
        `--authentication-kubeconfig=${paths.kubeconfig('kube-scheduler')}`,
        `--authorization-kubeconfig=${paths.kubeconfig('kube-scheduler')}`,
        '--bind-address=127.0.0.1', '--leader-elect=false', '--v=1',
      ];
  }
}

/** Certificates and kubeconfigs of the control plane and the admin, created once. */
export async function prepareControlPlane(options: ControlPlaneOptions): Promise<void> {
  const { topology, pki } = options;
  const paths = controlPlanePaths(topology);
  await mkdir(paths.etcdData, { recursive: true, mode: 0o700 });
  await pki.ensureCa();
  const serviceIP = firstServiceIP(topology.options.serviceCIDR);
  await pki.ensureServing('apiserver', 'kube-apiserver', [topology.controlPlane.ip, serviceIP, '127.0.0.1'],
    ['kubernetes', 'kubernetes.default', 'kubernetes.default.svc', 'kubernetes.default.svc.cluster.local', 'localhost', 'control-plane']);
  await pki.ensureClient({ name: 'apiserver-kubelet-client', commonName: 'kube-apiserver-kubelet-client', organizations: ['kubeadm:cluster-admins'] });
  const clients = [
    { name: 'admin', commonName: 'kubernetes-admin', organizations: ['system:masters'] },
    { name: 'kube-controller-manager', commonName: 'system:kube-controller-manager', organizations: [] },
    { name: 'kube-scheduler', commonName: 'system:kube-scheduler', organizations: [] },
  ];
  for (const client of clients) {
    await pki.ensureClient(client);
    const target = client.name === 'admin' ? paths.admin : paths.kubeconfig(client.name);
    await writeKubeconfig(target, { server: topology.apiserverURL, caFile: pki.caCert, certFile: pki.cert(client.name), keyFile: pki.key(client.name), user: client.commonName });
  }
}

export function startComponent(component: ControlPlaneComponent, options: ControlPlaneOptions): number {
  const paths = controlPlanePaths(options.topology);
  return spawnInNetns(options.topology.controlPlane.netns, join(options.binDir, component), componentArgs(component, options), paths.log(component));
}

/** Starts etcd, the apiserver, the controller manager and the scheduler; waits until the apiserver is ready. */
export async function startControlPlane(options: ControlPlaneOptions, onStarted: (c: ControlPlaneComponent, pid: number) => void): Promise<void> {
  const { topology } = options;
  const paths = controlPlanePaths(topology);
  const etcd = startComponent('etcd', options);
  onStarted('etcd', etcd);
  await waitFor('etcd to listen', 30_000, async () => {
    if (!(await processAlive(etcd))) throw new Error(`etcd exited; see ${paths.log('etcd')}`);
    const probe = await execa('ip', ['netns', 'exec', topology.controlPlane.netns, 'bash', '-c', 'exec 3<>/dev/tcp/127.0.0.1/2379'], { reject: false });
    return probe.exitCode === 0;
  });
  const apiserver = startComponent('kube-apiserver', options);
  onStarted('kube-apiserver', apiserver);
  await waitForApiserver(options, apiserver);
  for (const component of ['kube-controller-manager', 'kube-scheduler'] as const) {
    onStarted(component, startComponent(component, options));
  }
}

/** Waits for /readyz of the apiserver as the admin sees it. */
export async function waitForApiserver(options: ControlPlaneOptions, pid: number | undefined, timeoutMs = 90_000): Promise<void> {
  const paths = controlPlanePaths(options.topology);
  await waitFor('the apiserver to be ready', timeoutMs, async () => {
    if (pid !== undefined && !(await processAlive(pid))) throw new Error(`kube-apiserver exited; see ${paths.log('kube-apiserver')}`);
    return (await apiserverGet(options, '/readyz')).status === 200;
  }, 500);
}

/** A GET to the apiserver with the admin's certificate. */
export async function apiserverGet(options: { topology: LabTopology; pki: Pki }, path: string): Promise<{ status: number; body: string }> {
  const { pki, topology } = options;
  const [ca, cert, key] = await Promise.all([readFile(pki.caCert), readFile(pki.cert('admin')), readFile(pki.key('admin'))]);
  return new Promise((resolve, reject) => {
    const req = request(`${topology.apiserverURL}${path}`, { ca, cert, key, timeout: 5000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

export async function stopComponent(pid: number): Promise<void> {
  await stopProcess(pid, 10_000);
}

function firstServiceIP(cidr: string): string {
  const [net = '10.96.0.0'] = cidr.split('/');
  const parts = net.split('.').map(Number);
  parts[3] = (parts[3] ?? 0) + 1;
  return parts.join('.');
}
