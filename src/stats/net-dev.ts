/** One interface's counters from /proc/<pid>/net/dev. */
export interface InterfaceSample {
  name: string;
  rxBytes: number;
  rxErrors: number;
  txBytes: number;
  txErrors: number;
}

/**
 * /proc/net/dev as seen from a process: two header lines, then "name: 16 numbers" (receive
 * bytes packets errs drop fifo frame compressed multicast, then transmit bytes packets errs drop
 * fifo colls carrier compressed). Pure.
 */
export function parseNetDev(text: string): InterfaceSample[] {
  const out: InterfaceSample[] = [];
  for (const line of text.split('\n')) {
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    const name = line.slice(0, colon).trim();
    const f = line.slice(colon + 1).trim().split(/\s+/).map(Number);
    if (!name || f.length < 16 || f.some((n) => !Number.isFinite(n))) continue;
    out.push({ name, rxBytes: f[0]!, rxErrors: f[2]!, txBytes: f[8]!, txErrors: f[10]! });
  }
  return out;
}

/** cAdvisor leaves these out of a container's network stats: loopback and the host ends of veths and bridges. */
const ignoredPrefixes = ['lo', 'veth', 'docker', 'nerdctl'];

export function countedInterfaces(interfaces: readonly InterfaceSample[]): InterfaceSample[] {
  return interfaces.filter((i) => !ignoredPrefixes.some((p) => i.name.startsWith(p)));
}
