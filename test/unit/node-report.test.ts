import { describe, expect, it } from 'vitest';
import type { V1Node, V1Pod } from '@kubernetes/client-node';
import { buildNodeReport, isProblem, podStatusColumn, type ReportInput } from '../../src/report/node-report.ts';
import { formatNodeReport, printable, shortAge } from '../../src/report/format-report.ts';
import { agentBaseUrl } from '../../src/report/gather-report.ts';

const now = Date.parse('2026-12-07T12:00:00Z');
const ago = (s: number) => new Date(now - s * 1000);

const node: V1Node = {
  metadata: { name: 'w1' },
  spec: { podCIDR: '10.244.1.0/24' },
  status: {
    addresses: [{ type: 'InternalIP', address: '192.168.50.11' }],
    nodeInfo: { kubeletVersion: 'v1.31.0-node-agent', containerRuntimeVersion: 'docker://26.1.5', kernelVersion: '6.1.0', osImage: 'Debian', architecture: 'amd64', bootID: '', machineID: '', systemUUID: '', kubeProxyVersion: '', operatingSystem: 'linux' },
    conditions: [
      { type: 'KernelDeadlock', status: 'True', reason: 'DockerHung', message: 'task dockerd:1 blocked for more than 120 seconds.', lastTransitionTime: ago(300), lastHeartbeatTime: ago(5) },
      { type: 'MemoryPressure', status: 'False', reason: 'KubeletHasSufficientMemory', message: 'kubelet has sufficient memory available', lastTransitionTime: ago(4000) },
      { type: 'NTPProblem', status: 'Unknown', reason: 'NTPCheckHangs', message: 'Timeout when running plugin', lastTransitionTime: ago(30) },
      { type: 'Ready', status: 'True', reason: 'KubeletReady', message: 'node-agent is posting ready status', lastTransitionTime: ago(4000) },
    ],
  },
};

const pod = (name: string, status: NonNullable<V1Pod['status']>, containers = 1): V1Pod => ({
  metadata: { namespace: 'default', name, creationTimestamp: ago(120) },
  spec: { containers: Array.from({ length: containers }, (_, i) => ({ name: `c${i}` })) },
  status,
});

const base = (): ReportInput => ({
  nodeName: 'w1',
  now,
  node,
  pods: [
    pod('web', { phase: 'Running', podIP: '10.244.1.5', startTime: ago(90), containerStatuses: [{ name: 'c0', ready: true, restartCount: 2, image: '', imageID: '', state: { running: {} } }] }),
    pod('crashy', { phase: 'Running', containerStatuses: [{ name: 'c0', ready: false, restartCount: 7, image: '', imageID: '', state: { waiting: { reason: 'CrashLoopBackOff' } } }] }, 2),
  ],
  agent: {
    problems: {
      conditions: [],
      recent: [{ source: 'kernel-monitor', kind: 'temporary', reason: 'OOMKilling', message: 'Killed process 42 (java)', count: 3, firstSeen: ago(600).toISOString(), lastSeen: ago(60).toISOString() }],
    },
    network: {
      mode: 'host-gw',
      podCIDR: '10.244.1.0/24',
      peers: [
        { name: 'w2', nodeIP: '192.168.50.12', podCIDR: '10.244.2.0/24', via: '192.168.50.12', state: 'ok', problems: [] },
        { name: 'w3', nodeIP: '192.168.50.13', podCIDR: '10.244.3.0/24', via: '192.168.50.13', state: 'broken', problems: ['missing route for peer w3: 10.244.3.0/24 via 192.168.50.13 oif 2'] },
      ],
    },
  },
});

/** The full input with some parts replaced, or taken away (undefined). */
const input = (over: { [K in keyof ReportInput]?: ReportInput[K] | undefined } = {}): ReportInput => {
  const merged: Record<string, unknown> = { ...base(), ...over };
  for (const k of Object.keys(merged)) if (merged[k] === undefined) delete merged[k];
  return merged as unknown as ReportInput;
};

