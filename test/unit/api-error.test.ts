import { describe, expect, it } from 'vitest';
import { ApiException } from '@kubernetes/client-node';
import { classifyApiError } from '../../src/kube/api-error.ts';
import { explainApiError } from '../../src/kube/explain.ts';

const status = (code: number, reason: string, message: string) => new ApiException(code, 'x', JSON.stringify({ kind: 'Status', code, reason, message }), {});

describe('classifyApiError', () => {
  it('tells AlreadyExists from a resourceVersion Conflict', () => {
    expect(classifyApiError(status(409, 'AlreadyExists', 'nodes "a" already exists')).kind).toBe('alreadyExists');
    expect(classifyApiError(status(409, 'Conflict', 'the object has been modified')).kind).toBe('conflict');
  });
  it('maps HTTP codes and keeps the apiserver message', () => {
    const e = classifyApiError(status(403, 'Forbidden', 'node "w1" is not allowed to modify node "w2"'));
    expect(e).toEqual({ kind: 'forbidden', status: 403, message: 'node "w1" is not allowed to modify node "w2"' });
    expect(classifyApiError(status(410, 'Expired', 'too old')).kind).toBe('gone');
    expect(classifyApiError(status(503, 'ServiceUnavailable', '')).kind).toBe('serverError');
    expect(classifyApiError(Object.assign(new Error('Gone'), { statusCode: 410 })).kind).toBe('gone');
  });
  it('recognises an apiserver that is out of reach', () => {
    const err = Object.assign(new Error('request to https://10.0.0.1:6443/api failed, reason: connect ECONNREFUSED'), { type: 'system', code: 'ECONNREFUSED' });
    expect(classifyApiError(err).kind).toBe('unreachable');
  });
});

describe('explainApiError', () => {
  const ctx = { server: 'https://192.168.56.10:6443', nodeName: 'worker-2' };
  it('names the fix for each kind', () => {
    expect(explainApiError(status(403, 'Forbidden', 'no'), 'register node worker-2', ctx)).toContain('system:node:worker-2');
    expect(explainApiError(status(401, 'Unauthorized', ''), 'x', ctx)).toContain('client certificate');
    expect(explainApiError(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }), 'x', ctx)).toContain('start the control plane');
  });
});
