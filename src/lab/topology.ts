/**
 * The lab's layout, as the Vagrantfile lays out real VMs: a host-only network (192.168.56.0/24 by
 * default) with the host at .1, the control plane at .10 and workers from .11. Each simulated VM
 * is a network namespace joined to one bridge by a veth pair. Pure, so names and addresses are
 * tested without a machine; `prefix` keeps a test's lab apart from the demo's.
 */
export interface LabOptions {
  /** Short tag for every name the lab makes (namespaces, links, directories); at most 6 characters. */
  prefix: string;
  /** First three octets of the host-only network, e.g. "192.168.56". */
  subnet: string;
  workers: number;
  clusterCIDR: string;
  serviceCIDR: string;
  network: 'host-gw' | 'vxlan' | 'none';
  /** docker: the machine's dockerd, shared by every worker; containerd: one containerd per worker namespace. */
  runtime: 'docker' | 'containerd';
  stateDir: string;
}

export interface LabMachine {
  name: string;
  /** Network namespace standing for the VM. */
  netns: string;
  ip: string;
  /** veth end on the host bridge, and the end inside the namespace (eth1, as on a Vagrant VM). */
  hostLink: string;
  vmLink: string;
  dir: string;
}

export interface LabTopology {
  options: LabOptions;
  bridge: string;
  hostIP: string;
  prefixLength: 24;
  controlPlane: LabMachine;
  workers: LabMachine[];
  apiserverURL: string;
}

export const defaultLabOptions: LabOptions = {
  prefix: 'nalab',
  subnet: '192.168.56',
  workers: 2,
  clusterCIDR: '10.244.0.0/16',
  serviceCIDR: '10.96.0.0/12',
  network: 'host-gw',
  runtime: 'docker',
  stateDir: '/var/lib/node-agent-lab',
};

export function labTopology(options: LabOptions): LabTopology {
  if (!/^[a-z][a-z0-9]{0,5}$/.test(options.prefix)) throw new Error(`lab prefix "${options.prefix}" must be 1-6 lower-case letters or digits`);
  if (!/^[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}$/.test(options.subnet)) throw new Error(`lab subnet "${options.subnet}" must be three octets, e.g. 192.168.56`);
  if (options.workers < 1 || options.workers > 50) throw new Error(`--nodes must be from 1 to 50, got ${options.workers}`);
  const machine = (name: string, index: number, short: string): LabMachine => ({
    name,
    netns: `${options.prefix}-${name}`,
    ip: `${options.subnet}.${index}`,
    hostLink: `${options.prefix}-${short}`,
    vmLink: 'eth1',
    dir: `${options.stateDir}/${name}`,
  });
  const controlPlane = machine('control-plane', 10, 'cp');
  const workers = Array.from({ length: options.workers }, (_, i) => machine(`worker-${i + 1}`, 11 + i, `w${i + 1}`));
  return {
    options,
    bridge: `${options.prefix}-br`,
    hostIP: `${options.subnet}.1`,
    prefixLength: 24,
    controlPlane,
    workers,
    apiserverURL: `https://${controlPlane.ip}:6443`,
  };
}
