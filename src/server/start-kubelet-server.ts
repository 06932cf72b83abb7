import { readFile } from 'node:fs/promises';
import type { KubeConfig, V1Pod } from '@kubernetes/client-node';
import type { AgentConfig } from '../config/types.ts';
import type { Logger } from '../log/logger.ts';
import type { Runtime } from '../runtime/types.ts';
import { apiserverAccessReviewer, apiserverTokenReviewer } from './apiserver-reviews.ts';
import { Authenticator } from './authenticator.ts';
import { Authorizer } from './authorizer.ts';
import { containerLogsHandler } from './handlers/container-logs.ts';
import { attachUpgradeHandler, execUpgradeHandler, runHandler, streamingWithoutUpgrade } from './handlers/exec.ts';
import { healthzHandler } from './handlers/healthz.ts';
import { metricsHandler } from './handlers/metrics.ts';
import { statsSummaryHandler } from './handlers/stats-summary.ts';
import type { Registry } from 'prom-client';
import type { Summary } from '../stats/summary-types.ts';
import { podsHandler } from './handlers/pods.ts';
import { KubeletServer } from './kubelet-server.ts';
import { servingCertificate } from './serving-cert.ts';

/**
 * The kubelet API as the configuration asks for it: its certificate, who may authenticate and
 * how requests are authorized, and the handlers. Without an apiserver (standalone) tokens cannot
 * be reviewed nor requests authorized by webhook: then only AlwaysAllow lets a client in.
 */
export async function startKubeletServer(deps: {
  config: AgentConfig;
  kc: KubeConfig | undefined;
  runtime: Runtime;
  pods: () => V1Pod[];
  podStatus: (uid: string) => unknown;
  /** /metrics (the agent's registry, once built), /metrics/probes and /stats/summary. */
  observability?: { metrics: () => Registry | undefined; probeMetrics: () => Registry | undefined; summary: (options: { onlyCpuAndMemory: boolean }) => Promise<Summary> };
  log: Logger;
}): Promise<KubeletServer | undefined> {
  const { config, kc, log } = deps;
  if (config.port === 0) return undefined;
  const tls = await servingCertificate({ certFile: config.tlsCertFile, keyFile: config.tlsPrivateKeyFile, rootDir: config.directories.root, nodeName: config.nodeName, nodeIP: config.nodeIP, hostname: config.hostname });
  if (tls.selfSigned) log.info({ cert: tls.certFile }, 'kubelet API serves a self-signed certificate (no tlsCertFile given); an apiserver that verifies kubelets will refuse it');
  const clientCAFile = config.authentication.x509.clientCAFile;
  const clientCA = clientCAFile ? await readFile(clientCAFile) : undefined;
  const webhook = config.authentication.webhook.enabled && kc !== undefined;
  const authenticator = new Authenticator({
    x509: clientCA !== undefined,
    reviewToken: webhook ? apiserverTokenReviewer(kc) : undefined,
    anonymous: config.authentication.anonymous,
    cacheTTLMs: config.authentication.webhook.cacheTTLMs,
  });
  const authorizer = new Authorizer({
    mode: config.authorization.mode,
    review: kc ? apiserverAccessReviewer(kc) : undefined,
    allowedTTLMs: config.authorization.webhook.cacheAuthorizedTTLMs,
    deniedTTLMs: config.authorization.webhook.cacheUnauthorizedTTLMs,
  });
  const findPod = (namespace: string, name: string) => deps.pods().find((p) => (p.metadata?.namespace ?? 'default') === namespace && p.metadata?.name === name);
  const server = new KubeletServer({
    address: config.address,
    port: config.port,
    cert: tls.cert,
    key: tls.key,
    clientCA,
    nodeName: config.nodeName,
    authenticator,
    authorizer,
    handlers: {
      '/healthz': healthzHandler,
      ...(deps.observability ? { '/metrics': metricsHandler({ registry: deps.observability.metrics, probes: deps.observability.probeMetrics }), '/stats': statsSummaryHandler({ summary: deps.observability.summary }) } : {}),
      '/pods': podsHandler({ pods: deps.pods, status: deps.podStatus }),
      '/containerLogs': containerLogsHandler({ findPod, runtime: deps.runtime }),
      '/exec': streamingWithoutUpgrade,
      '/attach': streamingWithoutUpgrade,
      '/run': runHandler({ findPod, runtime: deps.runtime, log }),
    },
    upgradeHandlers: {
      '/exec': execUpgradeHandler({ findPod, runtime: deps.runtime, log }),
      '/attach': attachUpgradeHandler({ findPod, runtime: deps.runtime, log }),
    },
    log,
  });
  await server.start();
  log.info({ address: config.address, port: config.port, x509: clientCA !== undefined, webhook, authorization: config.authorization.mode }, 'kubelet API listening');
  return server;
}
