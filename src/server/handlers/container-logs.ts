import { readContainerLog, type LogReadOptions } from '../../logs/container-log-reader.ts';
import { HttpError } from '../http-util.ts';
import type { Handler } from '../kubelet-server.ts';
import { podContainerInstances, type PodContainerDeps } from '../pod-container.ts';

/**
 * /containerLogs/{namespace}/{pod}/{container}: what `kubectl logs` reaches through the
 * apiserver. The container is the pod's latest instance of that name, or with previous=true the
 * one before it; the log is read from the file the runtime keeps (CRI format or Docker's
 * json-file), with kubelet's query parameters: tailLines, sinceSeconds or sinceTime,
 * timestamps, limitBytes and follow (until the container stops or the client goes).
 */

export interface LogQuery extends LogReadOptions {
  previous: boolean;
}

const bool = (v: string | null): boolean => v === 'true' || v === '1';

function positiveInt(q: URLSearchParams, key: string, min: number): number | undefined {
  const raw = q.get(key);
  if (raw === null || raw === '') return undefined;
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < min) throw new HttpError(400, `${key} must be a whole number of at least ${min}, not ${JSON.stringify(raw)}`);
  return n;
}

/** Pure: the query as kubelet reads it; a bad value is a 400 naming it. */
export function parseLogQuery(q: URLSearchParams, now: number): LogQuery {
  const tailLines = positiveInt(q, 'tailLines', 0);
  const limitBytes = positiveInt(q, 'limitBytes', 1);
  const sinceSeconds = positiveInt(q, 'sinceSeconds', 1);
  const sinceTimeRaw = q.get('sinceTime');
  if (sinceSeconds !== undefined && sinceTimeRaw) throw new HttpError(400, 'at most one of sinceTime or sinceSeconds may be given');
  let sinceTime: Date | undefined;
  if (sinceTimeRaw) {
    sinceTime = new Date(sinceTimeRaw);
    if (Number.isNaN(sinceTime.getTime())) throw new HttpError(400, `sinceTime must be an RFC 3339 time, not ${JSON.stringify(sinceTimeRaw)}`);
  } else if (sinceSeconds !== undefined) {
    sinceTime = new Date(now - sinceSeconds * 1000);
  }
  return {
    previous: bool(q.get('previous')),
    follow: bool(q.get('follow')),
    timestamps: bool(q.get('timestamps')),
    ...(tailLines !== undefined ? { tailLines } : {}),
    ...(limitBytes !== undefined ? { limitBytes } : {}),
    ...(sinceTime ? { sinceTime } : {}),
  };
}

export function containerLogsHandler(deps: PodContainerDeps & { now?: () => number }): Handler {
  return async (req, res, ctx) => {
    const parts = ctx.path.split('/').slice(2).map(decodeURIComponent);
    if (parts.length !== 3 || parts.some((p) => p === '')) throw new HttpError(400, 'use /containerLogs/{namespace}/{pod}/{container}');
    const [namespace, podName, containerName] = parts as [string, string, string];
    const query = parseLogQuery(ctx.query, (deps.now ?? Date.now)());
    const { instances } = await podContainerInstances(deps, namespace, podName, containerName);
    const chosen = instances[query.previous ? 1 : 0];
    if (!chosen) {
      throw new HttpError(400, query.previous
        ? `previous terminated container "${containerName}" in pod "${podName}" not found`
        : `container "${containerName}" in pod "${podName}" is waiting to start: no instance of it has been created yet`);
    }
    const status = await deps.runtime.containerStatus(chosen.id);
    if (!status.logPath) throw new HttpError(500, `the runtime keeps no log file for container "${containerName}"`);
    res.writeHead(200, { 'content-type': 'text/plain', 'transfer-encoding': 'chunked' });
    // The client going away ends a follow; the container stopping ends it once its log is read.
    const stillRunning = async (): Promise<boolean> => (await deps.runtime.containerStatus(chosen.id).catch(() => undefined))?.state === 'running';
    await readContainerLog(status.logPath, res, { ...query, signal: ctx.signal, stillRunning });
    res.end();
  };
}
