/** Defaults, matching the kubelet's where the kubelet has one (comments name the kubelet field). */
export const configDefaults = {
  runtimeEndpoints: {
    docker: 'unix:///var/run/docker.sock',
    containerd: 'unix:///run/containerd/containerd.sock', // containerRuntimeEndpoint
  },
  runtimeRequestTimeout: '2m', // runtimeRequestTimeout
  networkMode: 'host-gw',
  /** flannel's VXLAN port on Linux; the IANA port 4789 is left to other overlays on the node. */
  vxlanPort: 8472,
  clusterDomain: 'cluster.local', // clusterDomain
  resolvConf: '/etc/resolv.conf', // resolvConf
  directories: {
    root: '/var/lib/node-agent', // --root-dir
    logs: '/var/log/pods', // podLogsDir
    // The kubelet's fixed legacy log links, <pod>_<namespace>_<container>-<id>.log, for log shippers.
    containerLogs: '/var/log/containers',
    manifests: '/etc/node-agent/manifests', // staticPodPath
    cniBin: '/opt/cni/bin',
    cniConf: '/etc/cni/net.d',
  },
  maxPods: 110, // maxPods
  port: 10250, // port
  address: '0.0.0.0', // address
  // authentication.webhook.cacheTTL, authorization.webhook.cacheAuthorizedTTL / cacheUnauthorizedTTL
  authnCacheTTL: '2m',
  authzCacheAuthorizedTTL: '5m',
  authzCacheUnauthorizedTTL: '30s',
  healthzBindAddress: '127.0.0.1', // healthzBindAddress
  healthzPort: 10248, // healthzPort
  nodeStatusUpdateFrequency: '10s', // nodeStatusUpdateFrequency
  nodeStatusReportFrequency: '5m', // nodeStatusReportFrequency
  nodeLeaseDurationSeconds: 40, // nodeLeaseDurationSeconds
  evictionHard: { 'memory.available': '100Mi', 'nodefs.available': '10%', 'nodefs.inodesFree': '5%', 'imagefs.available': '15%', 'pid.available': '0' },
  /** node-problem-detector's kernel monitor logPath. */
  kmsgPath: '/dev/kmsg',
  logFormat: 'json',
  logLevel: 'info',
} as const;
