import type { AgentConfig } from '../config/types.ts';
import { buildNodeReport } from '../report/node-report.ts';
import { formatNodeReport } from '../report/format-report.ts';
import { gatherReport } from '../report/gather-report.ts';

export type ReportFormat = 'text' | 'json';

/**
 * `node-agent report`: the node as a person wants to see it, or as JSON for a script. Exit 0 when
 * the node is Ready with no problem, 1 when something is wrong or could not be read, so it can
 * gate a script as `check` does.
 */
export async function runReport(config: AgentConfig, format: ReportFormat, out: NodeJS.WritableStream = process.stdout): Promise<number> {
  const report = buildNodeReport(await gatherReport(config));
  out.write(format === 'json' ? `${JSON.stringify(report, null, 2)}\n` : formatNodeReport(report));
  return report.problems.length === 0 && report.unavailable.length === 0 && report.ready.status === 'True' ? 0 : 1;
}
