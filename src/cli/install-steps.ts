import { chmod, lstat, mkdir, readFile, readlink, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { PLUGIN_TYPE } from '../../cni/types.ts';
import { readConfigFile } from '../config/load.ts';
import { formatProblems, validateConfig } from '../config/validate.ts';
import type { AgentConfig } from '../config/types.ts';
import { describeError } from '../errors.ts';
import { CONFLIST_NAME, DEBIAN_CNI_DIR, installCni, launcherText } from '../net/cni-install.ts';
import { FORWARD_CHAIN, NAT_CHAIN } from '../net/masquerade.ts';
import { ROUTE_PROTOCOL_NODE_AGENT, Rtnl } from '../net/netlink/rtnl.ts';
import { BRIDGE_NAME, pluginNetConf } from '../net/pod-network.ts';
import { findUnderlay, VXLAN_DEFAULTS, VXLAN_OVERHEAD } from '../net/vxlan-device.ts';

/**
 * The steps of scripts/install.sh that need the agent's own knowledge, so that the script and the
 * agent never disagree about a path or a file's content (one source of truth):
 *
 *   node-agent install-info  --config FILE   the facts the script needs (runtime, CNI directories), as key=value lines
 *   node-agent install-cni   --config FILE   the plugin's launcher (and the conflist when the pod CIDR is configured),
 *                                            written by the same code the agent runs at start
 *   node-agent uninstall-cni --config FILE   the plugin, its conflist, the loopback link and the pod network the agent made
 *
 * Each prints one line per thing it looked at: "unchanged", or what it did.
 */
export const installCommands = new Set(['install-info', 'install-cni', 'uninstall-cni']);

/** Where the agent's own installCni() points the launcher: this checkout's plugin. */
const pluginMain = resolve(dirname(fileURLToPath(import.meta.url)), '../../cni/main.ts');

async function loadConfig(argv: string[]): Promise<AgentConfig | string> {
  const at = argv.indexOf('--config');
  const path = at >= 0 ? argv[at + 1] : undefined;
  if (!path) return `node-agent ${argv[0] ?? ''}: --config FILE is required`;
  try {
    const result = validateConfig(await readConfigFile(path));
    return result.ok ? result.config : formatProblems(result.problems, path);
  } catch (err) {
    return `node-agent ${argv[0] ?? ''}: ${describeError(err)}`;
  }
}

const exists = (path: string): Promise<boolean> => lstat(path).then(() => true, () => false);

async function installPlugin(config: AgentConfig, print: (line: string) => void): Promise<void> {
  const plugin = join(config.directories.cniBin, PLUGIN_TYPE);
  const conflist = join(config.directories.cniConf, CONFLIST_NAME);
  const wantedLauncher = launcherText(process.execPath, pluginMain);
  const launcherBefore = await readFile(plugin, 'utf8').catch(() => undefined);
  if (config.podCIDR === undefined) {
    // The conflist carries the pod CIDR, which the controller manager assigns after the Node
    // registers: the agent writes it then. A conflist written earlier would tell containerd the
    // network is ready while it is not (as flannel, the agent is what makes it ready).
    if (launcherBefore !== wantedLauncher) await installLauncherOnly(config, wantedLauncher);
    print(`cni: ${plugin}: ${launcherBefore === wantedLauncher ? 'unchanged' : 'wrote'}`);
    print(`cni: ${conflist}: ${(await exists(conflist)) ? 'kept (the agent keeps it current)' : 'written by the agent once it has its pod CIDR'}`);
    return;
  }
  // A pod CIDR fixed in the configuration: the conflist the agent would write at start, with the
  // MTU it would pick (configured, or the node IP's device's, less the VXLAN header).
  const conflistBefore = await readFile(conflist, 'utf8').catch(() => undefined);
  const rtnl = new Rtnl();
  let mtu: number;
  try {
    const uplink = config.network.mtu || (await findUnderlay(rtnl, config.nodeIP)).mtu;
    mtu = config.network.mode === 'vxlan' ? uplink - VXLAN_OVERHEAD : uplink;
  } finally {
    rtnl.close();
  }
  await installCni(config.directories, pluginNetConf(config, { subnet: config.podCIDR, mtu }), { disableGC: config.network.disableGC });
  const conflistAfter = await readFile(conflist, 'utf8').catch(() => undefined);
  print(`cni: ${plugin}: ${launcherBefore === wantedLauncher ? 'unchanged' : 'wrote'}`);
  print(`cni: ${conflist}: ${conflistBefore === conflistAfter ? 'unchanged' : 'wrote'}`);
}

/** installCni() writes both files; without a pod CIDR only the launcher is ours to write now. */
async function installLauncherOnly(config: AgentConfig, text: string): Promise<void> {
  const plugin = join(config.directories.cniBin, PLUGIN_TYPE);
  await mkdir(config.directories.cniBin, { recursive: true });
  const tmp = `${plugin}.tmp-${process.pid}`;
  await writeFile(tmp, text, { mode: 0o755 });
  await chmod(tmp, 0o755);
  await rename(tmp, plugin);
}

async function quietly(command: string, args: string[]): Promise<boolean> {
  return (await execa(command, args, { reject: false })).exitCode === 0;
}

async function uninstallPlugin(config: AgentConfig, print: (line: string) => void): Promise<void> {
  const plugin = join(config.directories.cniBin, PLUGIN_TYPE);
  const conflist = join(config.directories.cniConf, CONFLIST_NAME);
  for (const path of [plugin, conflist]) {
    const had = await exists(path);
    await rm(path, { force: true });
    print(`cni: ${path}: ${had ? 'removed' : 'absent'}`);
  }
  // The agent links the reference loopback plugin in for containerd (ensureLoopbackPlugin); a
  // real file there is someone else's and stays.
  const loopback = join(config.directories.cniBin, 'loopback');
  const target = await readlink(loopback).catch(() => undefined);
  if (target === join(DEBIAN_CNI_DIR, 'loopback')) {
    await rm(loopback, { force: true });
    print(`cni: ${loopback}: removed (the agent's link to ${target})`);
  }
  // The pod network the agent programmed: its iptables chains with their jumps, the pod bridge,
  // the VXLAN device and its routes to other nodes' pod CIDRs (marked with its route protocol).
  const removed: string[] = [];
  for (const [table, hook, chain] of [['nat', 'POSTROUTING', NAT_CHAIN], ['filter', 'FORWARD', FORWARD_CHAIN]] as const) {
    const jump = ['-j', chain, '-m', 'comment', '--comment', 'node-agent pod network'];
    while (await quietly('iptables', ['-w', '-t', table, '-D', hook, ...jump])) removed.push(`${table}/${hook} jump`);
    if (await quietly('iptables', ['-w', '-t', table, '-F', chain])) {
      await quietly('iptables', ['-w', '-t', table, '-X', chain]);
      removed.push(`${table}/${chain}`);
    }
  }
  const routes = (await execa('ip', ['route', 'show', 'proto', String(ROUTE_PROTOCOL_NODE_AGENT)], { reject: false })).stdout.trim();
  if (routes) {
    await quietly('ip', ['route', 'flush', 'proto', String(ROUTE_PROTOCOL_NODE_AGENT)]);
    removed.push(`${routes.split('\n').length} route(s)`);
  }
  for (const link of [BRIDGE_NAME, VXLAN_DEFAULTS.name]) {
    if (await quietly('ip', ['link', 'delete', link])) removed.push(`link ${link}`);
  }
  print(`network: ${removed.length ? `removed ${removed.join(', ')}` : 'nothing of the agent left'}`);
}

/** Runs one of installCommands; returns the exit code. */
export async function runInstallCommand(argv: string[]): Promise<number> {
  const config = await loadConfig(argv);
  if (typeof config === 'string') {
    process.stderr.write(`${config}\n`);
    return 2;
  }
  const print = (line: string): void => {
    process.stdout.write(`${line}\n`);
  };
  try {
    if (argv[0] === 'install-info') {
      print(`runtime=${config.runtime.type}`);
      print(`cniBin=${config.directories.cniBin}`);
      print(`cniConf=${config.directories.cniConf}`);
      print(`root=${config.directories.root}`);
      print(`logs=${config.directories.logs}`);
      print(`containerLogs=${config.directories.containerLogs}`);
    } else if (argv[0] === 'install-cni') {
      await installPlugin(config, print);
    } else {
      await uninstallPlugin(config, print);
    }
    return 0;
  } catch (err) {
    process.stderr.write(`node-agent ${argv[0] ?? ''}: ${describeError(err)}\n`);
    return 1;
  }
}

// scripts/install.sh runs this file directly: the same code as `node-agent install-cni`, without
// loading the whole agent first (a second of start-up here, paid per lab worker).
if (import.meta.main) process.exitCode = await runInstallCommand(process.argv.slice(2));
