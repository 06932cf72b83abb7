import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CustomPluginMonitor, runPlugin } from '../../src/problems/custom-plugin-monitor.ts';
import { parseCustomPluginRules, pluginMessage, type PluginRule } from '../../src/problems/custom-plugin-rules.ts';
import type { ProblemCondition, ProblemSink } from '../../src/problems/problem-types.ts';
import { createLogger } from '../../src/log/logger.ts';

// Plugins are real executables (shell scripts in a temporary directory), run as the agent runs them.
let dir = '';
const script = async (name: string, body: string): Promise<string> => {
  const path = join(dir, name);
  await writeFile(path, `#!/bin/sh\n${body}\n`);
  await chmod(path, 0o755);
  return path;
};
const rule = (path: string, extra: Partial<PluginRule> = {}): PluginRule => ({ type: 'permanent', condition: 'NTPProblem', reason: 'NTPIsDown', path, args: [], timeoutMs: 2000, ...extra });

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'na-plugins-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('custom plugin monitor file', () => {
  it('reads custom-plugin-monitor.json with NPD\'s defaults', () => {
    const parsed = parseCustomPluginRules({
      plugin: 'custom',
      pluginConfig: { invoke_interval: '10s', timeout: '3s' },
      source: 'ntp-custom-plugin-monitor',
      conditions: [{ type: 'NTPProblem', reason: 'NTPIsUp', message: 'ntp service is up' }],
      rules: [{ type: 'permanent', condition: 'NTPProblem', reason: 'NTPIsDown', path: '/usr/local/bin/check_ntp.sh' }, { type: 'temporary', reason: 'Skew', path: '/bin/true', timeout: '1s' }],
    });
    expect(parsed.ok && parsed.rules).toMatchObject({ source: 'ntp-custom-plugin-monitor', intervalMs: 10_000, maxOutputLength: 80, rules: [{ timeoutMs: 3000 }, { timeoutMs: 1000 }] });
  });

  it('lists every problem of a bad file', () => {
    const parsed = parseCustomPluginRules({ plugin: 'exec', source: 'X', pluginConfig: { max_output_length: 0 }, rules: [{ type: 'permanent', condition: 'Nope', reason: 'R', path: '/x' }, { type: 'temporary', reason: 'R', path: 'relative.sh' }] });
    expect(parsed.ok).toBe(false);
    if (parsed.ok) return;
    expect(parsed.problems).toEqual([
      'plugin must be "custom", got "exec"',
      'source "X" must be a lower-case name like ntp-custom-plugin-monitor',
      'pluginConfig.max_output_length must be a whole number from 1 to 4096',
      'rules[0] is permanent, so its condition must be one of the listed conditions (none listed)',
      'rules[1].path must be the absolute path of an executable',
    ]);
  });

  it('messages are stdout trimmed, control characters made spaces, cut to the length', () => {
    expect(pluginMessage('  NTP is down\n\u001b[31mred\u001b[0m\n', 80)).toBe('NTP is down [31mred [0m');
    expect(pluginMessage('x'.repeat(500), 80)).toHaveLength(80);
  });
});

describe('running a plugin', () => {
  it('exit 0 is OK, 1 a problem with its message, 2 unknown, a missing file unknown', async () => {
    expect(await runPlugin(rule(await script('ok.sh', 'echo fine; exit 0')), 80)).toMatchObject({ status: 'OK', message: 'fine' });
    expect(await runPlugin(rule(await script('bad.sh', 'echo "NTP service is not running"; exit 1')), 80)).toMatchObject({ status: 'NonOK', message: 'NTP service is not running' });
    expect(await runPlugin(rule(await script('unknown.sh', 'echo cannot tell; exit 2')), 80)).toMatchObject({ status: 'Unknown', message: 'cannot tell' });
    expect((await runPlugin(rule(join(dir, 'missing.sh')), 80)).status).toBe('Unknown');
  });

  it('a plugin that hangs is killed at its timeout with its children, and reported Unknown', async () => {
    const pidFile = join(dir, 'child.pid');
    const hang = await script('hang.sh', `sleep 300 & echo $! > ${pidFile}; wait`);
    const started = Date.now();
    const result = await runPlugin(rule(hang, { timeoutMs: 300 }), 80);
    expect(Date.now() - started).toBeLessThan(5000);
    expect(result).toMatchObject({ status: 'Unknown', timedOut: true });
    expect(result.message).toContain('Timeout when running plugin');
    const child = (await readFile(pidFile, 'utf8')).trim();
    await expect.poll(async () => (await readFile(`/proc/${child}/stat`, 'utf8').catch(() => '')).split(' ')[2] ?? 'gone').toMatch(/gone|Z/);
  });

  it('a plugin that floods stdout is cut off, and its message stays short', async () => {
    const flood = await script('flood.sh', 'yes "NTP is down, very down" | head -c 10000000; exit 1');
    const result = await runPlugin(rule(flood), 80);
    expect(result.message.length).toBeLessThanOrEqual(320);
  });
});

describe('custom plugin monitor', () => {
  it('a hanging rule never holds back another: each runs on its own schedule', async () => {
    const conditions: ProblemCondition[] = [];
    const sink: ProblemSink = { condition: (_s, c) => conditions.push(c), temporary: () => {} };
    const parsed = parseCustomPluginRules({
      source: 'test-plugins',
      pluginConfig: { invoke_interval: '50ms', timeout: '2s' },
      conditions: [{ type: 'NTPProblem', reason: 'NTPIsUp', message: 'ntp is up' }, { type: 'SlowProblem', reason: 'SlowIsFine', message: 'fine' }],
      rules: [
        { type: 'permanent', condition: 'NTPProblem', reason: 'NTPIsDown', path: await script('down.sh', 'echo "ntp is down"; exit 1') },
        { type: 'permanent', condition: 'SlowProblem', reason: 'SlowHangs', path: await script('slow.sh', 'sleep 300'), timeout: '1500ms' },
      ],
    });
    if (!parsed.ok) throw new Error(parsed.problems.join('; '));
    const monitor = new CustomPluginMonitor({ rules: parsed.rules, log: createLogger({ format: 'json', level: 'error' }) });
    const stop = new AbortController();
    const running = monitor.run(sink, stop.signal);
    try {
      // Several results of the quick rule before the slow one's first timeout.
      await expect.poll(() => conditions.filter((c) => c.type === 'NTPProblem').length, { timeout: 1400 }).toBeGreaterThanOrEqual(3);
      expect(conditions.some((c) => c.type === 'SlowProblem')).toBe(false);
      expect(conditions.find((c) => c.type === 'NTPProblem')).toEqual({ type: 'NTPProblem', status: 'True', reason: 'NTPIsDown', message: 'ntp is down' });
      await expect.poll(() => conditions.find((c) => c.type === 'SlowProblem'), { timeout: 5000 }).toMatchObject({ status: 'Unknown', reason: 'SlowHangs' });
    } finally {
      stop.abort();
      await running;
    }
  });
});
