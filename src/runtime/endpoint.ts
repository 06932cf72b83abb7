import { AgentError, ErrorCode } from '../errors.ts';

/**
 * The socket path of a runtime endpoint: `unix:///run/containerd/containerd.sock` or a bare
 * absolute path. Docker and containerd both listen on unix sockets here; nothing else is an endpoint.
 */
export function socketPathOfEndpoint(endpoint: string): string {
  if (endpoint.startsWith('unix://')) return endpoint.slice('unix://'.length);
  if (endpoint.startsWith('/')) return endpoint;
  throw new AgentError(ErrorCode.ConfigInvalid, `runtime endpoint "${endpoint}" is not a unix socket; use unix:///run/containerd/containerd.sock or unix:///var/run/docker.sock`);
}
