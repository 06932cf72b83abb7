import { spawn } from 'node:child_process';

/**
 * Runs `ip` inside a network namespace given by path (/proc/<pid>/ns/net or /run/netns/<name>).
 * An rtnetlink socket only reaches the namespace it was opened in and Node cannot setns(2), so
 * work inside the pod's namespace goes through one `nsenter --net=<path> ip -batch -` per call,
 * with every command of the step batched on stdin.
 *
 * node:child_process rather than execa: this runs in the exec'd plugin, where every module loaded
 * is paid on each pod start, and a spawn with stdin is all it needs.
 */

export interface IpRun {
  code: number;
  stdout: string;
  stderr: string;
}

export function runIpInNetns(netnsPath: string, args: string[], stdin?: string): Promise<IpRun> {
  return new Promise((resolve, reject) => {
    // Only a batch reads stdin; a command that does not (`ip addr show`) may exit before an
    // empty write reaches it.
    const child = spawn('nsenter', [`--net=${netnsPath}`, 'ip', ...args], { stdio: [stdin === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout?.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr?.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? 1, stdout, stderr: stderr.trim() }));
    // nsenter exits at once when the namespace is gone (a pod torn down meanwhile); writing to
    // it then fails with EPIPE. Its exit code and stderr say what happened, so the write error
    // is dropped here rather than left unhandled, which would take the whole agent down.
    child.stdin?.on('error', () => undefined);
    child.stdin?.end(stdin);
  });
}

export function ipBatch(netnsPath: string, commands: string[]): Promise<IpRun> {
  return runIpInNetns(netnsPath, ['-batch', '-'], `${commands.join('\n')}\n`);
}
