import { join } from 'node:path';

/** The node settings every unit test's PodSyncer shares: a node n1 with its files under `root`. */
export function fakeNodeSettings(root: string) {
  return {
    runtimeName: 'fake',
    nodeName: 'n1',
    nodeIP: '192.168.56.11',
    logsDir: join(root, 'logs'),
    nodeAllocatable: () => ({ cpu: '2', memory: '4Gi' }),
    rootDir: root,
    dns: { cluster: { servers: [], domain: 'cluster.local' }, host: { servers: ['192.168.56.1'], searches: [], options: [] }, nodeHosts: '' },
    removePodCgroups: async () => [],
  };
}
