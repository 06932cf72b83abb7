import type { Handler } from '../kubelet-server.ts';

/** /healthz: "ok" while the agent runs (the same answer as 127.0.0.1:10248/healthz). */
export const healthzHandler: Handler = (_req, res) => {
  res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
  return Promise.resolve();
};
