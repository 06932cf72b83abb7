import { createServer, type Server } from 'node:http';
import type { Registry } from 'prom-client';
import { describeError } from './errors.ts';
import type { Logger } from './log/logger.ts';

/**
 * The kubelet's local health endpoint (127.0.0.1:10248 by default): /healthz says "ok" while the
 * agent is alive, /statusz has the counters of its loops as JSON (operators, tests), /metrics the
 * Prometheus metrics, and the documents `node-agent report` reads (/problems, /network/peers:
 * this node's view of every peer's route or tunnel). It listens on loopback unless configured otherwise: none of it is
 * secret, but none of it is for the cluster either.
 */
export async function startHealthz(options: {
  bindAddress: string;
  port: number;
  statusz: () => unknown;
  metrics?: () => Registry | undefined;
  /** Further JSON documents, computed when asked for (they may read the kernel). */
  documents?: Record<string, () => Promise<unknown>>;
  log: Logger;
}): Promise<Server | undefined> {
  if (options.port === 0) return undefined;
  const json = (value: unknown): string => JSON.stringify(value, (_key, v: unknown) => (typeof v === 'function' ? (v as () => unknown)() : v));
  const server = createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0] ?? '';
    const registry = path === '/metrics' ? options.metrics?.() : undefined;
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
    } else if (path === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
    } else if (path === '/statusz') {
      // Counters given as functions (computed on demand) are called here.
      res.writeHead(200, { 'content-type': 'application/json' }).end(json(options.statusz()));
    } else if (registry) {
      registry.metrics().then(
        (body) => res.writeHead(200, { 'content-type': registry.contentType }).end(body),
        (err: unknown) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`metrics failed: ${describeError(err)}\n`),
      );
    } else if (options.documents && Object.hasOwn(options.documents, path)) {
      // hasOwn: a path such as /constructor must not reach the object's prototype.
      options.documents[path]!().then(
        (doc) => res.writeHead(200, { 'content-type': 'application/json' }).end(json(doc)),
        (err: unknown) => res.writeHead(500, { 'content-type': 'application/json' }).end(json({ error: describeError(err) })),
      );
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
