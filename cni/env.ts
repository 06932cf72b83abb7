import { type CniEnv, type Command, Commands, CniCode, CniError } from './types.ts';

/**
 * Reads the CNI_* variables of one invocation and checks what the spec requires of each command:
 * ADD and CHECK need the container, its netns and the interface name; DEL needs the container and
 * the interface (the netns may already be gone); VERSION, STATUS and GC need none of them.
 */

// The spec's rules: container IDs are alphanumeric with _ . -; interface names are Linux names.
const CONTAINER_ID = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

export function validIfname(name: string): boolean {
  return name.length > 0 && name.length <= 15 && name !== '.' && name !== '..' && !/[/:\s]/.test(name);
}

/**
 * The pod's interface name goes into `ip -batch` text, where `#` starts a comment, quotes and
 * backslashes are parsed, and a leading `-` reads as an option: ADD and CHECK take only names
 * of letters, digits, `_`, `.` and `-` (not first), which every runtime's eth0/net1 are.
 */
export function batchSafeIfname(name: string): boolean {
  return /^[A-Za-z0-9_.][A-Za-z0-9_.-]*$/.test(name);
}

export function parseCniArgs(text: string): Record<string, string> {
  const args: Record<string, string> = {};
  for (const pair of text.split(';')) {
    if (!pair) continue;
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new CniError(CniCode.InvalidEnvironment, `CNI_ARGS entry "${pair}" is not KEY=VALUE`);
    args[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return args;
}

export function parseCniEnv(env: Record<string, string | undefined>): CniEnv {
  const command = env.CNI_COMMAND ?? '';
  if (!(Commands as readonly string[]).includes(command)) {
    throw new CniError(
      CniCode.InvalidEnvironment,
      `CNI_COMMAND "${command}" is not one of ${Commands.join(', ')}`,
    );
  }
  const cmd = command as Command;
  const containerID = env.CNI_CONTAINERID ?? '';
  const netns = env.CNI_NETNS ?? '';
  const ifname = env.CNI_IFNAME ?? '';
  const needsAttachment = cmd === 'ADD' || cmd === 'CHECK' || cmd === 'DEL';
  if (needsAttachment) {
    if (!CONTAINER_ID.test(containerID)) {
      throw new CniError(CniCode.InvalidEnvironment, `CNI_CONTAINERID "${containerID}" is missing or invalid`);
    }
    if (!validIfname(ifname)) {
      throw new CniError(CniCode.InvalidEnvironment, `CNI_IFNAME "${ifname}" is missing or not a valid interface name`);
    }
    if (cmd !== 'DEL' && !batchSafeIfname(ifname)) {
      throw new CniError(CniCode.InvalidEnvironment, `CNI_IFNAME "${ifname}" may hold only letters, digits, "_", "." and "-" (not first)`);
    }
    if (cmd !== 'DEL' && !netns) {
      throw new CniError(CniCode.InvalidEnvironment, `CNI_NETNS is required for ${cmd}`);
    }
  }
  return {
    command: cmd,
    containerID,
    netns,
    ifname,
    args: parseCniArgs(env.CNI_ARGS ?? ''),
    path: env.CNI_PATH ?? '',
  };
}
