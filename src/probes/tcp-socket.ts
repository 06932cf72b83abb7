import net from 'node:net';
import type { V1Container } from '@kubernetes/client-node';
import type { TcpSocketHandler } from './probe-spec.ts';
import { dialError, joinHostPort, probeAddress } from './probe-address.ts';
import type { ProbeOutcome } from './probe-outcome.ts';
import { timerDelayMs } from '../util/timer-delay.ts';

/**
 * The tcpSocket probe (kubelet's DoTCPProbe): success when a connection opens within
 * timeoutSeconds; it is closed at once without sending anything. The close is a normal FIN, not a
 * reset: applications log resets as errors, and kubelet moved away from RST for the same reason.
 */
export interface TcpSocketOptions {
  podIP: string;
  container: V1Container;
  timeoutSeconds: number;
}

export async function tcpSocketProbe(handler: Omit<TcpSocketHandler, 'type'>, options: TcpSocketOptions): Promise<ProbeOutcome> {
  const address = probeAddress(handler.host, options.podIP, handler.port, options.container);
  if (!address.ok) return { result: 'unknown', output: address.message };
  const hostPort = joinHostPort(address.host, address.port);
  return new Promise<ProbeOutcome>((resolve) => {
    const socket = net.connect({ host: address.host, port: address.port });
    const finish = (outcome: ProbeOutcome) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(outcome);
    };
    const timer = setTimeout(() => finish({ result: 'failure', output: `dial tcp ${hostPort}: i/o timeout` }), timerDelayMs(options.timeoutSeconds));
    socket.once('connect', () => finish({ result: 'success', output: '' }));
    // 'on', not 'once': an error after the outcome must still have a listener, or it would throw.
    socket.on('error', (err) => finish({ result: 'failure', output: dialError(err, hostPort) }));
  });
}
