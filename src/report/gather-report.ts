import { CoreV1Api } from '@kubernetes/client-node';
import type { AgentConfig } from '../config/types.ts';
import { describeError } from '../errors.ts';
import { explainApiError } from '../kube/explain.ts';
import { loadKubeconfig, serverOf } from '../kube/kubeconfig.ts';
import { isRecord } from '../util/is-record.ts';
import type { ReportInput } from './node-report.ts';

/**
 * `node-agent report`, the reading half: the Node and its pods from the apiserver (with the
 * agent's own kubeconfig, whose node identity may read both) and the problems and peers from the
 * local agent's endpoint. Each source that fails is named in the report instead of failing it:
 * a report is wanted most when something is down.
 */

const AGENT_TIMEOUT_MS = 5_000;
/** Bounds what the report reads from the agent: it is a local process, but a report must not hang or balloon. */
const MAX_AGENT_BODY = 4 * 1024 * 1024;

async function getJson(url: string): Promise<unknown> {
  const res = await fetch(url, { signal: AbortSignal.timeout(AGENT_TIMEOUT_MS) });
  if (!res.ok) throw new Error(`${url}: HTTP ${res.status}`);
  const text = await res.text();
  if (text.length > MAX_AGENT_BODY) throw new Error(`${url}: answer larger than ${MAX_AGENT_BODY} bytes`);
  return JSON.parse(text) as unknown;
}

/** The agent's endpoint as seen from this host: a wildcard bind is reached on loopback. */
export function agentBaseUrl(config: Pick<AgentConfig, 'healthz'>): string | undefined {
  const { bindAddress, port } = config.healthz;
  if (port === 0) return undefined;
  const host = bindAddress === '0.0.0.0' || bindAddress === '' ? '127.0.0.1' : bindAddress === '::' ? '[::1]' : bindAddress.includes(':') ? `[${bindAddress}]` : bindAddress;
  return `http://${host}:${port}`;
}

export async function gatherReport(config: AgentConfig, options: { kubeconfig?: string; now?: () => number } = {}): Promise<ReportInput> {
  const input: ReportInput = { nodeName: config.nodeName, now: 0 };

  const base = agentBaseUrl(config);
  if (!base) input.agentError = 'its endpoint is turned off (healthzPort 0)';
  else {
    try {
      const [problems, network] = await Promise.all([getJson(`${base}/problems`), getJson(`${base}/network/peers`)]);
      if (!isRecord(problems) || !Array.isArray(problems['conditions']) || !Array.isArray(problems['recent'])) throw new Error('/problems: not what this version of the agent serves');
      if (!isRecord(network) || !Array.isArray(network['peers'])) throw new Error('/network/peers: not what this version of the agent serves');
      input.agent = { problems: problems as NonNullable<ReportInput['agent']>['problems'], network: network as NonNullable<ReportInput['agent']>['network'] };
    } catch (err) {
      input.agentError = `not answering at ${base} (${describeError(err)}); is node-agent running on this node?`;
    }
  }

  const kubeconfig = options.kubeconfig ?? config.kubeconfig;
  if (config.standalone || kubeconfig === undefined) input.apiError = 'none configured (standalone mode)';
  else {
    let server = '';
    try {
      const kc = await loadKubeconfig(kubeconfig);
      server = serverOf(kc);
      const core = kc.makeApiClient(CoreV1Api);
      const fieldSelector = `spec.nodeName=${config.nodeName}`;
      const [node, pods] = await Promise.all([
        core.readNode({ name: config.nodeName }),
        core.listPodForAllNamespaces({ fieldSelector }).then((l) => l.items),
      ]);
      input.node = node;
      input.pods = pods;
      // The agent keeps its own list of recent problems; without it, the Node's Warning Events
      // (a node identity may not list Events: then that part stays empty, and says so).
      if (!input.agent) {
        try {
          const events = await core.listNamespacedEvent({ namespace: 'default', fieldSelector: `involvedObject.kind=Node,involvedObject.name=${config.nodeName}` });
          input.events = events.items;
        } catch (err) {
          input.apiError = explainApiError(err, 'list the Node\'s Events (for recent problems)', { server, nodeName: config.nodeName });
        }
      }
    } catch (err) {
      input.apiError = server ? explainApiError(err, 'read the Node and its pods', { server, nodeName: config.nodeName }) : describeError(err);
    }
  }
  input.now = (options.now ?? Date.now)();
  return input;
}
