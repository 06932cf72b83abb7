import type { V1Node } from '@kubernetes/client-node';
import type { AgentConfig } from '../config/types.ts';
import type { Logger } from '../log/logger.ts';
import { classifyApiError } from '../kube/api-error.ts';
import { apiErrorCode, explainApiError } from '../kube/explain.ts';
import type { NodeApi } from '../kube/node-api.ts';
import { Backoff } from '../util/backoff.ts';
import { sleep } from '../util/sleep.ts';
import { initialNode, labelReconcilePatch, nodeLabels } from './node-object.ts';

export interface RegistrationDeps {
  api: NodeApi;
  config: AgentConfig;
  architecture: string;
  server: string;
  log: Logger;
  signal: AbortSignal;
  backoff?: Backoff;
}

/**
 * Registers the Node the way the kubelet does: create it; if it exists already, adopt it and
 * reconcile the default labels. Retries with backoff (100 ms doubling to 7 s, kubelet's numbers)
 * for as long as it takes: an apiserver that is away, or a refusal an operator will fix, must
 * not kill the agent. Returns undefined only when aborted.
 */
export async function registerNode(deps: RegistrationDeps): Promise<V1Node | undefined> {
  const { config, log, signal } = deps;
  const backoff = deps.backoff ?? new Backoff({ initialMs: 100, maxMs: 7000 });
  let lastComplaint = '';
  while (!signal.aborted) {
    try {
      const node = await registerOnce(deps);
      if (backoff.failures > 0) log.info({ attempts: backoff.failures + 1 }, 'registered the node after retrying');
      return node;
    } catch (err) {
      const message = explainApiError(err, `register node ${config.nodeName}`, { server: deps.server, nodeName: config.nodeName });
      // Say it once per distinct problem, then quietly keep trying: no log flood while away.
      if (message !== lastComplaint) {
        log.error({ code: apiErrorCode(err) }, message);
        lastComplaint = message;
      } else {
        log.debug({ attempt: backoff.failures + 1 }, message);
      }
      await sleep(backoff.next(), signal);
    }
  }
  return undefined;
}

async function registerOnce({ api, config, architecture, log }: RegistrationDeps): Promise<V1Node> {
  try {
    const created = await api.createNode(initialNode(config, architecture));
    log.info({ uid: created.metadata?.uid }, 'registered a new node');
    return created;
  } catch (err) {
    if (classifyApiError(err).kind !== 'alreadyExists') throw err;
  }
  const existing = await api.getNode(config.nodeName);
  const patch = labelReconcilePatch(existing, nodeLabels(config, architecture));
  const node = patch ? await api.patchNode(config.nodeName, patch) : existing;
  log.info({ uid: node.metadata?.uid, podCIDR: node.spec?.podCIDR }, 'node already registered; adopted it');
  return node;
}
