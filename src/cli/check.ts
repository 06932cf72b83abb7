import { VersionApi } from '@kubernetes/client-node';
import type { AgentConfig } from '../config/types.ts';
import { describeError } from '../errors.ts';
import { explainApiError } from '../kube/explain.ts';
import { loadKubeconfig, serverOf } from '../kube/kubeconfig.ts';
import { createRuntime } from '../runtime/create-runtime.ts';
import { formatRuntimeVersion } from '../runtime/types.ts';

/**
 * `node-agent check`: the agent's start-up dependencies, each tried once, one line each, so an
 * operator sees every problem and its fix before starting the service. Exit 0 when all pass.
 */
export async function runChecks(config: AgentConfig, out: NodeJS.WritableStream = process.stdout): Promise<number> {
  let failed = 0;
  const report = (ok: boolean, what: string): void => {
    if (!ok) failed++;
    out.write(`${ok ? 'ok  ' : 'FAIL'} ${what}\n`);
  };
  report(true, `configuration: node ${config.nodeName}, IP ${config.nodeIP}, runtime ${config.runtime.type}, network ${config.network.mode}`);

  const runtime = createRuntime(config.runtime, { nodeName: config.nodeName, rootDir: config.directories.root });
  try {
    report(true, `runtime: ${formatRuntimeVersion(await runtime.version())} at ${config.runtime.endpoint}`);
  } catch (err) {
    report(false, `runtime: ${describeError(err)}`);
  } finally {
    await runtime.close();
  }

  if (config.kubeconfig !== undefined) {
    try {
      const kc = await loadKubeconfig(config.kubeconfig);
      report(true, `kubeconfig: ${config.kubeconfig} (server ${serverOf(kc)}, user ${kc.getCurrentUser()?.name ?? '?'})`);
      try {
        const version = await kc.makeApiClient(VersionApi).getCode();
        report(true, `apiserver: ${serverOf(kc)} answers, Kubernetes ${version.gitVersion}`);
      } catch (err) {
        report(false, `apiserver: ${explainApiError(err, 'reach the apiserver', { server: serverOf(kc), nodeName: config.nodeName })}`);
      }
    } catch (err) {
      report(false, describeError(err));
    }
  } else {
    report(true, 'apiserver: none (standalone mode)');
  }
  return failed === 0 ? 0 : 1;
}
