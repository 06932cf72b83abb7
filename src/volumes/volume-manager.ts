import { chmod, mkdir, readdir, realpath, rm, stat } from 'node:fs/promises';
import { ensureDataDirs, ensurePrivateDir } from '../node/data-dirs.ts';
import { dns1123LabelError } from '../util/dns-names.ts';
import { dirname, join } from 'node:path';
import type { V1ConfigMap, V1Container, V1Pod, V1Secret, V1Volume } from '@kubernetes/client-node';
import { AgentError, ErrorCode, describeError } from '../errors.ts';
import type { Logger } from '../log/logger.ts';
import { writeAtomically } from './atomic-writer.ts';
import { setUpHostPath } from './host-path.ts';
import { bindSubPath } from './subpath.ts';
import { mountTmpfs, mountsBelow, readMountInfo, sharesInitMountNamespace, unmount } from './mounts.ts';
import {
  configMapPayload,
  downwardAPIPayload,
  projectedPayload,
  projectedReferences,
  secretPayload,
  tokenKey,
  type Payload,
  type TokenSpec,
} from './projections.ts';
import { add, ceilValue, compare, parseQuantityExact, type Fraction } from './quantity.ts';

/** Where the volume layer gets the objects volumes project; undefined means "not found". */
export interface VolumeSources {
  getConfigMap(namespace: string, name: string): Promise<V1ConfigMap | undefined>;
  getSecret(namespace: string, name: string): Promise<V1Secret | undefined>;
  requestServiceAccountToken(
    namespace: string,
    serviceAccountName: string,
    options: { audience?: string; expirationSeconds: number; podName: string; podUid: string },
  ): Promise<{ token: string; expiresAt: Date }>;
  nodeAllocatable(): { cpu: string; memory: string };
}

/** A volume ready for containers: the host path to bind-mount and whether mounts must be read-only. */
export interface MountedVolume {
  hostPath: string;
  readOnly: boolean;
}

export interface VolumeManagerOptions {
  /** The agent's root directory; pods live under <rootDir>/pods/<uid>. */
  rootDir: string;
  sources: VolumeSources;
  log: Logger;
  /** Clock for token lifetimes, ms since the epoch; Date.now by default. */
  now?: () => number;
  /**
   * Whether memory-backed volumes (emptyDir medium Memory, secret, downwardAPI, projected) get a
   * tmpfs. By default they do when this process shares PID 1's mount namespace; see
   * sharesInitMountNamespace for why a private one (the lab's `ip netns exec`) means plain dirs.
   */
  tmpfs?: boolean;
}

/** Kubelet's plugin directory names under <pod>/volumes (kubernetes.io/x escaped for disk). */
export const pluginDirNames = {
  emptyDir: 'kubernetes.io~empty-dir',
  configMap: 'kubernetes.io~configmap',
  secret: 'kubernetes.io~secret',
  downwardAPI: 'kubernetes.io~downward-api',
  projected: 'kubernetes.io~projected',
} as const;
type PluginVolumeType = keyof typeof pluginDirNames;

export const supportedVolumeTypes = ['emptyDir', 'hostPath', 'configMap', 'secret', 'downwardAPI', 'projected'] as const;
const supportedProjections = new Set(['configMap', 'secret', 'downwardAPI', 'serviceAccountToken']);

/** The volume's source field ("nfs", "configMap", ...). A volume with none is an emptyDir, as the API defaults it. */
export function volumeType(volume: V1Volume): string {
  const record = volume as unknown as Record<string, unknown>;
  return Object.keys(record).find((key) => key !== 'name' && record[key] !== undefined && record[key] !== null) ?? 'emptyDir';
}

