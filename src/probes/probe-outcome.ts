import { agentVersion } from '../version.ts';

/**
 * What one probe run tells, with kubelet's three-way meaning: 'success' and 'failure' count toward
 * the thresholds; 'unknown' is the prober's own trouble (container gone, no pod IP yet, no handler)
 * and is thrown away, so an agent-side error never kills or unreadies a healthy container.
 */
export interface ProbeOutcome {
  result: 'success' | 'failure' | 'unknown';
  /** Human-readable detail; for failures it becomes the Unhealthy event's message. */
  output: string;
}

/** Kubelet reads at most 10 KiB of a probe's output (HTTP body, exec output). */
export const maxProbeOutputBytes = 10 * 1024;

/** `s` cut to at most `maxBytes` bytes of UTF-8, on a character boundary. */
export function truncateOutput(s: string, maxBytes = maxProbeOutputBytes): string {
  const bytes = Buffer.from(s, 'utf8');
  if (bytes.length <= maxBytes) return s;
  let end = maxBytes;
  // Back off continuation bytes (10xxxxxx) so no character is cut in half.
  while (end > 0 && ((bytes[end] ?? 0) & 0xc0) === 0x80) end--;
  return bytes.subarray(0, end).toString('utf8');
}

/**
 * "kube-probe/<major>.<minor>", the User-Agent kubelet's HTTP and gRPC probes send
 * ("kube-lifecycle/..." for httpGet hooks); health
 * endpoints sometimes special-case it, so the agent sends the same shape with its own version.
 */
export function probeUserAgent(version = agentVersion, purpose: 'probe' | 'lifecycle' = 'probe'): string {
  const [major = '0', minor = '0'] = version.replace(/^v/, '').split('.');
  return `kube-${purpose}/${major}.${minor}`;
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
