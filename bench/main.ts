import { parseArgs } from 'node:util';
import { startupBenchmark } from './startup.ts';

const usage = `npm run bench -- <name> [options]

  startup [--pods N]   pod startup latency through the agent (create -> Running seen by a watch),
                       next to the floor: the same sandboxes and containers created directly through
                       the runtime with the same parallelism; plus the agent's RSS and CPU seconds
`;

const { positionals, values } = parseArgs({ allowPositionals: true, options: { pods: { type: 'string' }, help: { type: 'boolean' } } });
const [name] = positionals;
if (values.help || !name) {
  process.stdout.write(usage);
  process.exitCode = values.help ? 0 : 2;
} else if (name === 'startup') {
  await startupBenchmark({ pods: Number(values.pods ?? 30) });
} else {
  process.stderr.write(`unknown benchmark "${name}"\n\n${usage}`);
  process.exitCode = 2;
}
