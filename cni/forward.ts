import { readlinkSync, statSync } from 'node:fs';
import { connect } from 'node:net';
import { CniCode, CniError, cniVersionOf, errorJson, type CniOutput } from './types.ts';

/**
 * The exec'd plugin's fast path: hand the call to the running agent over its unix socket and
 * print what the agent answers, so a runtime's exec pays for starting Node but not for loading
 * the plugin (netlink, IPAM) nor for opening a netlink socket; the agent runs the very same
 * `runCni` with its warm one. The pattern of cilium-cni and calico's plugin, which talk to their
 * node daemons.
 *
 * This file is loaded on every exec: it imports nothing but `node:fs` and `node:net`, and it
 * decides quickly when there is no agent to talk to (no `agentSocket` in the configuration, no
 * socket, nobody listening, or an agent that does not stand where we do; see Place), in which
 * case the caller runs the plugin itself.
 */

/** What travels over the socket, one request per connection, each way a single JSON document. */
export interface ForwardRequest {
  env: Record<string, string>;
  stdin: string;
  /** Where the caller stands; the agent serves only a caller that stands where it does. */
  place: Place;
}

export interface ForwardResponse {
  /** Set when the agent declines (other namespaces); the caller then runs the plugin itself. */
  declined?: string;
  output?: CniOutput;
}

/**
 * The plugin's work happens in the network namespace it was exec'd in (the node's) and in the
 * pod's netns named by CNI_NETNS. The agent does it in its own, so it takes the call only when
 * its network namespace is the caller's and CNI_NETNS names the same namespace file for both
 * (a path can mean another file in another mount or PID namespace).
 */
export interface Place {
  /** readlink /proc/self/ns/net, e.g. "net:[4026531840]". */
  netns: string;
  /** "<dev>:<ino>" of the CNI_NETNS file, or "" when there is none or it is gone. */
  podNetns: string;
}

export function placeOf(cniNetns: string | undefined): Place {
  let netns = 'net:?';
  try {
    netns = readlinkSync('/proc/self/ns/net');
  } catch {
    // no /proc: compared as unknown, and unknown matches nothing but itself
  }
  let podNetns = '';
  if (cniNetns) {
    try {
      const st = statSync(cniNetns);
      podNetns = `${st.dev}:${st.ino}`;
    } catch {
      // gone (a DEL after the pod's netns went away): nothing to compare
    }
  }
  return { netns, podNetns };
}

/** `agentSocket` from the network configuration, without validating the rest (the agent does). */
function socketOf(stdin: string): string | undefined {
  try {
    const socket = (JSON.parse(stdin) as { agentSocket?: unknown }).agentSocket;
    return typeof socket === 'string' && socket.startsWith('/') ? socket : undefined;
  } catch {
    return undefined;
  }
}

/** How long a forwarded call may take: ADD waits at most 10 s for the IPAM lock, then wires. */
const CALL_TIMEOUT_MS = 60_000;

/**
 * Forwards the call; `undefined` means no agent took it and the plugin must run in this process.
 * Once the agent has accepted the call, its answer (or a failure to answer) is final: running the
 * plugin again here could do the work twice.
 */
export function forwardToAgent(env: NodeJS.ProcessEnv, stdin: string): Promise<CniOutput | undefined> {
  const path = socketOf(stdin);
  if (!path) return Promise.resolve(undefined);
  const cniEnv: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (k.startsWith('CNI_') && v !== undefined) cniEnv[k] = v;
  const request: ForwardRequest = { env: cniEnv, stdin, place: placeOf(cniEnv['CNI_NETNS']) };
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let connected = false;
    const socket = connect(path);
    socket.setTimeout(CALL_TIMEOUT_MS);
    socket.on('connect', () => {
      connected = true;
      socket.end(JSON.stringify(request));
    });
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('timeout', () => socket.destroy(new Error(`the agent did not answer within ${CALL_TIMEOUT_MS / 1000} s`)));
    socket.on('error', (err: NodeJS.ErrnoException) => {
      // Not connected: no agent (ENOENT, ECONNREFUSED) or no access; run the plugin here.
      if (!connected) resolve(undefined);
      else resolve(failure(stdin, `the agent failed while handling the call: ${err.message}`));
    });
    socket.on('close', (hadError) => {
      if (hadError) return;
      let response: ForwardResponse;
      try {
        response = JSON.parse(Buffer.concat(chunks).toString('utf8')) as ForwardResponse;
      } catch {
        resolve(failure(stdin, 'the agent closed the connection without an answer'));
        return;
      }
      resolve(response.declined !== undefined ? undefined : (response.output ?? failure(stdin, 'the agent answered without a result')));
    });
  });
}

/** The spec's "try again later" (11): the call may or may not have been carried out. */
function failure(stdin: string, msg: string): CniOutput {
  return { exitCode: 1, stdout: errorJson(cniVersionOf(stdin), new CniError(CniCode.TryAgainLater, msg)) };
}
