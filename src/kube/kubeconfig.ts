import { access, readFile } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import { KubeConfig, type RequestContext } from '@kubernetes/client-node';
import { AgentError, ErrorCode, describeError } from '../errors.ts';

/**
 * A KubeConfig whose API clients share one keep-alive connection pool. client-node 1.x gives
 * every request a new https.Agent, so every call to the apiserver paid a TCP and TLS handshake
 * (a new SecureContext, the client certificate parsed again): with a hundred pods that was most
 * of the agent's CPU. Watches keep their own agents (client-node destroys a watch's agent's
 * sockets when the watch ends), and a proxied cluster is left as client-node makes it.
 */
export class PooledKubeConfig extends KubeConfig {
  private pooled: http.Agent | undefined;

  override async applySecurityAuthentication(context: RequestContext): Promise<void> {
    await super.applySecurityAuthentication(context);
    if (this.getCurrentCluster()?.proxyUrl) return;
    const made = context.getAgent() as (http.Agent & { options?: https.AgentOptions }) | undefined;
    if (!made) return;
    this.pooled ??= made instanceof https.Agent
      ? new https.Agent({ ...made.options, keepAlive: true, maxSockets: 32 })
      : new http.Agent({ ...made.options, keepAlive: true, maxSockets: 32 });
    context.setAgent(this.pooled);
  }
}

/**
 * Loads and checks a kubeconfig before anything uses it, so a broken one fails at start with a
 * message naming the file and the fix, rather than as an obscure TLS or fetch error later.
 */
export async function loadKubeconfig(path: string): Promise<KubeConfig> {
  const fail = (what: string, fix: string, cause?: unknown): never => {
    throw new AgentError(ErrorCode.KubeconfigInvalid, `kubeconfig ${path}: ${what}. Fix: ${fix}`, cause === undefined ? {} : { cause });
  };
  let text = '';
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    fail(`cannot be read (${describeError(err)})`, 'point --kubeconfig (or kubeconfig: in the config file) at an existing file', err);
  }
  const kc = new PooledKubeConfig();
  try {
    kc.loadFromString(text);
  } catch (err) {
    fail(`is not a valid kubeconfig (${describeError(err).split('\n')[0]})`, 'regenerate it, or check its YAML', err);
  }
  const context = kc.getCurrentContext();
  if (!context) fail('has no current-context', 'set current-context to one of its contexts');
  const cluster = kc.getCurrentCluster();
  if (!cluster) fail(`current-context "${context}" names no known cluster`, 'make the context point at a cluster defined in the file');
  if (!cluster?.server || !/^https?:\/\//.test(cluster.server)) {
    fail(`cluster "${cluster?.name ?? ''}" has no usable server URL`, 'set clusters[].cluster.server to the apiserver URL, e.g. https://192.168.56.10:6443');
  }
  const user = kc.getCurrentUser();
  if (!user) fail(`current-context "${context}" names no known user`, 'make the context point at a user defined in the file');
  const files: [string, string | undefined][] = [
    ['certificate-authority', cluster?.caFile],
    ['client-certificate', user?.certFile],
    ['client-key', user?.keyFile],
  ];
  for (const [field, file] of files) {
    if (!file) continue;
    try {
      await access(file);
    } catch {
      fail(`${field} file ${file} does not exist`, `copy the file there, or embed it as ${field}-data`);
    }
  }
  const hasCredential = Boolean(user?.certData || user?.certFile || user?.token || user?.authProvider || user?.exec || user?.username);
  if (!hasCredential) fail(`user "${user?.name ?? ''}" has no credentials`, 'give it a client certificate and key, or a token');
  return kc;
}

/** The apiserver URL, for messages. */
export function serverOf(kc: KubeConfig): string {
  return kc.getCurrentCluster()?.server ?? '(unknown server)';
}
