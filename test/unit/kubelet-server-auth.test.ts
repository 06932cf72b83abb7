import { describe, expect, it } from 'vitest';
import type { IncomingMessage } from 'node:http';
import { Authenticator, type UserInfo } from '../../src/server/authenticator.ts';
import { Authorizer } from '../../src/server/authorizer.ts';
import { forbiddenMessage, requestAttributes } from '../../src/server/request-attributes.ts';
import { parseLogQuery } from '../../src/server/handlers/container-logs.ts';
import { HttpError } from '../../src/server/http-util.ts';

/** A request as the server sees it: a TLS socket with or without a trusted certificate, and headers. */
function request(options: { cert?: { CN: string; O?: string[] }; authorization?: string }): IncomingMessage {
  const socket = {
    authorized: options.cert !== undefined,
    authorizationError: options.cert ? undefined : 'UNABLE_TO_GET_ISSUER_CERT',
    getPeerCertificate: () => ({ subject: options.cert ? { CN: options.cert.CN, O: options.cert.O ?? [] } : {} }),
  };
  return { socket, headers: options.authorization ? { authorization: options.authorization } : {} } as unknown as IncomingMessage;
}

describe('kubelet API authorization attributes', () => {
  it('maps paths to subresources and methods to verbs as the kubelet does', () => {
    expect(requestAttributes('GET', '/containerLogs/default/web/c', 'w1')).toMatchObject({ verb: 'get', resource: 'nodes', subresource: 'proxy', name: 'w1' });
    expect(requestAttributes('POST', '/exec/default/web/c', 'w1')).toMatchObject({ verb: 'create', subresource: 'proxy' });
    expect(requestAttributes('GET', '/stats/summary', 'w1').subresource).toBe('stats');
    expect(requestAttributes('GET', '/metrics', 'w1').subresource).toBe('metrics');
    expect(requestAttributes('GET', '/metricsx', 'w1').subresource).toBe('proxy');
    expect(requestAttributes('GET', '/logs/syslog', 'w1').subresource).toBe('log');
    expect(forbiddenMessage('bob', requestAttributes('GET', '/pods', 'w1'))).toBe('Forbidden (user=bob, verb=get, resource=nodes, subresource=proxy)');
  });
});

describe('kubelet API authentication', () => {
  it('a trusted client certificate: CN is the user, O the groups', async () => {
    const a = new Authenticator({ x509: true, reviewToken: undefined, anonymous: false, cacheTTLMs: 1000 });
    expect(await a.authenticate(request({ cert: { CN: 'kube-apiserver-kubelet-client', O: ['kubeadm:cluster-admins'] } }))).toEqual({
      ok: true, method: 'x509', user: { username: 'kube-apiserver-kubelet-client', groups: ['kubeadm:cluster-admins', 'system:authenticated'] },
    });
    // Without a client CA configured, a certificate identifies nobody.
    const noCa = new Authenticator({ x509: false, reviewToken: undefined, anonymous: false, cacheTTLMs: 1000 });
    expect((await noCa.authenticate(request({ cert: { CN: 'x' } }))).ok).toBe(false);
  });

  it('bearer tokens are reviewed once per TTL, valid or not; anonymous only when allowed', async () => {
    let t = 0;
    let reviews = 0;
    const alice: UserInfo = { username: 'alice', groups: ['system:authenticated'] };
    const a = new Authenticator({ x509: true, reviewToken: async (token) => (reviews++, token === 'good' ? alice : undefined), anonymous: false, cacheTTLMs: 1000, now: () => t });
    expect(await a.authenticate(request({ authorization: 'Bearer good' }))).toMatchObject({ ok: true, method: 'token', user: alice });
    expect((await a.authenticate(request({ authorization: 'Bearer bad' }))).ok).toBe(false);
    await a.authenticate(request({ authorization: 'Bearer good' }));
    await a.authenticate(request({ authorization: 'Bearer bad' }));
    expect(reviews).toBe(2);
    t = 2000;
    await a.authenticate(request({ authorization: 'Bearer good' }));
    expect(reviews).toBe(3);
    expect(await a.authenticate(request({}))).toMatchObject({ ok: false });
    const open = new Authenticator({ x509: true, reviewToken: undefined, anonymous: true, cacheTTLMs: 0 });
    expect(await open.authenticate(request({}))).toMatchObject({ ok: true, method: 'anonymous', user: { username: 'system:anonymous' } });
  });
});

describe('kubelet API authorization', () => {
  it('asks the apiserver and remembers yes and no for their own TTLs; nothing is allowed without one', async () => {
    let t = 0;
    let reviews = 0;
    const z = new Authorizer({ mode: 'Webhook', review: async (user) => (reviews++, { allowed: user.username === 'admin', reason: '' }), allowedTTLMs: 5000, deniedTTLMs: 1000, now: () => t });
    const a = requestAttributes('GET', '/pods', 'w1');
    const admin = { username: 'admin', groups: [] };
    const bob = { username: 'bob', groups: [] };
    expect((await z.authorize(admin, a)).allowed).toBe(true);
    expect((await z.authorize(bob, a)).allowed).toBe(false);
    t = 2000;
    await z.authorize(admin, a);
    await z.authorize(bob, a);
    expect(reviews).toBe(3);
    expect((await new Authorizer({ mode: 'Webhook', review: undefined, allowedTTLMs: 0, deniedTTLMs: 0 }).authorize(admin, a)).allowed).toBe(false);
    expect((await new Authorizer({ mode: 'AlwaysAllow', review: undefined, allowedTTLMs: 0, deniedTTLMs: 0 }).authorize(bob, a)).allowed).toBe(true);
  });
});

describe('container log query', () => {
  it('reads kubelet\'s parameters and refuses bad ones with a 400 naming them', () => {
    const now = Date.parse('2026-12-07T10:00:00Z');
    expect(parseLogQuery(new URLSearchParams('tailLines=5&timestamps=true&follow=true&previous=false&limitBytes=100'), now)).toEqual({ previous: false, follow: true, timestamps: true, tailLines: 5, limitBytes: 100 });
    expect(parseLogQuery(new URLSearchParams('sinceSeconds=60'), now).sinceTime?.toISOString()).toBe('2026-12-07T09:59:00.000Z');
    expect(parseLogQuery(new URLSearchParams('sinceTime=2026-12-07T09:00:00Z'), now).sinceTime?.toISOString()).toBe('2026-12-07T09:00:00.000Z');
    for (const bad of ['tailLines=-1', 'tailLines=x', 'limitBytes=0', 'sinceSeconds=0', 'sinceTime=yesterday', 'sinceSeconds=5&sinceTime=2026-12-07T09:00:00Z']) {
      expect(() => parseLogQuery(new URLSearchParams(bad), now)).toThrow(HttpError);
    }
  });
});
