import { parseArgs } from 'node:util';
import { cniBenchmark } from './cni.ts';
import { netBenchmark } from './net.ts';
import { probesBenchmark } from './probes.ts';
import { startupBenchmark } from './startup.ts';

const usage = `npm run bench -- <name> [options]

  startup [--pods N] [--runtime containerd|docker]
                       pod startup latency through the agent (create -> Running seen by a watch),
                       next to the floor: the same sandboxes and containers created directly through
                       the runtime (dockerode; CRI calls for containerd) with the same parallelism;
                       plus the agent's RSS and CPU seconds. containerd (the default) is measured
                       with Docker beside it in the same run; --runtime docker measures Docker alone
  cni [--n N]          CNI ADD/DEL latency p50/p99 of our plugin (exec'd, and in-process as the agent
                       runs it) next to the reference bridge + host-local plugins, same run
  net [--seconds N]    iperf3 TCP throughput pod-to-pod across two nodes in host-gw and in vxlan mode,
                       next to node-to-node over the lab bridge, same lab (N seconds per test, default 10)
  probes [--pods N] [--seconds W]
                       the agent's CPU share and RSS with N pods (default 100) with no probes, an HTTP
                       readiness probe every 10 s and every 1 s (W-second windows, default 60), probe
                       latency p50/p99, and liveness restart times against period x threshold + 1 s
`;

const { positionals, values } = parseArgs({ allowPositionals: true, options: { pods: { type: 'string' }, runtime: { type: 'string' }, n: { type: 'string' }, seconds: { type: 'string' }, help: { type: 'boolean' } } });
const [name] = positionals;
if (values.help || !name) {
  process.stdout.write(usage);
  process.exitCode = values.help ? 0 : 2;
} else if (name === 'startup') {
  const runtime = values.runtime ?? 'containerd';
  if (runtime !== 'docker' && runtime !== 'containerd') throw new Error(`--runtime must be containerd or docker, not "${runtime}"`);
  await startupBenchmark({ pods: Number(values.pods ?? 30), runtimes: runtime === 'docker' ? ['docker'] : ['docker', 'containerd'] });
} else if (name === 'cni') {
  await cniBenchmark({ n: Number(values.n ?? 50) });
} else if (name === 'probes') {
  await probesBenchmark({ pods: Number(values.pods ?? 100), window: Number(values.seconds ?? 60) });
} else if (name === 'net') {
  await netBenchmark({ seconds: Number(values.seconds ?? 10) });
} else {
  process.stderr.write(`unknown benchmark "${name}"\n\n${usage}`);
  process.exitCode = 2;
}