/** Why a volume cannot be set up on this node, or undefined when it can. */
export function unsupportedType(volume: V1Volume): string | undefined {
  const type = volumeType(volume);
  if (!(supportedVolumeTypes as readonly string[]).includes(type)) return type;
  const medium = volume.emptyDir?.medium ?? '';
  if (type === 'emptyDir' && medium !== '' && medium !== 'Memory') return `emptyDir (medium ${medium})`;
  for (const source of volume.projected?.sources ?? []) {
    const record = source as unknown as Record<string, unknown>;
    const kind = Object.keys(record).find((key) => record[key] !== undefined && record[key] !== null);
    if (kind !== undefined && !supportedProjections.has(kind)) return `projected (${kind})`;
  }
  return undefined;
}

/** The pod's volumes this node cannot set up, with the message a pod status or Event shows. */
export function unsupportedVolumes(pod: V1Pod): { name: string; type: string; message: string }[] {
  const out: { name: string; type: string; message: string }[] = [];
  for (const volume of pod.spec?.volumes ?? []) {
    const type = unsupportedType(volume);
    if (type !== undefined) out.push({ name: volume.name, type, message: `volume "${volume.name}" has an unsupported type: ${type}` });
  }
  return out;
}

function parseOrUndefined(text: string | undefined): Fraction | undefined {
  return text === undefined || text === '' ? undefined : parseQuantityExact(String(text));
}

/**
 * The pod's memory limit as its cgroup gets it (kubelet's ResourceConfigForPod): only when every
 * container declares one; the larger of the app containers plus sidecars, and each regular init
 * container plus the sidecars started before it; plus the pod overhead.
 */
export function podMemoryLimit(pod: V1Pod): Fraction | undefined {
  const limitOf = (c: V1Container) => parseOrUndefined(c.resources?.limits?.memory);
  const all = [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])];
  if (all.length === 0 || all.some((c) => limitOf(c) === undefined)) return undefined;
  const zero: Fraction = { num: 0n, den: 1n };
  let sidecars = zero;
  let initPeak = zero;
  for (const c of pod.spec?.initContainers ?? []) {
    const limit = limitOf(c) ?? zero;
    if (c.restartPolicy === 'Always') sidecars = add(sidecars, limit);
    else {
      const peak = add(limit, sidecars);
      if (compare(peak, initPeak) > 0) initPeak = peak;
    }
  }
  let app = sidecars;
  for (const c of pod.spec?.containers ?? []) app = add(app, limitOf(c) ?? zero);
  const total = compare(app, initPeak) >= 0 ? app : initPeak;
  const overhead = parseOrUndefined(pod.spec?.overhead?.memory);
  return overhead ? add(total, overhead) : total;
}

/**
 * The size of a memory-backed volume's tmpfs, as kubelet computes it: node allocatable memory,
 * lowered to the pod's memory limit and then to the volume's sizeLimit where those are smaller.
 * Undefined (no size option: the kernel's half of RAM) when allocatable is unknown.
 */
export function memoryVolumeSizeBytes(pod: V1Pod, sizeLimit: string | undefined, allocatableMemory: string | undefined): bigint | undefined {
  const allocatable = parseOrUndefined(allocatableMemory);
  if (!allocatable) return undefined;
  let size = ceilValue(allocatable);
  const podLimit = podMemoryLimit(pod);
  if (podLimit && ceilValue(podLimit) > 0n && ceilValue(podLimit) <= size) size = ceilValue(podLimit);
  const volumeLimit = parseOrUndefined(sizeLimit);
  if (volumeLimit && ceilValue(volumeLimit) > 0n && ceilValue(volumeLimit) <= size) size = ceilValue(volumeLimit);
  return size;
}

/** A token as the TokenRequest API issued it. */
export interface IssuedToken {
  token: string;
  /** ms since the epoch. */
  expiresAt: number;
  /** What was asked for; kubelet derives the issue time from it. */
  expirationSeconds: number;
}

const maxTokenTTLMs = 24 * 60 * 60 * 1000;

/**
 * Kubelet's token manager rule (without its up-to-10 s jitter): renew once 80 % of the requested
 * lifetime has passed, i.e. within 20 % of it before expiry, and in any case after 24 hours.
 */
