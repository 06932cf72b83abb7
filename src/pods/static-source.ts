import { createHash } from 'node:crypto';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { V1Pod } from '@kubernetes/client-node';
import yaml from 'js-yaml';
import { classifyApiError } from '../kube/api-error.ts';
import type { PodApi } from '../kube/pod-api.ts';
import type { Logger } from '../log/logger.ts';
import { sleep } from '../util/sleep.ts';
import { validatePod } from './pod-validation.ts';

/** A manifest bigger than the apiserver would take in one request (3 MiB) is refused unread. */
export const maxManifestBytes = 3 * 1024 * 1024;
const maxErrorsShown = 10;

export const mirrorAnnotation = 'kubernetes.io/config.mirror';
export const mirrorUidAnnotation = 'node-agent/mirror-uid';

/**
 * Static pods: manifests in a directory (staticPodPath), the way a kubelet runs the control plane
 * before any apiserver exists. Each file holds one Pod. Its uid is derived from the file content
 * and the node (so an unchanged file keeps its pod across restarts, and an edit replaces it), its
 * name gets "-<nodeName>" appended, as kubelet does.
 */
export function staticPodFromManifest(text: string, file: string, nodeName: string): V1Pod {
  const doc = (file.endsWith('.json') ? JSON.parse(text) : yaml.load(text)) as V1Pod | null;
  if (!doc || typeof doc !== 'object' || doc.kind !== 'Pod') throw new Error(`${file}: not a Pod manifest (kind: ${String((doc as { kind?: unknown } | null)?.kind)})`);
  if (!doc.metadata?.name) throw new Error(`${file}: metadata.name is missing`);
  if (!doc.spec?.containers?.length) throw new Error(`${file}: spec.containers is empty`);
  const hash = createHash('md5').update(nodeName).update(text).digest('hex');
  const pod = structuredClone(doc);
  pod.metadata = {
    ...pod.metadata,
    name: `${doc.metadata.name}-${nodeName}`,
    namespace: doc.metadata.namespace ?? 'default',
    uid: hash,
    annotations: { ...(doc.metadata.annotations ?? {}), 'kubernetes.io/config.source': 'file', 'kubernetes.io/config.hash': hash },
  };
  pod.spec = { ...doc.spec, nodeName, restartPolicy: doc.spec.restartPolicy ?? 'Always', terminationGracePeriodSeconds: doc.spec.terminationGracePeriodSeconds ?? 30 };
  // Nothing from the file reaches a path or the runtime before the apiserver's rules have passed.
  const errors = validatePod(pod);
  if (errors.length > 0) {
    const shown = errors.slice(0, maxErrorsShown).join('; ');
    throw new Error(`${file}: invalid pod: ${shown}${errors.length > maxErrorsShown ? ` (and ${errors.length - maxErrorsShown} more)` : ''}`);
  }
  return pod;
}

export class StaticPodSource {
  private readonly options: {
    dir: string;
    nodeName: string;
    api: PodApi | undefined;
    /** Mirror pods on the apiserver by "namespace/name", kept current by the apiserver pod watch. */
    mirrors: ReadonlyMap<string, V1Pod>;
    log: Logger;
    onPods: (pods: V1Pod[]) => void;
    periodMs?: number;
  };
  private readonly complaints = new Map<string, string>();
  private readonly mirrors = new Map<string, string>();

  constructor(options: StaticPodSource['options']) {
    this.options = options;
  }

  /** Reads the directory once and hands the full set of static pods over. */
  async scan(): Promise<V1Pod[]> {
    const { dir, nodeName, log } = this.options;
    let files: string[] = [];
    try {
      files = (await readdir(dir)).filter((f) => /\.(ya?ml|json)$/.test(f) && !f.startsWith('.')).sort();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') log.warn({ dir, err: String(err) }, 'cannot read the static pod directory');
    }
    const pods: V1Pod[] = [];
    for (const file of files) {
      const path = join(dir, file);
      try {
        const size = (await stat(path)).size;
        if (size > maxManifestBytes) throw new Error(`${path}: ${size} bytes, more than a Pod manifest may be (${maxManifestBytes})`);
        pods.push(staticPodFromManifest(await readFile(path, 'utf8'), path, nodeName));
        this.complaints.delete(path);
      } catch (err) {
        const message = err instanceof Error ? err.message : String(err);
        if (this.complaints.get(path) !== message) log.error({ file: path }, `static pod manifest skipped: ${message}`);
        this.complaints.set(path, message);
      }
    }
    // Complaints are kept only for files still there: otherwise every broken manifest ever
    // dropped into the directory would be remembered for as long as the agent runs.
    const present = new Set(files.map((file) => join(dir, file)));
    for (const path of this.complaints.keys()) if (!present.has(path)) this.complaints.delete(path);
    for (const pod of pods) await this.ensureMirror(pod);
    this.options.onPods(pods);
    return pods;
  }

  async run(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      await this.scan().catch((err: unknown) => this.options.log.warn({ err: String(err) }, 'static pod scan failed'));
      await sleep(this.options.periodMs ?? 5000, signal);
    }
  }

  /**
   * With an apiserver, each static pod gets a mirror pod there (annotation config.mirror, owned by
   * the Node) so kubectl shows it; its status is written to the mirror.
   */
  private async ensureMirror(pod: V1Pod): Promise<void> {
    const { api, nodeName, log } = this.options;
    if (!api) return;
    const namespace = pod.metadata?.namespace ?? 'default';
    const name = pod.metadata?.name ?? '';
    const hash = pod.metadata?.uid ?? '';
    try {
      // Found through the pod watch: the Node authorizer lets a node read only pods bound to it.
      let mirror = this.options.mirrors.get(`${namespace}/${name}`);
      if (mirror && mirror.metadata?.annotations?.[mirrorAnnotation] !== hash) {
        await api.deletePodNow(namespace, name, mirror.metadata?.uid ?? '');
        mirror = undefined;
      }
      if (!mirror) {
        const body: V1Pod = {
          apiVersion: 'v1',
          kind: 'Pod',
          metadata: {
            name,
            namespace,
            labels: pod.metadata?.labels ?? {},
            annotations: { ...(pod.metadata?.annotations ?? {}), [mirrorAnnotation]: hash },
            ownerReferences: [{ apiVersion: 'v1', kind: 'Node', name: nodeName, uid: this.mirrors.get('node-uid') ?? '', controller: true }],
          },
          spec: pod.spec!,
        };
        if (!body.metadata!.ownerReferences![0]!.uid) delete body.metadata!.ownerReferences;
        try {
          mirror = await api.createPod(namespace, body);
          log.info({ pod: `${namespace}/${name}` }, 'mirror pod created');
        } catch (err) {
          // Created by an earlier run: the watch brings it shortly.
          if (classifyApiError(err).kind === 'alreadyExists') return;
          throw err;
        }
      }
      pod.metadata!.annotations = { ...(pod.metadata?.annotations ?? {}), [mirrorUidAnnotation]: mirror.metadata?.uid ?? '' };
    } catch (err) {
      log.warn({ pod: `${namespace}/${name}`, err: classifyApiError(err).message }, 'cannot create the mirror pod; retrying');
    }
  }

  /** Manifests currently skipped as broken (tests, statusz). */
  retained(): { complaints: number } {
    return { complaints: this.complaints.size };
  }

  /** The Node's uid, for the mirror pods' owner reference (NodeRestriction requires it). */
  setNodeUid(uid: string): void {
    this.mirrors.set('node-uid', uid);
  }
}
