import { describe, expect, it } from 'vitest';
import { ipBatch } from '../../cni/netns-ip.ts';

// A pod's netns can vanish between the decision to touch it and the `nsenter ip -batch -` that
// does: the call must come back with nsenter's failure, never throw out of the process (an
// unhandled EPIPE on the child's stdin once killed the agent).
describe('ip in a network namespace', () => {
  it('reports a namespace that is gone as a failed run, even with a large batch to write', async () => {
    const commands = Array.from({ length: 5000 }, (_, i) => `link set dev lo mtu ${1000 + (i % 100)}`);
    const run = await ipBatch('/proc/999999999/ns/net', commands);
    expect(run.code).not.toBe(0);
    expect(run.stderr).toMatch(/nsenter|No such file/);
  });
});
