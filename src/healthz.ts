import { createServer, type Server } from 'node:http';
import type { Logger } from './log/logger.ts';

/**
 * The kubelet's local health endpoint (127.0.0.1:10248/healthz by default): "ok" while the
 * agent is alive, and /statusz with the counters of its loops as JSON, for operators and tests.
 */
export async function startHealthz(options: {
  bindAddress: string;
  port: number;
  statusz: () => unknown;
  log: Logger;
}): Promise<Server | undefined> {
  if (options.port === 0) return undefined;
  const server = createServer((req, res) => {
    if (req.url === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
    } else if (req.url === '/statusz') {
      // Counters given as functions (computed on demand) are called here.
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(options.statusz(), (_key, value: unknown) => (typeof value === 'function' ? (value as () => unknown)() : value)));
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.bindAddress, () => {
      server.off('error', reject);
      resolve();
    });
  }).catch((err: unknown) => {
    // A busy port must not stop the node from joining; say so and run without it.
    options.log.warn({ err: String(err), port: options.port }, 'cannot serve /healthz; continuing without it');
  });
  return server.listening ? server : undefined;
}
