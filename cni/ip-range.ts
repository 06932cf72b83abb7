import { type Ipv4Cidr, cidrSize, formatIpv4, parseCidr, parseIpv4 } from '../src/util/cidr.ts';

/**
 * Which address a new pod gets. Pure. The usable range is the subnet minus its network address,
 * its broadcast address and the gateway. Allocation continues after the last address handed out
 * (wrapping around), as host-local does, so an address released a moment ago is not given to the
 * next pod while something may still be talking to the old one.
 */

export interface IpRange {
  cidr: Ipv4Cidr;
  gateway: number;
  /** First and last allocatable addresses, inclusive. */
  first: number;
  last: number;
}

export function ipRange(subnet: string, gateway: string): IpRange {
  const parsed = parseCidr(subnet);
  if (!parsed.ok) throw new Error(parsed.error);
  const gw = parseIpv4(gateway);
  if (gw === undefined) throw new Error(`gateway ${gateway} is not an IPv4 address`);
  const { cidr } = parsed;
  return { cidr, gateway: gw, first: cidr.network + 1, last: cidr.network + cidrSize(cidr) - 2 };
}

export function rangeCapacity(range: IpRange): number {
  const gatewayInside = range.gateway >= range.first && range.gateway <= range.last ? 1 : 0;
  return range.last - range.first + 1 - gatewayInside;
}

export function inRange(range: IpRange, ip: number): boolean {
  return ip >= range.first && ip <= range.last && ip !== range.gateway;
}

/**
 * The next free address after `lastReserved` (or from the start), skipping `used`; undefined when
 * the range is full.
 */
export function nextFreeIp(range: IpRange, used: ReadonlySet<string>, lastReserved?: string): string | undefined {
  const size = range.last - range.first + 1;
  const last = lastReserved === undefined ? undefined : parseIpv4(lastReserved);
  const start = last !== undefined && last >= range.first && last <= range.last ? last + 1 : range.first;
  for (let i = 0; i < size; i++) {
    const candidate = range.first + ((start - range.first + i) % size);
    if (candidate === range.gateway) continue;
    const text = formatIpv4(candidate);
    if (!used.has(text)) return text;
  }
  return undefined;
}

/** The MAC a pod interface gets: 0a:58 then the IPv4 bytes, as kubenet does, so it is stable per IP. */
export function macForIp(ip: string): string {
  const value = parseIpv4(ip);
  if (value === undefined) throw new Error(`not an IPv4 address: ${ip}`);
  const bytes = [0x0a, 0x58, ...[24, 16, 8, 0].map((shift) => (value >>> shift) & 0xff)];
  return bytes.map((b) => b.toString(16).padStart(2, '0')).join(':');
}
