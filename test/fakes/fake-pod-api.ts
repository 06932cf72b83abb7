import type { V1ConfigMap, V1Pod, V1Secret } from '@kubernetes/client-node';
import type { PodApi } from '../../src/kube/pod-api.ts';

/**
 * The apiserver's pod side in memory: status patches are recorded (and can be held back, as a
 * slow apiserver would), tokens are issued, everything else is "not found" or a no-op.
 */
export class FakePodApi implements PodApi {
  readonly statusPatches: { namespace: string; name: string; patch: object }[] = [];
  readonly deleted: { namespace: string; name: string; uid: string }[] = [];
  tokensIssued = 0;
  now: () => number;
  private gate: Promise<void> | undefined;
  private open: () => void = () => undefined;

  constructor(options: { now?: () => number } = {}) {
    this.now = options.now ?? Date.now;
  }

  /** Status patches wait until release(). */
  stall(): void {
    this.gate = new Promise((resolve) => (this.open = resolve));
  }
  release(): void {
    this.open();
    this.gate = undefined;
  }

  async getConfigMap(): Promise<V1ConfigMap | undefined> {
    return undefined;
  }
  async getSecret(): Promise<V1Secret | undefined> {
    return undefined;
  }
  async requestToken(_namespace: string, serviceAccount: string, options: { expirationSeconds: number; podUid: string }): Promise<{ token: string; expiresAt: Date }> {
    this.tokensIssued++;
    return { token: `token-${serviceAccount}-${options.podUid}`, expiresAt: new Date(this.now() + options.expirationSeconds * 1000) };
  }
  async patchPodStatus(namespace: string, name: string, patch: object): Promise<V1Pod> {
    await this.gate;
    this.statusPatches.push({ namespace, name, patch });
    return { metadata: { namespace, name } };
  }
  async deletePodNow(namespace: string, name: string, uid: string): Promise<void> {
    this.deleted.push({ namespace, name, uid });
  }
  async createPod(_namespace: string, pod: V1Pod): Promise<V1Pod> {
    return pod;
  }
  async getPod(): Promise<V1Pod | undefined> {
    return undefined;
  }
}
