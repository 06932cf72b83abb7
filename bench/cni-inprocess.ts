/**
 * Runs inside the benchmark's node namespace (started with nsenter): N ADDs then N DELs through
 * runCni in-process with one long-lived rtnetlink socket, exactly as the agent does for Docker
 * sandboxes. Prints the per-call milliseconds as JSON.
 */
import { runCni } from '../cni/commands.ts';
import { Rtnl } from '../src/net/netlink/rtnl.ts';

const [confJson = '{}', podsJson = '[]'] = process.argv.slice(2);
const pods = JSON.parse(podsJson) as { id: string; netns: string }[];
const rtnl = new Rtnl();
const add: number[] = [];
const del: number[] = [];
try {
  for (const p of pods) {
    const t0 = performance.now();
    const out = await runCni({ CNI_COMMAND: 'ADD', CNI_CONTAINERID: p.id, CNI_NETNS: p.netns, CNI_IFNAME: 'eth0', CNI_PATH: '' }, confJson, { rtnl });
    add.push(performance.now() - t0);
    if (out.exitCode !== 0) throw new Error(`ADD failed: ${out.stdout}`);
  }
  for (const p of pods) {
    const t0 = performance.now();
    const out = await runCni({ CNI_COMMAND: 'DEL', CNI_CONTAINERID: p.id, CNI_NETNS: p.netns, CNI_IFNAME: 'eth0', CNI_PATH: '' }, confJson, { rtnl });
    del.push(performance.now() - t0);
    if (out.exitCode !== 0) throw new Error(`DEL failed: ${out.stdout}`);
  }
} finally {
  rtnl.close();
}
process.stdout.write(JSON.stringify({ add, del }));
