import type { Summary } from '../../stats/summary-types.ts';
import { HttpError, sendJson } from '../http-util.ts';
import type { Handler } from '../kubelet-server.ts';

/**
 * /stats/summary: the kubelet Summary API (stats/v1alpha1), read from the kernel at each request.
 * `only_cpu_and_memory=true` leaves out network, filesystems and rlimit, as the kubelet does.
 * The older /stats/<container> paths the kubelet dropped are not served.
 */
export function statsSummaryHandler(deps: { summary: (options: { onlyCpuAndMemory: boolean }) => Promise<Summary> }): Handler {
  return async (req, res, ctx) => {
    if (ctx.path !== '/stats/summary' && ctx.path !== '/stats/summary/') throw new HttpError(404, `${ctx.path} is not served here`);
    if (req.method !== 'GET' && req.method !== 'HEAD') throw new HttpError(405, `${req.method ?? ''} is not allowed on ${ctx.path}`);
    sendJson(res, await deps.summary({ onlyCpuAndMemory: ctx.query.get('only_cpu_and_memory') === 'true' }));
  };
}