export function tokenNeedsRefresh(token: IssuedToken, now: number): boolean {
  const ttlMs = token.expirationSeconds * 1000;
  const issuedAt = token.expiresAt - ttlMs;
  if (now >= issuedAt + maxTokenTTLMs) return true;
  // Integer seconds, as kubelet computes (expirationSeconds*20)/100.
  return now >= token.expiresAt - Math.floor((token.expirationSeconds * 20) / 100) * 1000;
}

/** What prepareSubPath needs: which mount of which container, and where its volume is. */
export interface SubPathRequest {
  volume: string;
  container: string;
  /** The mount's index in the container's volumeMounts. */
  index: number;
  /** The volume's host path, as setUp returned it. */
  volumePath: string;
  /** subPath, or subPathExpr with the container's variables expanded. */
  subPath: string;
}

/** An RFC 1123 label (at most 63 characters), as the apiserver requires of volume and container names. */
const isDnsLabel = (name: string): boolean => dns1123LabelError(name) === undefined;

/** Pod uids become directory names: nothing that could climb out of <root>/pods. */
function checkUid(uid: string | undefined): string {
  if (!uid || !/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(uid)) throw new AgentError(ErrorCode.VolumeMount, `pod uid "${uid ?? ''}" cannot name a directory`, { reason: 'FailedMount' });
  return uid;
}

function podKey(pod: V1Pod): string {
  return `${pod.metadata?.namespace ?? 'default'}/${pod.metadata?.name ?? ''}`;
}

/** A memory-backed volume's tmpfs; no size means the kernel default (half of RAM). */
interface Tmpfs {
  size: bigint | undefined;
}

/** What one setUp call shares between the volumes it sets up. */
interface SetUpContext {
  root: string;
  tmpfs: boolean;
}

/**
 * The pod volumes the agent sets up itself, under <root>/pods/<uid>/volumes/<plugin>/<name> as
 * kubelet lays them out. setUp is idempotent and cheap when nothing changed, so the pod worker
 * calls it on every sync: that is how a changed configMap or secret reaches the files (through
 * the atomic writer) and how a service account token is renewed once 80 % of its life has passed.
 * Calls for the same pod are serialized; different pods proceed independently.
 */
export class VolumeManager {
  private readonly options: VolumeManagerOptions;
  private readonly now: () => number;
  /** Tokens per pod uid and token spec. */
  private readonly tokens = new Map<string, IssuedToken>();
  private readonly queues = new Map<string, Promise<unknown>>();
  private realRoot: string | undefined;
  private tmpfsDecision: Promise<boolean> | undefined;

  constructor(options: VolumeManagerOptions) {
    this.options = options;
    this.now = options.now ?? Date.now;
  }

  /** Sets up every volume of the pod; throws a FailedMount AgentError naming the first that failed. */
  async setUp(pod: V1Pod): Promise<Map<string, MountedVolume>> {
    const uid = checkUid(pod.metadata?.uid);
    return this.serialized(uid, async () => {
      const root = await this.root();
      // The pod's directory is 0750 like kubelet's: its secrets are for its containers, not for the host's users.
      await ensurePrivateDir(join(root, 'pods', uid));
      const context: SetUpContext = { root, tmpfs: await this.useTmpfs() };
      const volumes = pod.spec?.volumes ?? [];
      const results = await Promise.allSettled(volumes.map((volume) => this.setUpVolume(pod, uid, volume, context)));
      const mounted = new Map<string, MountedVolume>();
      const failures: AgentError[] = [];
      results.forEach((result, i) => {
        const volume = volumes[i];
        if (!volume) return;
        if (result.status === 'fulfilled') mounted.set(volume.name, result.value);
        else failures.push(this.failure(volume, result.reason));
      });
      const [first, ...more] = failures;
      if (first) {
        for (const failure of more) this.options.log.warn({ pod: podKey(pod), err: failure.message }, 'volume set-up failed');
        throw first;
      }
      return mounted;
    });
  }

