/**
 * The agent's CNI socket on its own (src/net/cni-server.ts with the plugin's runCni and one warm
 * netlink socket, as the agent wires it), for the benchmark and the plugin's integration test,
 * which run it inside a namespace standing for a node (started with nsenter). Prints "ready" once
 * it listens, then one JSON line of its counters when stdin closes or on SIGTERM.
 */
import { runCni } from '../cni/commands.ts';
import { CniServer } from '../src/net/cni-server.ts';
import { Rtnl } from '../src/net/netlink/rtnl.ts';
import { createLogger } from '../src/log/logger.ts';

const [socket] = process.argv.slice(2);
if (!socket) throw new Error('usage: cni-agent.ts <socket path>');
const rtnl = new Rtnl();
const server = new CniServer({ path: socket, run: (env, stdin) => runCni(env, stdin, { rtnl }), log: createLogger({ level: 'warn', format: 'json' }) });
await server.start();
process.stdout.write('ready\n');

let stopping = false;
async function stop(): Promise<void> {
  if (stopping) return;
  stopping = true;
  await server.close();
  rtnl.close();
  process.stdout.write(`${JSON.stringify(server.stats)}\n`);
}
process.once('SIGTERM', () => void stop());
process.stdin.resume();
process.stdin.once('end', () => void stop());
