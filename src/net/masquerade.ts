import { execa } from 'execa';

/**
 * The node's iptables rules for pod traffic: source NAT (masquerade) for pod traffic leaving the
 * cluster CIDR, so the outside world sees the node's IP and can answer; never for pod-to-pod
 * traffic, so a pod on another node sees the client pod's own IP. And FORWARD accepts for the
 * cluster CIDR, so a host whose FORWARD policy is DROP (Docker's default) still passes pod traffic.
 *
 * The rules live in our own chains, rewritten whole with `iptables-restore --noflush` (atomic for
 * the chain), and hooked once into POSTROUTING and FORWARD.
 */

export const NAT_CHAIN = 'NODE-AGENT-POSTRTG';
export const FORWARD_CHAIN = 'NODE-AGENT-FORWARD';

/** The iptables-restore input for the two chains. Pure. */
export function podRulesRestoreInput(podCIDR: string, clusterCIDR: string): string {
  return [
    '*nat',
    `:${NAT_CHAIN} - [0:0]`,
    `-A ${NAT_CHAIN} -s ${podCIDR} -d ${clusterCIDR} -m comment --comment "pod to pod: no NAT" -j RETURN`,
    `-A ${NAT_CHAIN} -s ${podCIDR} -d 224.0.0.0/4 -m comment --comment "multicast: no NAT" -j RETURN`,
    `-A ${NAT_CHAIN} -s ${podCIDR} -m comment --comment "pod traffic leaving the cluster" -j MASQUERADE --random-fully`,
    'COMMIT',
    '*filter',
    `:${FORWARD_CHAIN} - [0:0]`,
    `-A ${FORWARD_CHAIN} -s ${clusterCIDR} -m comment --comment "pod traffic out" -j ACCEPT`,
    `-A ${FORWARD_CHAIN} -d ${clusterCIDR} -m comment --comment "pod traffic in" -j ACCEPT`,
    'COMMIT',
    '',
  ].join('\n');
}

async function ensureJump(table: string, chain: string, target: string, insert: boolean): Promise<void> {
  const rule = ['-j', target, '-m', 'comment', '--comment', 'node-agent pod network'];
  const check = await execa('iptables', ['-w', '-t', table, '-C', chain, ...rule], { reject: false });
  if (check.exitCode === 0) return;
  await execa('iptables', ['-w', '-t', table, insert ? '-I' : '-A', chain, ...(insert ? ['1'] : []), ...rule]);
}

export async function installPodRules(podCIDR: string, clusterCIDR: string): Promise<void> {
  await execa('iptables-restore', ['-w', '--noflush'], { input: podRulesRestoreInput(podCIDR, clusterCIDR) });
  await ensureJump('nat', 'POSTROUTING', NAT_CHAIN, false);
  await ensureJump('filter', 'FORWARD', FORWARD_CHAIN, true);
}