describe('node report', () => {
  it('lists what is wrong first: conditions in trouble and unreachable peers', () => {
    const r = buildNodeReport(input());
    expect(r.ready).toEqual({ status: 'True', reason: 'KubeletReady', message: 'node-agent is posting ready status' });
    expect(r.problems).toEqual([
      'KernelDeadlock True (DockerHung): task dockerd:1 blocked for more than 120 seconds.',
      'NTPProblem Unknown (NTPCheckHangs): Timeout when running plugin',
      'peer w3 unreachable: missing route for peer w3: 10.244.3.0/24 via 192.168.50.13 oif 2',
    ]);
    expect(r.conditions.find((c) => c.type === 'KernelDeadlock')).toMatchObject({ ageSeconds: 300, problem: true });
    expect(r.recentProblems[0]).toMatchObject({ reason: 'OOMKilling', count: 3, ageSeconds: 60 });
    expect(r.pods?.map((p) => [p.name, p.status, p.ready, p.restarts])).toEqual([
      ['crashy', 'CrashLoopBackOff', '0/2', 7],
      ['web', 'Running', '1/1', 2],
    ]);
    expect(r.info).toMatchObject({ podCIDR: '10.244.1.0/24', internalIP: '192.168.50.11', runtime: 'docker://26.1.5' });
    expect(r.unavailable).toEqual([]);
  });

  it('reads as a person would: Ready line, problems marked, ages, aligned tables', () => {
    const text = formatNodeReport(buildNodeReport(input()));
    expect(text.split('\n')[0]).toBe('Node w1: Ready');
    expect(text).toContain('  3 problems:\n  ! KernelDeadlock True (DockerHung)');
    expect(text).toMatch(/^ {2}! KernelDeadlock +True +DockerHung +5m +task dockerd:1 blocked/m);
    expect(text).toMatch(/^ {2}60s +3 +kernel-monitor +OOMKilling +Killed process 42 \(java\)$/m);
    expect(text).toMatch(/^ {2}default +crashy +0\/2 +CrashLoopBackOff +7 +- +2m$/m);
    expect(text).toContain('Network (host-gw, pod CIDR 10.244.1.0/24): 1 of 2 peers unreachable');
    expect(text).toMatch(/^ {2}w3 +192\.168\.50\.13 +10\.244\.3\.0\/24 +192\.168\.50\.13 +broken +missing route/m);
  });

  it('a node that is not Ready says why on its first line', () => {
    const conditions = [{ type: 'Ready', status: 'False', reason: 'KubeletNotReady', message: 'container runtime is down: docker ping failed' }];
    const text = formatNodeReport(buildNodeReport(input({ node: { ...node, status: { ...node.status, conditions } } })));
    expect(text.split('\n')[0]).toBe('Node w1: NotReady (KubeletNotReady: container runtime is down: docker ping failed)');
  });

  it('names each source it could not read and still shows the rest', () => {
    const r = buildNodeReport(input({ agent: undefined, agentError: 'not answering at http://127.0.0.1:10248 (fetch failed)', events: [
      { metadata: { name: 'e1' }, involvedObject: {}, type: 'Warning', reason: 'TaskHung', message: 'task x blocked', count: 2, lastTimestamp: ago(30), source: { component: 'kernel-monitor' } },
      { metadata: { name: 'e2' }, involvedObject: {}, type: 'Normal', reason: 'Starting', message: 'Starting node-agent', lastTimestamp: ago(10) },
    ] }));
    expect(r.unavailable).toEqual(['local agent: not answering at http://127.0.0.1:10248 (fetch failed)']);
    expect(r.recentProblems.map((p) => [p.reason, p.count, p.source])).toEqual([['TaskHung', 2, 'kernel-monitor']]);
    const text = formatNodeReport(r);
    expect(text).toContain('(not shown: local agent: not answering');
    expect(text).toContain('Network\n  not known (the local agent did not answer)');
    // Without the apiserver, the agent's own conditions.
    const offline = buildNodeReport(input({ node: undefined, pods: undefined, apiError: 'unreachable' }));
    expect(offline.ready.status).toBe('Unknown');
    expect(formatNodeReport(offline)).toContain('Pods\n  not known (apiserver not read)');
  });

  it('no escape sequence or line break from a message reaches the terminal', () => {
    const hostile = 'ok\u001b[2J\u001b]0;pwned\u0007\r\nFAKE LINE';
    const conditions = [{ type: 'NTPProblem', status: 'True', reason: 'NTPIsDown', message: hostile }, { type: 'Ready', status: 'True', reason: 'KubeletReady', message: '' }];
    const text = formatNodeReport(buildNodeReport(input({ node: { ...node, status: { ...node.status, conditions } } })));
     
    expect(text).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f]/);
    expect(text).not.toMatch(/^FAKE LINE/m);
    expect(printable('a'.repeat(300), 10)).toBe(`${'a'.repeat(9)}…`);
  });

  it('helpers: kubectl ages, the STATUS column, which conditions are problems, the agent URL', () => {
    expect([59, 119, 150, 601, 3 * 3600 + 60, 30 * 3600, 3 * 86400 + 4 * 3600, 12 * 86400].map(shortAge)).toEqual(['59s', '119s', '2m30s', '10m', '3h1m', '30h', '3d4h', '12d']);
    expect(podStatusColumn(pod('x', { phase: 'Pending', containerStatuses: [{ name: 'c0', ready: false, restartCount: 0, image: '', imageID: '', state: { waiting: { reason: 'ErrImageNeverPull' } } }] }))).toBe('ErrImageNeverPull');
    expect(podStatusColumn(pod('x', { phase: 'Failed', reason: 'Evicted' }))).toBe('Evicted');
    expect(podStatusColumn(pod('x', { phase: 'Succeeded', containerStatuses: [{ name: 'c0', ready: false, restartCount: 0, image: '', imageID: '', state: { terminated: { exitCode: 0, reason: 'Completed' } } }] }))).toBe('Succeeded');
    expect([isProblem('Ready', 'True'), isProblem('Ready', 'False'), isProblem('DiskPressure', 'False'), isProblem('NetworkUnavailable', 'True'), isProblem('X', 'Unknown')]).toEqual([false, true, false, true, true]);
    expect(agentBaseUrl({ healthz: { bindAddress: '0.0.0.0', port: 10248 } })).toBe('http://127.0.0.1:10248');
    expect(agentBaseUrl({ healthz: { bindAddress: 'fd00::1', port: 10248 } })).toBe('http://[fd00::1]:10248');
    expect(agentBaseUrl({ healthz: { bindAddress: '127.0.0.1', port: 0 } })).toBeUndefined();
  });
});