  /** Unmounts whatever is mounted under the pod's directory and removes it; idempotent. */
  async tearDown(podUid: string): Promise<void> {
    const uid = checkUid(podUid);
    await this.serialized(uid, async () => {
      const dir = join(await this.root(), 'pods', uid);
      // A few passes: a mount point can carry more than one mount stacked on it.
      for (let pass = 0; pass < 3; pass++) {
        const below = mountsBelow(await readMountInfo('self'), dir);
        if (below.length === 0) break;
        for (const entry of below) {
          await unmount(entry.mountPoint).catch((err: unknown) => this.options.log.warn({ uid, path: entry.mountPoint, err: describeError(err) }, 'unmount failed'));
        }
      }
      const left = mountsBelow(await readMountInfo('self'), dir);
      // Removing recursively through a mount would delete what it shows: never do that.
      if (left.length > 0) {
        throw new AgentError(ErrorCode.VolumeMount, `volumes of pod ${uid} are still mounted (${left.map((e) => e.mountPoint).join(', ')}); its directory is kept`);
      }
      await rm(dir, { recursive: true, force: true });
      for (const key of this.tokens.keys()) if (key.startsWith(`${uid}|`)) this.tokens.delete(key);
    });
  }

  /**
   * A volumeMount's subPath checked to stay inside its volume and bind-mounted at
   * <pod>/volume-subpaths/<volume>/<container>/<index> (see subpath.ts); the path the runtime
   * mounts instead. Throws a CreateContainerConfig AgentError with kubelet's wording.
   */
  async prepareSubPath(podUid: string, request: SubPathRequest): Promise<string> {
    const uid = checkUid(podUid);
    return this.serialized(uid, async () => {
      const fail = (message: string) =>
        new AgentError(ErrorCode.ContainerConfig, `failed to prepare subPath for volumeMount "${request.volume}" of container "${request.container}": ${message}`, { reason: 'CreateContainerConfigError' });
      for (const name of [request.volume, request.container]) {
        if (!isDnsLabel(name)) throw fail(`"${name}" is not a valid volume or container name (a DNS label)`);
      }
      const target = join(await this.root(), 'pods', uid, 'volume-subpaths', request.volume, request.container, String(request.index));
      try {
        return await bindSubPath(request.volumePath, request.subPath, target);
      } catch (err) {
        throw fail(describeError(err));
      }
    });
  }

  /** How many tokens are cached and how many pods have volume work queued (tests, statusz). */
  retained(): { tokens: number; queues: number } {
    return { tokens: this.tokens.size, queues: this.queues.size };
  }

  /** Pod uids that have a directory, for the orphan cleanup to compare with the pods it knows. */
  async listPodDirs(): Promise<string[]> {
    const entries = await readdir(join(await this.root(), 'pods'), { withFileTypes: true }).catch(() => []);
    return entries.filter((e) => e.isDirectory()).map((e) => e.name).sort();
  }

  /** <rootDir>/pods/<uid>/volumes/<plugin>/<name>, with the root resolved as setUp returns it. */
  async volumeDir(podUid: string, type: PluginVolumeType, name: string): Promise<string> {
    return join(await this.root(), 'pods', checkUid(podUid), 'volumes', pluginDirNames[type], name);
  }

  private failure(volume: V1Volume, err: unknown): AgentError {
    if (err instanceof AgentError && err.code === ErrorCode.VolumeMount) return err;
    return new AgentError(ErrorCode.VolumeMount, `MountVolume.SetUp failed for volume "${volume.name}" : ${describeError(err)}`, { cause: err, reason: 'FailedMount' });
  }

