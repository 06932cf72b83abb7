import type { V1Pod } from '@kubernetes/client-node';
import { Labels } from '../runtime/labels.ts';
import type { ContainerStatus, Runtime } from '../runtime/types.ts';
import { HttpError } from './http-util.ts';

/**
 * The container a streaming request names: /{verb}/{namespace}/{pod}/{container}, or with the
 * pod's uid before the container (/{verb}/{namespace}/{pod}/{uid}/{container}), as kubelet's routes
 * take both. The pod must be one this node runs and the container one of its spec; the instance
 * is the latest one the runtime has, which must be running.
 */
export interface PodContainerDeps {
  findPod: (namespace: string, name: string) => V1Pod | undefined;
  runtime: Runtime;
}

export interface PodContainer {
  pod: V1Pod;
  containerName: string;
  instance: ContainerStatus;
}

export async function runningPodContainer(deps: PodContainerDeps, path: string): Promise<PodContainer> {
  const verb = path.split('/')[1] ?? '';
  const parts = path.split('/').slice(2).map((p) => decodeURIComponent(p));
  if ((parts.length !== 3 && parts.length !== 4) || parts.some((p) => p === '')) throw new HttpError(400, `use /${verb}/{namespace}/{pod}/{container}`);
  const [namespace, podName] = parts as [string, string];
  const containerName = parts[parts.length - 1]!;
  const { pod, instances } = await podContainerInstances(deps, namespace, podName, containerName, parts.length === 4 ? parts[2] : undefined);
  const instance = instances[0];
  if (!instance || instance.state !== 'running') throw new HttpError(400, `container "${containerName}" in pod "${podName}" is not running`);
  return { pod, containerName, instance };
}

/**
 * The pod (one this node runs, with this uid when one is given) and the runtime's instances of
 * its container of that name, newest first; a name not in its spec is a 400 listing the names.
 * Shared by exec, attach, run and containerLogs.
 */
export async function podContainerInstances(deps: PodContainerDeps, namespace: string, podName: string, containerName: string, uid?: string): Promise<{ pod: V1Pod; instances: ContainerStatus[] }> {
  const pod = deps.findPod(namespace, podName);
  if (!pod) throw new HttpError(404, `pod "${podName}" in namespace "${namespace}" is not on this node`);
  if (uid !== undefined && uid !== pod.metadata?.uid) throw new HttpError(404, `pod "${podName}" with uid ${uid} is not on this node (its uid is ${pod.metadata?.uid ?? 'unknown'})`);
  const names = [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])].map((c) => c.name);
  if (!names.includes(containerName)) throw new HttpError(400, `container "${containerName}" is not valid for pod "${podName}"; its containers are ${names.join(', ')}`);
  const instances = (await deps.runtime.listContainers({ labels: { [Labels.podUid]: pod.metadata?.uid ?? '', [Labels.containerName]: containerName } })).sort(
    (a, b) => b.attempt - a.attempt || b.createdAt.getTime() - a.createdAt.getTime(),
  );
  return { pod, instances };
}
