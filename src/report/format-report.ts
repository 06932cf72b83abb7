import type { NodeReport } from './node-report.ts';

/**
 * `node-agent report`, the text half: the node's state first (Ready, and one line per problem),
 * then conditions, recent problems, pods and peers as aligned tables. Every string in it came
 * from somewhere untrusted (a kernel line, a plugin's output, a pod's name from the apiserver), so
 * control characters are replaced before they reach a terminal, and long messages are cut.
 */

/** kubectl's short ages: 45s, 7m30s, 95m, 5h20m, 30h, 3d4h, 12d. */
export function shortAge(seconds: number | undefined): string {
  if (seconds === undefined) return '-';
  const s = Math.max(0, Math.floor(seconds));
  const m = Math.floor(s / 60);
  const h = Math.floor(m / 60);
  const d = Math.floor(h / 24);
  if (s < 120) return `${s}s`;
  if (m < 10) return s % 60 === 0 ? `${m}m` : `${m}m${s % 60}s`;
  if (m < 180) return `${m}m`;
  if (h < 8) return m % 60 === 0 ? `${h}h` : `${h}h${m % 60}m`;
  if (h < 48) return `${h}h`;
  if (d < 8) return h % 24 === 0 ? `${d}d` : `${d}d${h % 24}h`;
  return `${d}d`;
}

/** No escape sequence, carriage return or line break from a message reaches the terminal. */
export function printable(text: string, max = 160): string {
   
  const clean = text.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]+/g, ' ').trim();
  return clean.length > max ? `${clean.slice(0, max - 1)}…` : clean;
}

function table(headers: string[], rows: string[][], indent = '  '): string[] {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string =>
    indent + cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join('  ').trimEnd();
  return [line(headers), ...rows.map(line)];
}

export function formatNodeReport(r: NodeReport): string {
  const out: string[] = [];
  const p = (s: string) => printable(s);
  const readyWord = r.ready.status === 'True' ? 'Ready' : r.ready.status === 'False' ? 'NotReady' : 'Unknown';
  out.push(`Node ${p(r.node)}: ${readyWord}${r.ready.status !== 'True' && r.ready.reason ? ` (${p(r.ready.reason)}${r.ready.message ? `: ${p(r.ready.message)}` : ''})` : ''}`);
  const facts = [
    r.info.internalIP && `IP ${r.info.internalIP}`,
    r.info.podCIDR && `pod CIDR ${r.info.podCIDR}`,
    r.info.agentVersion && `agent ${r.info.agentVersion}`,
    r.info.runtime && `runtime ${r.info.runtime}`,
    r.info.kernel && `kernel ${r.info.kernel}`,
  ].filter((f): f is string => typeof f === 'string');
  if (facts.length > 0) out.push(`  ${facts.map(p).join(', ')}`);
  if (r.problems.length === 0) out.push('  No problems.');
  else {
    out.push(`  ${r.problems.length} problem${r.problems.length === 1 ? '' : 's'}:`);
    for (const line of r.problems) out.push(`  ! ${p(line)}`);
  }
  for (const u of r.unavailable) out.push(`  (not shown: ${p(u)})`);

  out.push('', 'Conditions');
  if (r.conditions.length === 0) out.push('  none known');
  else
    out.push(
      ...table(
        ['TYPE', 'STATUS', 'REASON', 'AGE', 'MESSAGE'],
        r.conditions.map((c) => [`${c.problem ? '!' : ' '} ${p(c.type)}`, p(c.status), p(c.reason), shortAge(c.ageSeconds), printable(c.message, 100)]),
      ),
    );

  out.push('', 'Recent problems (newest first)');
  if (r.recentProblems.length === 0) out.push('  none');
  else
    out.push(
      ...table(
        ['AGE', 'COUNT', 'SOURCE', 'REASON', 'MESSAGE'],
        r.recentProblems.map((e) => [shortAge(e.ageSeconds), String(e.count), p(e.source), p(e.reason), printable(e.message, 100)]),
      ),
    );

  out.push('', `Pods${r.pods ? ` (${r.pods.length})` : ''}`);
  if (!r.pods) out.push('  not known (apiserver not read)');
  else if (r.pods.length === 0) out.push('  none');
  else
    out.push(
      ...table(
        ['NAMESPACE', 'NAME', 'READY', 'STATUS', 'RESTARTS', 'IP', 'AGE'],
        r.pods.map((pod) => [p(pod.namespace), p(pod.name), pod.ready, p(pod.status), String(pod.restarts), p(pod.ip) || '-', shortAge(pod.ageSeconds)]),
      ),
    );

  const net = r.network;
  if (!net) out.push('', 'Network', '  not known (the local agent did not answer)');
  else {
    const broken = net.peers.filter((x) => x.state === 'broken').length;
    const summary = net.peers.length === 0 ? 'no peers' : broken === 0 ? `${net.peers.length} peer${net.peers.length === 1 ? '' : 's'}, all reachable` : `${broken} of ${net.peers.length} peers unreachable`;
    out.push('', `Network (${p(net.mode)}${net.podCIDR ? `, pod CIDR ${net.podCIDR}` : ''}): ${summary}`);
    if (net.peers.length > 0)
      out.push(
        ...table(
          ['PEER', 'NODE IP', 'POD CIDR', 'VIA', 'STATE', 'PROBLEM'],
          net.peers.map((x) => [p(x.name), p(x.nodeIP) || '-', p(x.podCIDR) || '-', x.via || '-', x.state, printable(x.problems.join('; '), 100)]),
        ),
      );
  }
  return `${out.join('\n')}\n`;
}
