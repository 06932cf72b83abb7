/**
 * IPv4 addresses and CIDRs as plain numbers. Pure: used by configuration validation now and by
 * IPAM later. IPv6 is rejected with a clear message rather than half-supported.
 */
export interface Ipv4Cidr {
  /** Network address as an unsigned 32-bit number. */
  network: number;
  prefix: number;
}

export function parseIpv4(text: string): number | undefined {
  const parts = text.split('.');
  if (parts.length !== 4) return undefined;
  let value = 0;
  for (const part of parts) {
    if (!/^(0|[1-9][0-9]{0,2})$/.test(part)) return undefined;
    const octet = Number(part);
    if (octet > 255) return undefined;
    value = value * 256 + octet;
  }
  return value;
}

export function formatIpv4(value: number): string {
  return [24, 16, 8, 0].map((shift) => Math.floor(value / 2 ** shift) % 256).join('.');
}

export type CidrParseResult = { ok: true; cidr: Ipv4Cidr } | { ok: false; error: string };

/** Parses "a.b.c.d/n" and insists that the host bits are zero, as Kubernetes does for pod CIDRs. */
export function parseCidr(text: string): CidrParseResult {
  const match = /^([^/]+)\/([0-9]{1,2})$/.exec(text.trim());
  if (!match) return { ok: false, error: `"${text}" is not a CIDR (expected a.b.c.d/n, e.g. 10.244.1.0/24)` };
  const [, addressText = '', prefixText = ''] = match;
  if (addressText.includes(':')) return { ok: false, error: `"${text}" is IPv6; only IPv4 pod networks are supported` };
  const address = parseIpv4(addressText);
  if (address === undefined) return { ok: false, error: `"${addressText}" in "${text}" is not an IPv4 address` };
  const prefix = Number(prefixText);
  if (prefix > 32) return { ok: false, error: `prefix /${prefix} in "${text}" is larger than 32` };
  const network = maskAddress(address, prefix);
  if (network !== address) {
    return { ok: false, error: `"${text}" has host bits set; the network is ${formatIpv4(network)}/${prefix}` };
  }
  return { ok: true, cidr: { network, prefix } };
}

export function maskAddress(address: number, prefix: number): number {
  const size = 2 ** (32 - prefix);
  return address - (address % size);
}

export function cidrSize(cidr: Ipv4Cidr): number {
  return 2 ** (32 - cidr.prefix);
}

export function cidrContains(cidr: Ipv4Cidr, address: number): boolean {
  return maskAddress(address, cidr.prefix) === cidr.network;
}

export function cidrsOverlap(a: Ipv4Cidr, b: Ipv4Cidr): boolean {
  const shorter = Math.min(a.prefix, b.prefix);
  return maskAddress(a.network, shorter) === maskAddress(b.network, shorter);
}

export function formatCidr(cidr: Ipv4Cidr): string {
  return `${formatIpv4(cidr.network)}/${cidr.prefix}`;
}