  private async setUpVolume(pod: V1Pod, uid: string, volume: V1Volume, context: SetUpContext): Promise<MountedVolume> {
    // The name becomes a directory: a second guard behind the apiserver's and the static pod source's validation.
    if (typeof volume.name !== 'string' || !isDnsLabel(volume.name)) {
      throw new AgentError(ErrorCode.VolumeMount, `volume name ${JSON.stringify(volume.name)} is not a valid volume name (a DNS label); nothing was written`, { reason: 'FailedMount' });
    }
    const unsupported = unsupportedType(volume);
    if (unsupported !== undefined) {
      throw new AgentError(ErrorCode.VolumeMount, `volume "${volume.name}" has an unsupported type: ${unsupported}`, { reason: 'FailedMount' });
    }
    const namespace = pod.metadata?.namespace ?? 'default';
    const { sources } = this.options;
    const dir = (type: PluginVolumeType) => join(context.root, 'pods', uid, 'volumes', pluginDirNames[type], volume.name);
    const memory = (sizeLimit?: string): Tmpfs => ({ size: memoryVolumeSizeBytes(pod, sizeLimit, sources.nodeAllocatable().memory) });

    switch (volumeType(volume)) {
      case 'hostPath': {
        const path = volume.hostPath?.path ?? '';
        await setUpHostPath(path, volume.hostPath?.type);
        return { hostPath: path, readOnly: false };
      }
      case 'configMap': {
        const source = volume.configMap ?? {};
        const name = source.name ?? '';
        const payload = configMapPayload(name, source, await sources.getConfigMap(namespace, name), source.defaultMode);
        return this.writeVolume(pod, volume.name, dir('configMap'), payload, undefined, context);
      }
      case 'secret': {
        const source = volume.secret ?? {};
        const name = source.secretName ?? '';
        const payload = secretPayload(name, source, await sources.getSecret(namespace, name), source.defaultMode);
        // Secrets never touch the disk, as in kubelet (an emptyDir of medium Memory underneath).
        return this.writeVolume(pod, volume.name, dir('secret'), payload, memory(), context);
      }
      case 'downwardAPI': {
        const source = volume.downwardAPI ?? {};
        const payload = downwardAPIPayload(pod, source.items, source.defaultMode, sources.nodeAllocatable());
        return this.writeVolume(pod, volume.name, dir('downwardAPI'), payload, memory(), context);
      }
      case 'projected': {
        const source = volume.projected ?? {};
        const refs = projectedReferences(pod, source);
        const [configMaps, secrets, tokens] = await Promise.all([
          fetchAll(refs.configMaps, (name) => sources.getConfigMap(namespace, name)),
          fetchAll(refs.secrets, (name) => sources.getSecret(namespace, name)),
          Promise.all(refs.tokens.map((spec) => this.token(pod, uid, spec).then((token) => ({ spec, token }), (err: unknown) => ({ spec, error: describeError(err) })))),
        ]);
        const tokenValues = new Map<string, string>();
        const tokenErrors = new Map<string, string>();
        for (const t of tokens) {
          if ('token' in t) tokenValues.set(tokenKey(t.spec), t.token);
          else tokenErrors.set(tokenKey(t.spec), t.error);
        }
        const payload = projectedPayload(pod, source, { configMaps, secrets, tokens: tokenValues, tokenErrors, nodeAllocatable: sources.nodeAllocatable() });
        return this.writeVolume(pod, volume.name, dir('projected'), payload, memory(), context);
      }
      default: {
        // emptyDir, also for a volume with no source at all (the API's default).
        const path = dir('emptyDir');
        await this.prepareDir(path, volume.emptyDir?.medium === 'Memory' ? memory(volume.emptyDir.sizeLimit) : undefined, context);
        return { hostPath: path, readOnly: false };
      }
    }
  }

  /**
   * The volume's directory, 0777 as kubelet's emptyDir makes it (the volumes wrapping an emptyDir
   * inherit that), with a tmpfs on it for a memory-backed volume when tmpfs is in use. A tmpfs
   * already there is left as it is (its root is 1777, like kubelet's).
   */
  private async prepareDir(path: string, tmpfs: Tmpfs | undefined, context: SetUpContext): Promise<void> {
    const onTmpfs = tmpfs !== undefined && context.tmpfs;
    if (onTmpfs && (await isMountPoint(path))) return;
    await mkdir(path, { recursive: true });
    const info = await stat(path);
    if ((info.mode & 0o7777) !== 0o777) await chmod(path, 0o777);
    if (onTmpfs) await mountTmpfs(path, tmpfs.size);
  }

