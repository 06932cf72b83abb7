import { formatIpv4, parseCidr, parseIpv4, cidrContains } from '../src/util/cidr.ts';
import { type BridgeNetConf, type CniResult, type Attachment, CniCode, CniError, SUPPORTED_VERSIONS } from './types.ts';
import { isRecord } from '../src/util/is-record.ts';

/**
 * Parses and checks the network configuration from stdin. Pure: every problem becomes a CniError
 * with the spec's code (6 for bad JSON, 1 for a version we do not speak, 7 for bad values), and
 * the message says which field and what would be accepted.
 */

export const DEFAULT_BRIDGE = 'cni0';
export const DEFAULT_DATA_DIR = '/var/lib/cni/networks';
export const DEFAULT_MTU = 1500;


function stringList(value: unknown, field: string): string[] | undefined {
  if (value === undefined) return undefined;
  if (!Array.isArray(value) || value.some((v) => typeof v !== 'string')) {
    throw new CniError(CniCode.InvalidConfig, `${field} must be a list of strings`);
  }
  return value as string[];
}

export function parseNetConf(stdin: string, options: { requireSubnet: boolean }): BridgeNetConf {
  let raw: unknown;
  try {
    raw = JSON.parse(stdin);
  } catch (err) {
    throw new CniError(CniCode.DecodeFailure, 'network configuration on stdin is not JSON', String(err));
  }
  if (!isRecord(raw)) throw new CniError(CniCode.DecodeFailure, 'network configuration must be a JSON object');

  const cniVersion = typeof raw.cniVersion === 'string' ? raw.cniVersion : '';
  if (!(SUPPORTED_VERSIONS as readonly string[]).includes(cniVersion)) {
    throw new CniError(
      CniCode.IncompatibleVersion,
      `cniVersion "${cniVersion}" is not supported; use one of ${SUPPORTED_VERSIONS.join(', ')}`,
    );
  }
  const name = typeof raw.name === 'string' ? raw.name : '';
  // The name becomes a directory: keep it to what the spec allows for network names.
  if (!/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/.test(name)) {
    throw new CniError(CniCode.InvalidConfig, `network name "${name}" is invalid (letters, digits, _ . - only)`);
  }
  const type = typeof raw.type === 'string' ? raw.type : '';

  const bridge = raw.bridge === undefined ? DEFAULT_BRIDGE : raw.bridge;
  if (typeof bridge !== 'string' || !/^[a-zA-Z0-9_.-]{1,15}$/.test(bridge)) {
    throw new CniError(CniCode.InvalidConfig, `bridge "${JSON.stringify(bridge)}" is not a valid interface name (1-15 chars)`);
  }

  const mtu = raw.mtu === undefined ? DEFAULT_MTU : raw.mtu;
  if (typeof mtu !== 'number' || !Number.isInteger(mtu) || mtu < 576 || mtu > 65535) {
    throw new CniError(CniCode.InvalidConfig, `mtu ${JSON.stringify(mtu)} is out of range (576-65535)`);
  }

  const dataDir = raw.dataDir === undefined ? DEFAULT_DATA_DIR : raw.dataDir;
  if (typeof dataDir !== 'string' || !dataDir.startsWith('/')) {
    throw new CniError(CniCode.InvalidConfig, `dataDir must be an absolute path, got ${JSON.stringify(dataDir)}`);
  }

  let subnet = '';
  let gateway = '';
  if (raw.subnet !== undefined || options.requireSubnet) {
    if (typeof raw.subnet !== 'string' || raw.subnet === '') {
      throw new CniError(CniCode.InvalidConfig, 'subnet is required: the node\'s pod CIDR, e.g. "10.244.1.0/24" (has the node been given one?)');
    }
    const parsed = parseCidr(raw.subnet);
    if (!parsed.ok) throw new CniError(CniCode.InvalidConfig, `subnet: ${parsed.error}`);
    if (parsed.cidr.prefix > 30) {
      throw new CniError(CniCode.InvalidConfig, `subnet ${raw.subnet} is too small: a pod network needs at least a /30`);
    }
    subnet = raw.subnet;
    if (raw.gateway === undefined) {
      gateway = formatIpv4(parsed.cidr.network + 1);
    } else {
      const gw = typeof raw.gateway === 'string' ? parseIpv4(raw.gateway) : undefined;
      if (gw === undefined || !cidrContains(parsed.cidr, gw)) {
        throw new CniError(CniCode.InvalidConfig, `gateway ${JSON.stringify(raw.gateway)} must be an IPv4 address inside ${subnet}`);
      }
      gateway = raw.gateway as string;
    }
  }

  const dnsRaw = raw.dns === undefined ? {} : raw.dns;
  if (!isRecord(dnsRaw)) throw new CniError(CniCode.InvalidConfig, 'dns must be an object');
  const nameservers = stringList(dnsRaw.nameservers, 'dns.nameservers');
  const search = stringList(dnsRaw.search, 'dns.search');
  const dnsOptions = stringList(dnsRaw.options, 'dns.options');
  const dns = {
    ...(nameservers ? { nameservers } : {}),
    ...(typeof dnsRaw.domain === 'string' ? { domain: dnsRaw.domain } : {}),
    ...(search ? { search } : {}),
    ...(dnsOptions ? { options: dnsOptions } : {}),
  };

  const prevResult = isRecord(raw.prevResult) ? (raw.prevResult as unknown as CniResult) : undefined;
  const attachmentsRaw = raw['cni.dev/valid-attachments'];
  let validAttachments: Attachment[] | undefined;
  if (attachmentsRaw !== undefined) {
    if (!Array.isArray(attachmentsRaw)) {
      throw new CniError(CniCode.InvalidConfig, 'cni.dev/valid-attachments must be a list');
    }
    validAttachments = attachmentsRaw.map((a: unknown) => {
      if (!isRecord(a) || typeof a.containerID !== 'string' || typeof a.ifname !== 'string') {
        throw new CniError(CniCode.InvalidConfig, 'each of cni.dev/valid-attachments needs containerID and ifname');
      }
      return { containerID: a.containerID, ifname: a.ifname };
    });
  }

  const owner = raw.owner === undefined ? '' : raw.owner;
  // Written into allocation files as a line of its own: one plain word, no line breaks.
  if (typeof owner !== 'string' || !/^([a-z0-9][a-z0-9_.\/-]{0,62})?$/.test(owner)) {
    throw new CniError(CniCode.InvalidConfig, `owner ${JSON.stringify(owner)} is invalid (lower-case letters, digits, _ . / -; up to 63)`);
  }

  return { cniVersion, name, type, bridge, subnet, gateway, mtu, dataDir, dns, prevResult, validAttachments, owner };
}
