import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { execa } from 'execa';
import yaml from 'js-yaml';

// Vagrant VMs cannot be started here (no boxes, no hypervisor), so the Vagrantfile is checked the
// way it can be: Ruby's syntax check, then loaded with a stub of Vagrant's configuration DSL that
// records what it declares (boxes, hostnames, host-only IPs, provisioners and their args, synced
// folders) for a few WORKERS values; and every shell script of the repository passes shellcheck.
const repo = resolve(import.meta.dirname, '../..');
const prefix = `vg${process.pid % 10000}`;

const stub = String.raw`# Loads a Vagrantfile with a stub of Vagrant's configuration DSL and prints, as JSON, what it
# declares: per machine its box, hostname, private networks, provisioners (with their args),
# synced folders and providers' settings. Vagrant itself cannot run here (no boxes, no VMs), so
# this records the calls; the test judges them.
require "json"

# Records every setting (vb.cpus = 2) and every call (config.vm.network ...) made on it.
class Recorder
  attr_reader :settings, :calls

  def initialize
    @settings = {}
    @calls = []
  end

  def method_missing(name, *args, **kwargs, &block)
    if name.to_s.end_with?("=")
      @settings[name.to_s.chomp("=")] = args.first
    else
      @calls << { "method" => name.to_s, "args" => args, "options" => kwargs.transform_keys(&:to_s) }
    end
    nil
  end

  def respond_to_missing?(*)
    true
  end
end

# config.vm: the machine-level DSL, with define and provider blocks of their own.
class VmConfig < Recorder
  attr_reader :machines, :providers

  def initialize
    super
    @machines = {}
    @providers = {}
  end

  def define(name, **_options)
    machine = MachineConfig.new
    yield machine if block_given?
    @machines[name.to_s] = machine
  end

  def provider(name, &block)
    recorder = (@providers[name.to_s] ||= Recorder.new)
    block&.call(recorder)
  end
end

class MachineConfig
  attr_reader :vm

  def initialize
    @vm = VmConfig.new
  end
end

module Vagrant
  @configs = []

  def self.configure(version)
    raise "Vagrantfile: configuration version #{version}, expected 2" unless version == "2"

    config = MachineConfig.new
    yield config
    @configs << config
  end

  def self.configs
    @configs
  end
end

load ARGV.fetch(0)
top = Vagrant.configs.fetch(0)
describe_vm = lambda do |vm|
  {
    "settings" => vm.settings,
    "networks" => vm.calls.select { |c| c["method"] == "network" },
    "provisioners" => vm.calls.select { |c| c["method"] == "provision" },
    "syncedFolders" => vm.calls.select { |c| c["method"] == "synced_folder" },
    "providers" => vm.providers.transform_values(&:settings),
  }
end
puts JSON.generate(
  "common" => describe_vm.call(top.vm),
  "machines" => top.vm.machines.transform_values { |m| describe_vm.call(m.vm) },
)
`;

interface Call { method: string; args: unknown[]; options: Record<string, unknown> }
interface VmDescription { settings: Record<string, unknown>; networks: Call[]; provisioners: Call[]; syncedFolders: Call[]; providers: Record<string, Record<string, unknown>> }
interface Declared { common: VmDescription; machines: Record<string, VmDescription> }

