import type { V1Container, V1Pod } from '@kubernetes/client-node';
import { localDescendingPathError } from './pod-validation.ts';
import { formatPod } from './pod-util.ts';

/**
 * The checks the kubelet makes on a container's security context before it creates the
 * container, each a CreateContainerConfigError when it fails. Pure: the image's user comes in as
 * the runtime reported it.
 */

/**
 * kubelet's verifyRunAsNonRoot. With runAsNonRoot true (the container's setting over the pod's),
 * an explicit runAsUser must not be 0; without one, the image's user must be a numeric uid other
 * than 0: a user name cannot be checked without the image's /etc/passwd, and an image that names
 * no user runs as root.
 */
export function verifyRunAsNonRoot(pod: V1Pod, container: V1Container, image: { uid?: number; username?: string }): string | undefined {
  const podSc = pod.spec?.securityContext ?? {};
  const sc = container.securityContext ?? {};
  if ((sc.runAsNonRoot ?? podSc.runAsNonRoot) !== true) return undefined;
  const runAsUser = sc.runAsUser ?? podSc.runAsUser;
  const where = `(pod: ${JSON.stringify(formatPod(pod))}, container: ${container.name})`;
  if (runAsUser !== undefined) return runAsUser === 0 ? `container's runAsUser breaks non-root policy ${where}` : undefined;
  if (image.uid !== undefined) return image.uid === 0 ? `container has runAsNonRoot and image will run as root ${where}` : undefined;
  if (image.username) return `container has runAsNonRoot and image has non-numeric user (${image.username}), cannot verify user is non-root ${where}`;
  return `container has runAsNonRoot and image will run as root ${where}`;
}

/**
 * A security setting this node cannot honour, as a message; undefined when all can be. A pod
 * admitted as "restricted" must never run with less protection than it asked for, so what the
 * agent cannot do fails the container instead of being dropped.
 */
export function unsupportedSecurity(pod: V1Pod, container: V1Container): string | undefined {
  const podSc = pod.spec?.securityContext ?? {};
  const sc = container.securityContext ?? {};
  if (pod.spec?.hostUsers === false) return 'hostUsers: false (user namespaces) is not supported by this node';
  if (sc.procMount !== undefined && sc.procMount !== 'Default') {
    // Unmasked needs a user namespace (hostUsers: false) in Kubernetes; without one it would be a hole.
    return `procMount ${sc.procMount} is not supported by this node (it needs user namespaces); use procMount: Default`;
  }
  const seccomp = sc.seccompProfile ?? podSc.seccompProfile;
  if (seccomp !== undefined && !['RuntimeDefault', 'Unconfined', 'Localhost'].includes(seccomp.type)) return `seccompProfile type ${JSON.stringify(seccomp.type)} is not one of RuntimeDefault, Unconfined, Localhost`;
  if (seccomp?.type === 'Localhost') {
    const profile = seccomp.localhostProfile ?? '';
    const problem = profile === '' ? 'must be set' : localDescendingPathError(profile);
    if (problem) return `seccompProfile.localhostProfile ${JSON.stringify(profile)} ${problem} (a file below the node's <root-dir>/seccomp)`;
  }
  const appArmor = sc.appArmorProfile ?? podSc.appArmorProfile;
  if (appArmor?.type === 'Localhost') return `appArmorProfile Localhost (${appArmor.localhostProfile ?? ''}) is not supported by this node; use RuntimeDefault`;
  if (sc.windowsOptions?.hostProcess || podSc.windowsOptions?.hostProcess) return 'windowsOptions.hostProcess is for Windows nodes';
  return undefined;
}
