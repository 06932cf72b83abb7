import { describe, expect, it } from 'vitest';
import { agentMetrics } from '../../src/metrics/agent-metrics.ts';
import { ProblemReporter } from '../../src/problems/problem-reporter.ts';
import { nullRecorder } from '../../src/kube/event-recorder.ts';

/** The samples of one metric family in the text exposition, without HELP and TYPE lines. */
const samples = (text: string, name: string): string[] => text.split('\n').filter((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `));

describe('agent metrics', () => {
  it('problem_counter and problem_gauge follow the reporter at every scrape', async () => {
    const reporter = new ProblemReporter({ nodeName: 'n1', eventsFor: () => nullRecorder });
    reporter.register([{ type: 'KernelDeadlock', status: 'False', reason: 'KernelHasNoDeadlock', message: '' }]);
    reporter.declareReasons(['OOMKilling']);
    const status = { patches: 3, failures: 1 };
    const registry = agentMetrics({ nodeName: 'n1', problems: reporter, nodeStatus: status, runningPods: () => 2 });

    let text = await registry.metrics();
    expect(samples(text, 'problem_counter')).toEqual(['problem_counter{reason="OOMKilling",node="n1"} 0']);
    expect(samples(text, 'problem_gauge')).toEqual(['problem_gauge{type="KernelDeadlock",reason="KernelHasNoDeadlock",node="n1"} 0']);
    expect(samples(text, 'kubelet_running_pods')).toEqual(['kubelet_running_pods{node="n1"} 2']);
    expect(samples(text, 'node_agent_node_status_patches_total')).toEqual(['node_agent_node_status_patches_total{node="n1"} 3']);
    expect(text).toContain('# TYPE problem_counter counter');
    expect(text).toMatch(/^process_resident_memory_bytes\{node="n1"\} \d+/m);

    reporter.temporary('kernel-monitor', { reason: 'OOMKilling', message: 'Killed process 1' });
    reporter.temporary('kernel-monitor', { reason: 'OOMKilling', message: 'Killed process 2' });
    reporter.condition('kernel-monitor', { type: 'KernelDeadlock', status: 'True', reason: 'DockerHung', message: 'hung' });
    status.patches = 5;
    text = await registry.metrics();
    expect(samples(text, 'problem_counter')).toEqual(['problem_counter{reason="OOMKilling",node="n1"} 2', 'problem_counter{reason="DockerHung",node="n1"} 1']);
    expect(samples(text, 'problem_gauge')).toEqual([
      'problem_gauge{type="KernelDeadlock",reason="KernelHasNoDeadlock",node="n1"} 0',
      'problem_gauge{type="KernelDeadlock",reason="DockerHung",node="n1"} 1',
    ]);
    expect(samples(text, 'node_agent_node_status_patches_total')).toEqual(['node_agent_node_status_patches_total{node="n1"} 5']);
  });

  it('leaves out what does not run (standalone: no problems, no lease)', async () => {
    const text = await agentMetrics({ nodeName: 'n1', runningPods: () => 0 }).metrics();
    expect(text).not.toContain('problem_counter');
    expect(text).not.toContain('node_agent_lease_renewals_total');
  });
});
