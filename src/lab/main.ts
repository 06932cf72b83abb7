import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { Lab, controlPlaneBinDir } from './lab.ts';
import { writeVmFiles } from './vm-install.ts';
import { defaultLabOptions, type LabOptions } from './topology.ts';
import { describeError } from '../errors.ts';
import { execa } from 'execa';
import { crictlCommand, crictlPath } from './containerd.ts';

const usage = `npm run lab -- <command>

  up [--nodes N] [--network host-gw|vxlan|none] [--runtime docker|containerd]
                                                  build the lab: control plane + N workers, one node-agent each;
                                                  containerd: one containerd per worker (default docker)
  down                                            remove every namespace, link and process of the lab
  status                                          what is up, and the nodes as the apiserver sees them
  agent stop|kill|start <worker>                  stop (SIGTERM), kill (SIGKILL) or start one worker's agent
  report <worker> [-o json]                       node-agent report on that worker: its conditions, problems, pods, peers
  crictl [--prefix P] <worker> ARGS...            crictl against that worker's containerd, in its namespace
                                                  (e.g. crictl worker-1 ps -a; labs up with --runtime containerd)
  vm-files --out DIR [--nodes N] [--runtime R]    the same cluster for real VMs (Vagrantfile): systemd units,
                                                  certificates, kubeconfigs and agent configs under DIR

  --prefix P    name tag of the lab (default ${defaultLabOptions.prefix}); --subnet A.B.C (default ${defaultLabOptions.subnet})
`;

const baseDir = defaultLabOptions.stateDir;

async function savedOptions(prefix: string): Promise<LabOptions | undefined> {
  try {
    const state = JSON.parse(await readFile(join(baseDir, prefix, 'lab.json'), 'utf8')) as { options: LabOptions };
    return state.options;
  } catch {
    return undefined;
  }
}

/**
 * `crictl [--prefix P] <worker> ARGS...`: everything after the worker is crictl's own, flags
 * included, so it is taken before the lab's option parsing sees it.
 */
async function crictlMain(argv: string[]): Promise<number> {
  let prefix = defaultLabOptions.prefix;
  if (argv[0] === '--prefix' && argv[1]) {
    prefix = argv[1];
    argv = argv.slice(2);
  }
  const [worker, ...args] = argv;
  const saved = await savedOptions(prefix);
  if (!worker) {
    process.stderr.write(usage);
    return 2;
  }
  if (!saved) throw new Error(`no lab with prefix "${prefix}" is up; run \`npm run lab -- up --runtime containerd\` first`);
  if (saved.runtime !== 'containerd') throw new Error(`the lab "${prefix}" runs docker, not containerd: use the docker CLI`);
  const lab = new Lab(saved);
  const [file, argvOut] = await crictlCommand(lab.worker(worker), await crictlPath(), args);
  return (await execa(file, argvOut, { stdio: 'inherit', reject: false })).exitCode ?? 1;
}

async function main(): Promise<number> {
  if (process.argv[2] === 'crictl') return crictlMain(process.argv.slice(3));
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      nodes: { type: 'string' },
      network: { type: 'string' },
      runtime: { type: 'string' },
      prefix: { type: 'string' },
      subnet: { type: 'string' },
      out: { type: 'string' },
      output: { type: 'string', short: 'o' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const [command, ...rest] = positionals;
  if (values.help || !command) {
    process.stdout.write(usage);
    return values.help ? 0 : 2;
  }
  const prefix = values.prefix ?? defaultLabOptions.prefix;
  const saved = await savedOptions(prefix);
  const network = values.network ?? saved?.network ?? defaultLabOptions.network;
  if (!['host-gw', 'vxlan', 'none'].includes(network)) throw new Error(`--network must be host-gw, vxlan or none, not "${network}"`);
  const runtime = values.runtime ?? (command === 'up' ? undefined : saved?.runtime) ?? defaultLabOptions.runtime;
  if (runtime !== 'docker' && runtime !== 'containerd') throw new Error(`--runtime must be docker or containerd, not "${runtime}"`);
  const nodes = Number(values.nodes ?? saved?.workers ?? defaultLabOptions.workers);
  if (!Number.isInteger(nodes)) throw new Error(`--nodes must be a whole number, not "${values.nodes}"`);
  const options: LabOptions = {
    ...defaultLabOptions,
    ...(command === 'up' ? {} : saved),
    prefix,
    subnet: values.subnet ?? (command === 'up' ? undefined : saved?.subnet) ?? defaultLabOptions.subnet,
    workers: command === 'up' ? nodes : saved?.workers ?? nodes,
    network: network as LabOptions['network'],
    runtime,
    stateDir: join(baseDir, prefix),
  };
  const lab = new Lab(options, (line) => process.stdout.write(`lab: ${line}\n`));

  switch (command) {
    case 'up': {
      const binDir = await controlPlaneBinDir();
      const started = Date.now();
      await lab.up(binDir);
      process.stdout.write(`lab: up in ${((Date.now() - started) / 1000).toFixed(1)}s\n`);
      process.stdout.write(`\nexport KUBECONFIG=${lab.adminKubeconfig}\nkubectl get nodes -o wide\n`);
      return 0;
    }
    case 'down':
      await lab.down();
      process.stdout.write(`lab: down (prefix ${prefix})\n`);
      return 0;
    case 'status':
      process.stdout.write(`${(await lab.status()).join('\n')}\n`);
      return 0;
    case 'agent': {
      const [action, worker] = rest;
      if (!worker || !['stop', 'kill', 'start'].includes(action ?? '')) {
        process.stderr.write(usage);
        return 2;
      }
      if (action === 'start') process.stdout.write(`lab: ${worker} agent started, pid ${await lab.startAgent(worker)}\n`);
      else {
        await lab.stopAgent(worker, action === 'kill' ? 'SIGKILL' : 'SIGTERM');
        process.stdout.write(`lab: ${worker} agent ${action === 'kill' ? 'killed' : 'stopped'}\n`);
      }
      return 0;
    }
    case 'report': {
      const [worker] = rest;
      if (!worker) {
        process.stderr.write(usage);
        return 2;
      }
      const [file, args] = lab.agentCommand(lab.worker(worker), 'report', values.output ? ['-o', values.output] : []);
      return (await execa(file, args, { stdio: 'inherit', reject: false })).exitCode ?? 1;
    }
    case 'vm-files': {
      if (!values.out) throw new Error('vm-files needs --out DIR (the Vagrantfile uses /vagrant/.cluster)');
      const out = resolve(values.out);
      // Certificates and etcd data stay on the control-plane VM; only what workers need goes to --out.
      const vmLab = new Lab(options);
      const written = await writeVmFiles(vmLab, await controlPlaneBinDir(), out);
      process.stdout.write(`${written.join('\n')}\n`);
      return 0;
    }
    default:
      process.stderr.write(`unknown lab command "${command}"\n\n${usage}`);
      return 2;
  }
}

try {
  process.exitCode = await main();
} catch (err) {
  process.stderr.write(`lab: ${describeError(err)}\n`);
  process.exitCode = 1;
}
