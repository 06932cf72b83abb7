import type { Registry } from 'prom-client';
import { HttpError } from '../http-util.ts';
import type { Handler } from '../kubelet-server.ts';

/**
 * /metrics: the agent's Prometheus registry, the same one 127.0.0.1:10248/metrics serves (one
 * registry, two doors); /metrics/probes: the prober's series alone, as the kubelet serves them.
 * Registries are asked for at each request: they exist only once the agent has built them.
 */
export function metricsHandler(deps: { registry: () => Registry | undefined; probes?: () => Registry | undefined }): Handler {
  return async (_req, res, ctx) => {
    const registry = ctx.path === '/metrics' || ctx.path === '/metrics/' ? deps.registry() : ctx.path === '/metrics/probes' ? deps.probes?.() : undefined;
    if (!registry) throw new HttpError(404, `${ctx.path} is not served here`);
    const body = await registry.metrics();
    res.writeHead(200, { 'content-type': registry.contentType }).end(body);
  };
}
