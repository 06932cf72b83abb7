import { parseArgs } from 'node:util';
import { runAgent } from '../agent.ts';
import { AgentError, describeError, isAgentError } from '../errors.ts';
import { createLogger } from '../log/logger.ts';
import { mergeConfigInput, readConfigFile } from '../config/load.ts';
import { formatProblems, validateConfig } from '../config/validate.ts';
import type { AgentConfig } from '../config/types.ts';
import { runChecks } from './check.ts';
import { runReport, type ReportFormat } from './report.ts';
import { agentVersion } from '../version.ts';
import { installCommands, runInstallCommand } from './install-steps.ts';

const usage = `node-agent ${agentVersion}: a kubelet for Linux

Usage:
  node-agent run   [--config FILE] [flags]   run the agent
  node-agent check [--config FILE] [flags]   check the configuration, kubeconfig, apiserver and runtime, then exit
  node-agent report [--config FILE] [-o text|json]
                                             this node at a glance: conditions, recent problems, pods, peers
                                             (run it on the node, beside the agent; exit 1 when anything is wrong)
  node-agent version                         (also --version)

Flags (each overrides the same setting in the config file):
  --config FILE              YAML configuration file
  --node-name NAME           this Node's name                      (nodeName)
  --node-ip IP               this node's InternalIP                (nodeIP)
  --hostname-override NAME   the Hostname address                  (hostname)
  --kubeconfig FILE          kubeconfig for the apiserver          (kubeconfig)
  --standalone               no apiserver: static pods only        (standalone)
  --runtime TYPE             docker | containerd                   (runtime.type)
  --runtime-endpoint URL     e.g. unix:///run/containerd/containerd.sock (runtime.endpoint;
                             also --container-runtime-endpoint, kubelet's name)
  --pod-cidr CIDR            pod CIDR when the cluster assigns none (podCIDR)
  --cluster-cidr CIDR        the whole pod network                 (clusterCIDR)
  --network MODE             host-gw | vxlan | none                (network.mode)
  --cluster-dns IP[,IP]      cluster DNS service IPs               (clusterDNS)
  --cluster-domain DOMAIN    cluster DNS domain, cluster.local     (clusterDomain)
  --root-dir DIR             state directory                       (directories.root)
  --pod-manifest-path DIR    static pod manifests                  (directories.manifests)
  --pod-logs-dir DIR         container logs, per pod               (directories.logs)
  --container-logs-dir DIR   the <pod>_<ns>_<container>-<id>.log links, /var/log/containers (directories.containerLogs)
  --healthz-port PORT        /healthz port, 0 to turn it off       (healthzPort)
  --log-format FORMAT        json | pretty                         (log.format)
  --log-level LEVEL          trace | debug | info | warn | error   (log.level)
`;

const flagToPath: Record<string, string> = {
  'node-name': 'nodeName',
  'node-ip': 'nodeIP',
  'hostname-override': 'hostname',
  kubeconfig: 'kubeconfig',
  runtime: 'runtime.type',
  'runtime-endpoint': 'runtime.endpoint',
  'container-runtime-endpoint': 'runtime.endpoint',
  'pod-cidr': 'podCIDR',
  'cluster-cidr': 'clusterCIDR',
  network: 'network.mode',
  'cluster-dns': 'clusterDNS',
  'cluster-domain': 'clusterDomain',
  'root-dir': 'directories.root',
  'pod-manifest-path': 'directories.manifests',
  'pod-logs-dir': 'directories.logs',
  'container-logs-dir': 'directories.containerLogs',
  'healthz-port': 'healthzPort',
  'log-format': 'log.format',
  'log-level': 'log.level',
};

/** Parses the command line into a validated configuration, or a message and an exit code. */
export async function loadConfiguration(argv: string[]): Promise<{ command: string; config: AgentConfig; output: ReportFormat } | { exit: number; message: string }> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        config: { type: 'string' },
        standalone: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
        version: { type: 'boolean' },
        output: { type: 'string', short: 'o' },
        ...Object.fromEntries(Object.keys(flagToPath).map((flag) => [flag, { type: 'string' as const }])),
      },
    });
  } catch (err) {
    return { exit: 2, message: `node-agent: ${describeError(err)}\n\n${usage}` };
  }
  const command = parsed.positionals[0] ?? '';
  // kubelet's --version, beside the version command.
  if (parsed.values.version) return { exit: 0, message: agentVersion };
  if (parsed.values.help || command === '' || command === 'help') return { exit: command === '' && !parsed.values.help ? 2 : 0, message: usage };
  if (command === 'version') return { exit: 0, message: agentVersion };
  if (command !== 'run' && command !== 'check' && command !== 'report') return { exit: 2, message: `node-agent: unknown command "${command}"\n\n${usage}` };
  const output = parsed.values.output ?? 'text';
  if (parsed.values.output !== undefined && command !== 'report') return { exit: 2, message: `node-agent: --output is for "node-agent report" only` };
  if (output !== 'text' && output !== 'json') return { exit: 2, message: `node-agent: --output must be text or json, not ${JSON.stringify(output)}` };

  const configPath = parsed.values.config;
  let file = {};
  if (typeof configPath === 'string') {
    try {
      file = await readConfigFile(configPath);
    } catch (err) {
      return { exit: 2, message: isAgentError(err) ? `node-agent: ${err.message}` : `node-agent: ${describeError(err)}` };
    }
  }
  const overrides: Record<string, unknown> = {};
  for (const [flag, path] of Object.entries(flagToPath)) {
    const value = (parsed.values as Record<string, unknown>)[flag];
    if (value !== undefined) overrides[path] = value;
  }
  if (parsed.values.standalone) overrides['standalone'] = true;
  const result = validateConfig(mergeConfigInput(file, overrides));
  if (!result.ok) return { exit: 2, message: formatProblems(result.problems, typeof configPath === 'string' ? configPath : 'flags') };
  return { command, config: result.config, output };
}

async function main(): Promise<number> {
  // scripts/install.sh's steps that need the agent's own code (see install-steps.ts).
  if (installCommands.has(process.argv[2] ?? '')) return runInstallCommand(process.argv.slice(2));
  const loaded = await loadConfiguration(process.argv.slice(2));
  if ('exit' in loaded) {
    (loaded.exit === 0 ? process.stdout : process.stderr).write(`${loaded.message}\n`);
    return loaded.exit;
  }
  const { command, config } = loaded;
  if (command === 'check') return runChecks(config);
  if (command === 'report') return runReport(config, loaded.output);

  const log = createLogger({ ...config.log, base: { node: config.nodeName } });
  const controller = new AbortController();
  for (const sig of ['SIGTERM', 'SIGINT'] as const) {
    process.once(sig, () => {
      log.info({ signal: sig }, 'shutting down');
      controller.abort();
    });
  }
  // One pod's or one request's failure must never take the node down: log, keep running.
  process.on('unhandledRejection', (reason) => log.error({ err: describeError(reason) }, 'unhandled rejection (bug): continuing'));
  log.info({ version: agentVersion, runtime: config.runtime.type, network: config.network.mode }, 'node-agent starting');
  try {
    await runAgent(config, log, controller.signal);
    return 0;
  } catch (err) {
    const message = err instanceof AgentError ? `${err.message}` : describeError(err);
    log.fatal({ code: isAgentError(err) ? err.code : undefined }, message);
    process.stderr.write(`node-agent: ${message}\n`);
    return 1;
  }
}

process.exitCode = await main();
