import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Lab } from '../../src/lab/lab.ts';
import type { LabMachine } from '../../src/lab/topology.ts';
import { apply, createTestLab, eventually, getPod, kubectl, podManifest } from '../helpers/test-lab.ts';
import { testRuntimes } from '../helpers/node-runtime.ts';

// /metrics and /stats/summary on the kubelet API (10250), read as Prometheus and metrics-server
// read them: through the apiserver's node proxy, with the apiserver's kubelet client certificate.
const busybox = 'localhost/busybox:1';

/** The samples of one metric (name followed by labels or a space) in the text exposition. */
const samples = (text: string, name: string): string[] => text.split('\n').filter((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `));
const value = (line: string): number => Number(line.slice(line.lastIndexOf(' ') + 1));

for (const runtime of testRuntimes) {
  describe(`kubelet metrics and stats on ${runtime}`, () => {
    let lab: Lab;
    let worker: LabMachine;
    let uid: string;

    beforeAll(async () => {
      const created = await createTestLab({ workers: 1, runtime });
      lab = created.lab;
      worker = lab.topology.workers[0]!;
      await lab.up(created.binDir);
      await apply(
        lab,
        podManifest('probed', worker.name, {
          containers: [
            {
              name: 'web',
              image: busybox,
              imagePullPolicy: 'Never',
              // Some memory in use and some CPU spent, so the stats have something to show.
              command: ['sh', '-c', 'mkdir -p /www && echo ok > /www/index.html && httpd -f -p 8080 -h /www & x=$(head -c 2000000 /dev/urandom | md5sum); while true; do sleep 1; done'],
              readinessProbe: { httpGet: { path: '/', port: 8080 }, periodSeconds: 1 },
            },
          ],
        }),
      );
      const pod = await eventually('probed Ready', 90_000, async () => {
        const p = await getPod(lab, 'probed');
        return p.status?.conditions?.some((c: { type: string; status: string }) => c.type === 'Ready' && c.status === 'True') ? p : undefined;
      });
      uid = pod.metadata.uid;
    }, 300_000);

    afterAll(async () => {
      await kubectl(lab, ['delete', 'pod', 'probed', '--wait=false'], { reject: false });
      await lab?.down();
    });

    it('/metrics has the kubelet metrics: pod starts, runtime operations, containers, probe results', async () => {
      const text = (await kubectl(lab, ['get', '--raw', `/api/v1/nodes/${worker.name}/proxy/metrics`])).stdout;
      const starts = samples(text, 'kubelet_pod_start_duration_seconds_count');
      expect(starts).toHaveLength(1);
      expect(value(starts[0]!)).toBeGreaterThanOrEqual(1);
      expect(samples(text, 'kubelet_pod_start_sli_duration_seconds_count').map(value)).toEqual([1]);
      expect(text).toContain('# TYPE kubelet_pod_start_duration_seconds histogram');
      for (const op of ['run_podsandbox', 'create_container', 'start_container', 'list_podsandbox', 'list_containers']) {
        // Label order is prom-client's (the default node label comes first on histograms): match anywhere.
        expect(text, op).toMatch(new RegExp(`^kubelet_runtime_operations_total\\{[^}]*operation_type="${op}"[^}]*\\} [1-9]`, 'm'));
        expect(text, op).toMatch(new RegExp(`^kubelet_runtime_operations_duration_seconds_count\\{[^}]*operation_type="${op}"[^}]*\\} [1-9]`, 'm'));
      }
      expect(text).toContain('# TYPE kubelet_runtime_operations_errors_total counter');
      expect(text).toMatch(/^kubelet_running_containers\{[^}]*container_state="running"[^}]*\} [1-9]/m);
      expect(text).toMatch(/^kubelet_running_pods\{[^}]*\} 1$/m);
      const probes = samples(text, 'prober_probe_total').filter((l) => l.includes(`pod_uid="${uid}"`));
      const ok = probes.find((l) => l.includes('result="successful"'));
      expect(ok, probes.join('\n')).toBeDefined();
      expect(ok).toContain('probe_type="Readiness"');
      expect(ok).toContain('container="web"');
      expect(ok).toContain('pod="probed"');
      expect(ok).toContain('namespace="default"');
      expect(value(ok!)).toBeGreaterThan(0);
      // The same registry as 127.0.0.1:10248 (one registry, two doors); /metrics/probes the prober's alone.
      const onlyProbes = (await kubectl(lab, ['get', '--raw', `/api/v1/nodes/${worker.name}/proxy/metrics/probes`])).stdout;
      expect(onlyProbes).toMatch(/^prober_probe_total\{.*result="successful"/m);
      expect(onlyProbes).not.toContain('kubelet_runtime_operations_total');
    }, 60_000);

    it('/stats/summary has the node and the pod with plausible numbers', async () => {
      const read = async () => JSON.parse((await kubectl(lab, ['get', '--raw', `/api/v1/nodes/${worker.name}/proxy/stats/summary`])).stdout);
      await read();
      // A second read has a previous sample for every cgroup: the CPU rate is known by then.
      await new Promise((r) => setTimeout(r, 1500));
      const summary = await read();
      const node = summary.node;
      expect(node.nodeName).toBe(worker.name);
      expect(Date.parse(node.startTime)).toBeLessThan(Date.now());
      expect(node.cpu.usageCoreNanoSeconds).toBeGreaterThan(0);
      expect(node.cpu.usageNanoCores).toBeGreaterThanOrEqual(0);
      expect(node.memory.usageBytes).toBeGreaterThan(0);
      expect(node.memory.availableBytes).toBeGreaterThan(0);
      expect(node.memory.workingSetBytes).toBeGreaterThan(0);
      expect(node.memory.workingSetBytes).toBeLessThanOrEqual(node.memory.usageBytes);
      expect(node.fs.capacityBytes).toBeGreaterThan(node.fs.availableBytes);
      expect(node.rlimit.maxpid).toBeGreaterThan(0);
      expect(Array.isArray(node.network.interfaces)).toBe(true);

      const pod = summary.pods.find((p: { podRef: { uid: string } }) => p.podRef.uid === uid);
      expect(pod, JSON.stringify(summary.pods)).toBeDefined();
      expect(pod.podRef).toEqual({ name: 'probed', namespace: 'default', uid });
      expect(pod.cpu.usageCoreNanoSeconds).toBeGreaterThan(0);
      expect(pod.cpu.usageNanoCores).toBeGreaterThanOrEqual(0);
      expect(pod.memory.workingSetBytes).toBeGreaterThan(0);
      expect(pod.memory.usageBytes).toBeGreaterThanOrEqual(pod.memory.workingSetBytes);
      expect(pod.network.name).toBe('eth0');
      expect(pod.network.rxBytes).toBeGreaterThanOrEqual(0);
      expect(pod.network.interfaces.map((i: { name: string }) => i.name)).toContain('eth0');
      const web = pod.containers.find((c: { name: string }) => c.name === 'web');
      expect(web, JSON.stringify(pod.containers)).toBeDefined();
      expect(web.cpu.usageCoreNanoSeconds).toBeGreaterThan(0);
      expect(web.memory.workingSetBytes).toBeGreaterThan(0);
      expect(web.memory.usageBytes).toBeLessThanOrEqual(pod.memory.usageBytes);
      // only_cpu_and_memory, as older metrics-servers ask.
      const small = JSON.parse((await kubectl(lab, ['get', '--raw', `/api/v1/nodes/${worker.name}/proxy/stats/summary?only_cpu_and_memory=true`])).stdout);
      expect(small.node.network).toBeUndefined();
      expect(small.node.memory.usageBytes).toBeGreaterThan(0);
    }, 60_000);
  });
}