describe('the Vagrantfile and the provisioning scripts', () => {
  let work = '';
  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'na-vagrant-'));
    await writeFile(join(work, 'stub.rb'), stub);
  });
  afterAll(async () => {
    if (work) await rm(work, { recursive: true, force: true });
    await rm(`/var/lib/node-agent-lab/${prefix}`, { recursive: true, force: true });
  });

  async function declared(workers: number): Promise<Declared> {
    const { stdout } = await execa('ruby', [join(work, 'stub.rb'), join(repo, 'Vagrantfile')], { cwd: repo, env: { WORKERS: String(workers) } });
    return JSON.parse(stdout) as Declared;
  }

  it('is valid Ruby', async () => {
    const check = await execa('ruby', ['-c', join(repo, 'Vagrantfile')], { reject: false });
    expect(check.stdout).toBe('Syntax OK');
    expect(check.exitCode).toBe(0);
  });

  for (const workers of [1, 3]) {
    it(`declares a Debian 12 control plane at .10 and ${workers} worker(s) from .11, each provisioned by its script (WORKERS=${workers})`, async () => {
      const d = await declared(workers);
      expect(d.common.settings['box']).toBe('debian/bookworm64');
      expect(d.common.syncedFolders.map((c) => c.args)).toEqual([['.', '/vagrant']]);
      const names = ['control-plane', ...Array.from({ length: workers }, (_, i) => `worker-${i + 1}`)];
      expect(Object.keys(d.machines)).toEqual(names);
      for (const [i, name] of names.entries()) {
        const m = d.machines[name]!;
        // No machine overrides the box: every VM is Debian 12.
        expect(m.settings['box'] ?? d.common.settings['box']).toBe('debian/bookworm64');
        expect(m.settings['hostname']).toBe(name);
        expect(m.networks).toEqual([{ method: 'network', args: ['private_network'], options: { ip: `192.168.56.${10 + i}` } }]);
        expect(m.provisioners).toHaveLength(1);
        const [provisioner] = m.provisioners;
        expect(provisioner?.args).toEqual(['shell']);
        if (name === 'control-plane') {
          expect(provisioner?.options).toEqual({ path: 'scripts/vagrant/control-plane.sh', args: [String(workers), 'docker'] });
        } else {
          expect(provisioner?.options).toEqual({ path: 'scripts/vagrant/worker.sh', args: [name] });
        }
      }
    });
  }

  it("gives each worker's agent its host-only IP as the node IP (in the config the control plane writes for it)", async () => {
    const d = await declared(3);
    const out = join(work, 'cluster');
    await execa(join(repo, 'node_modules/.bin/node'), [join(repo, 'src/lab/main.ts'), 'vm-files', '--out', out, '--nodes', '3', '--prefix', prefix]);
    for (const name of ['worker-1', 'worker-2', 'worker-3']) {
      const ip = d.machines[name]?.networks[0]?.options['ip'];
      const config = yaml.load(await readFile(join(out, name, 'config.yaml'), 'utf8')) as Record<string, unknown>;
      expect(config['nodeIP']).toBe(ip);
      expect(config['nodeName']).toBe(name);
    }
    // The worker's provisioning installs exactly that directory with the install script.
    const worker = await readFile(join(repo, 'scripts/vagrant/worker.sh'), 'utf8');
    expect(worker).toContain('bash scripts/install.sh --from "/vagrant/.cluster/$name"');
  });

  it('has shell scripts that all pass shellcheck', async () => {
    const lines = async (args: string[]): Promise<string[]> => (await execa('git', args, { cwd: repo })).stdout.split('\n').filter(Boolean);
    // Tracked files and new ones not yet committed; a deleted one (still in the index) is gone.
    const files = [...new Set([...(await lines(['ls-files'])), ...(await lines(['ls-files', '--others', '--exclude-standard']))])];
    const scripts: string[] = [];
    for (const file of files) {
      const head = await readFile(join(repo, file), 'utf8').then((t) => t.slice(0, 40), () => undefined);
      if (head === undefined) continue;
      if (file.endsWith('.sh') || /^#!.*\b(ba)?sh\b/.test(head)) scripts.push(file);
    }
    expect(scripts).toEqual(expect.arrayContaining(['.ci/run', 'bin/node-agent', 'scripts/install.sh', 'scripts/setup.sh', 'scripts/vagrant/worker.sh', 'scripts/vagrant/control-plane.sh', 'controlplane/build.sh', 'images/build.sh']));
    const result = await execa('shellcheck', ['--external-sources', ...scripts], { cwd: repo, reject: false });
    expect(result.stdout, result.stdout).toBe('');
    expect(result.exitCode).toBe(0);
  });
});
