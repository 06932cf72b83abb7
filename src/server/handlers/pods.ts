import type { V1Pod } from '@kubernetes/client-node';
import { podUid } from '../../pods/pod-util.ts';
import { sendJson } from '../http-util.ts';
import type { Handler } from '../kubelet-server.ts';

/** /pods: the pods this node runs, with the status the agent last computed, as a PodList. */
export function podsHandler(deps: { pods: () => V1Pod[]; status: (uid: string) => unknown }): Handler {
  return (_req, res) => {
    const items = deps.pods().map((p) => ({ ...p, status: deps.status(podUid(p)) ?? p.status }));
    sendJson(res, { kind: 'PodList', apiVersion: 'v1', metadata: {}, items });
    return Promise.resolve();
  };
}