  private async writeVolume(pod: V1Pod, name: string, path: string, payload: Payload, tmpfs: Tmpfs | undefined, context: SetUpContext): Promise<MountedVolume> {
    await this.prepareDir(path, tmpfs, context);
    const { changed } = await writeAtomically(path, payload);
    if (changed) this.options.log.info({ pod: podKey(pod), volume: name, files: payload.size }, 'volume content written');
    return { hostPath: path, readOnly: true };
  }

  /** A token for the spec: the cached one until it needs renewing; a still-valid one if renewal fails. */
  private async token(pod: V1Pod, uid: string, spec: TokenSpec): Promise<string> {
    const key = `${uid}|${tokenKey(spec)}`;
    const cached = this.tokens.get(key);
    const now = this.now();
    if (cached && !tokenNeedsRefresh(cached, now)) return cached.token;
    try {
      const issued = await this.options.sources.requestServiceAccountToken(pod.metadata?.namespace ?? 'default', spec.serviceAccountName, {
        ...(spec.audience !== undefined ? { audience: spec.audience } : {}),
        expirationSeconds: spec.expirationSeconds,
        podName: pod.metadata?.name ?? '',
        podUid: uid,
      });
      this.tokens.set(key, { token: issued.token, expiresAt: issued.expiresAt.getTime(), expirationSeconds: spec.expirationSeconds });
      return issued.token;
    } catch (err) {
      if (cached && now < cached.expiresAt) {
        this.options.log.warn({ pod: podKey(pod), err: describeError(err) }, 'service account token renewal failed; the current token is still valid');
        return cached.token;
      }
      throw err;
    }
  }

  private async root(): Promise<string> {
    if (this.realRoot === undefined) {
      await ensureDataDirs(this.options.rootDir);
      // mountinfo shows resolved paths; comparing with a path through a symlink would miss mounts.
      this.realRoot = await realpath(this.options.rootDir);
    }
    return this.realRoot;
  }

  private useTmpfs(): Promise<boolean> {
    this.tmpfsDecision ??= (async () => {
      if (this.options.tmpfs !== undefined) return this.options.tmpfs;
      const shared = await sharesInitMountNamespace();
      if (!shared) {
        this.options.log.warn(
          'this agent runs in a mount namespace of its own (e.g. under `ip netns exec`): a tmpfs mounted here would be invisible to the container runtime, so memory-backed volumes (secrets, tokens, emptyDir medium Memory) are plain directories',
        );
      }
      return shared;
    })();
    return this.tmpfsDecision;
  }

  private serialized<T>(uid: string, work: () => Promise<T>): Promise<T> {
    const previous = this.queues.get(uid) ?? Promise.resolve();
    const result = previous.then(work, work);
    const tail = result.catch(() => undefined);
    this.queues.set(uid, tail);
    void tail.then(() => {
      if (this.queues.get(uid) === tail) this.queues.delete(uid);
    });
    return result;
  }
}

async function fetchAll<T>(names: Set<string>, get: (name: string) => Promise<T | undefined>): Promise<Map<string, T | undefined>> {
  const entries = await Promise.all([...names].map(async (name) => [name, await get(name)] as const));
  return new Map(entries);
}

/**
 * Whether something is mounted on `path`: it lives on another device than its parent. Two
 * stat calls, where reading /proc/self/mountinfo grows with every pod's tmpfs mounts and made
 * each sync cost O(pods).
 */
async function isMountPoint(path: string): Promise<boolean> {
  const [self, parent] = await Promise.all([stat(path).catch(() => undefined), stat(dirname(path)).catch(() => undefined)]);
  return self !== undefined && parent !== undefined && self.dev !== parent.dev;
}
