import { describe, expect, it } from 'vitest';
import type { V1Pod } from '@kubernetes/client-node';
import { containerSecurity } from '../../src/pods/container-config.ts';
import { sandboxSecurity } from '../../src/pods/sandbox-config.ts';
import { unsupportedSecurity, verifyRunAsNonRoot } from '../../src/pods/security-checks.ts';
import { criSeccomp, namespaceOptions } from '../../src/runtime/cri/cri-convert.ts';
import { imageUser } from '../../src/runtime/image-user.ts';
import type { SandboxConfig } from '../../src/runtime/types.ts';

// The security context as the kubelet reads it, on plain objects: runAsNonRoot against the
// image's user, no_new_privs, seccomp (unset is Unconfined), host namespaces, sysctls, and the
// settings this node cannot honour failing instead of being dropped.
const pod = (podSc: object = {}, sc: object = {}, spec: object = {}): V1Pod => ({
  metadata: { name: 'web', namespace: 'shop', uid: 'u-1' },
  spec: { securityContext: podSc, containers: [{ name: 'app', image: 'busybox', securityContext: sc }], ...spec },
});
const app = (p: V1Pod) => p.spec!.containers[0]!;

describe('runAsNonRoot (kubelet verifyRunAsNonRoot)', () => {
  it('a root image, a named user, an explicit uid 0 fail; a numeric non-root user passes', () => {
    const p = pod({ runAsNonRoot: true });
    expect(verifyRunAsNonRoot(p, app(p), {})).toBe('container has runAsNonRoot and image will run as root (pod: "web_shop(u-1)", container: app)');
    expect(verifyRunAsNonRoot(p, app(p), { uid: 0 })).toBe('container has runAsNonRoot and image will run as root (pod: "web_shop(u-1)", container: app)');
    expect(verifyRunAsNonRoot(p, app(p), { username: 'nginx' })).toBe('container has runAsNonRoot and image has non-numeric user (nginx), cannot verify user is non-root (pod: "web_shop(u-1)", container: app)');
    expect(verifyRunAsNonRoot(p, app(p), { uid: 1000 })).toBeUndefined();
    const zero = pod({ runAsNonRoot: true }, { runAsUser: 0 });
    expect(verifyRunAsNonRoot(zero, app(zero), { uid: 1000 })).toBe('container\'s runAsUser breaks non-root policy (pod: "web_shop(u-1)", container: app)');
    const explicit = pod({ runAsNonRoot: true, runAsUser: 65534 });
    expect(verifyRunAsNonRoot(explicit, app(explicit), {})).toBeUndefined();
    // The container's false overrides the pod's true.
    const off = pod({ runAsNonRoot: true }, { runAsNonRoot: false });
    expect(verifyRunAsNonRoot(off, app(off), {})).toBeUndefined();
  });

  it('image users parse as containerd reports them', () => {
    expect(imageUser('')).toEqual({});
    expect(imageUser(undefined)).toEqual({});
    expect(imageUser('1000')).toEqual({ uid: 1000 });
    expect(imageUser('0:0')).toEqual({ uid: 0 });
    expect(imageUser('nginx:nginx')).toEqual({ username: 'nginx' });
  });
});

describe('what reaches the runtime', () => {
  it('allowPrivilegeEscalation false is no_new_privs; seccomp container over pod, unset Unconfined', () => {
    expect(containerSecurity(pod(), app(pod()))).toMatchObject({ noNewPrivileges: false, seccomp: { type: 'Unconfined' } });
    const p = pod({ seccompProfile: { type: 'RuntimeDefault' } }, { allowPrivilegeEscalation: false });
    expect(containerSecurity(p, app(p))).toMatchObject({ noNewPrivileges: true, seccomp: { type: 'RuntimeDefault' } });
    const l = pod({ seccompProfile: { type: 'RuntimeDefault' } }, { seccompProfile: { type: 'Localhost', localhostProfile: 'profiles/audit.json' } });
    expect(containerSecurity(l, app(l)).seccomp).toEqual({ type: 'Localhost', localhostProfile: 'profiles/audit.json' });
    expect(criSeccomp({ type: 'Localhost', localhostProfile: 'profiles/audit.json' }, '/var/lib/node-agent')).toEqual({
      seccomp: { profileType: 'Localhost', localhostRef: '/var/lib/node-agent/seccomp/profiles/audit.json' },
      seccompProfilePath: 'localhost//var/lib/node-agent/seccomp/profiles/audit.json',
    });
    expect(criSeccomp({ type: 'Unconfined' }, '/r')).toEqual({ seccomp: { profileType: 'Unconfined' }, seccompProfilePath: 'unconfined' });
  });

  it('hostPID, hostIPC and sysctls go to the sandbox and its namespace options', () => {
    const p = pod({ sysctls: [{ name: 'net.ipv4.ip_unprivileged_port_start', value: '0' }] }, {}, { hostPID: true, hostIPC: true });
    const security = sandboxSecurity(p);
    expect(security).toEqual({ privileged: false, hostPID: true, hostIPC: true, sysctls: { 'net.ipv4.ip_unprivileged_port_start': '0' } });
    expect(namespaceOptions({ hostNetwork: false, shareProcessNamespace: false, security } as SandboxConfig)).toEqual({ network: 'POD', pid: 'NODE', ipc: 'NODE' });
  });
});

describe('settings this node cannot honour fail the container', () => {
  it('procMount Unmasked, hostUsers false, a Localhost seccomp path out of its directory, Localhost AppArmor', () => {
    const cases: Array<[V1Pod, RegExp]> = [
      [pod({}, { procMount: 'Unmasked' }), /^procMount Unmasked is not supported by this node/],
      [pod({}, {}, { hostUsers: false }), /^hostUsers: false \(user namespaces\) is not supported/],
      [pod({}, { seccompProfile: { type: 'Localhost', localhostProfile: '../../etc/shadow' } }), /^seccompProfile\.localhostProfile "\.\.\/\.\.\/etc\/shadow" must not contain '\.\.'/],
      [pod({ seccompProfile: { type: 'Localhost', localhostProfile: '/etc/shadow' } }), /must be a relative path/],
      [pod({}, { appArmorProfile: { type: 'Localhost', localhostProfile: 'k8s-nginx' } }), /^appArmorProfile Localhost \(k8s-nginx\) is not supported/],
    ];
    for (const [p, message] of cases) expect(unsupportedSecurity(p, app(p))).toMatch(message);
    const fine = pod({ seccompProfile: { type: 'RuntimeDefault' } }, { procMount: 'Default', seccompProfile: { type: 'Localhost', localhostProfile: 'a/b.json' } });
    expect(unsupportedSecurity(fine, app(fine))).toBeUndefined();
  });
});
