/**
 * Netlink attribute (struct nlattr) encoding for the few nested attributes the `netlink` package
 * leaves as raw Buffers: IFLA_LINKINFO with its kind-specific data (veth peer, vxlan). Everything
 * else goes through the package's typed encoders.
 */

const ALIGN = 4;

function pad(buf: Buffer): Buffer {
  const rest = buf.length % ALIGN;
  return rest === 0 ? buf : Buffer.concat([buf, Buffer.alloc(ALIGN - rest)]);
}

/** One attribute: u16 length (header + payload, unpadded), u16 type, payload, padding to 4 bytes. */
export function attr(type: number, payload: Buffer): Buffer {
  const header = Buffer.alloc(4);
  header.writeUInt16LE(4 + payload.length, 0);
  header.writeUInt16LE(type, 2);
  return pad(Buffer.concat([header, payload]));
}

export function nested(type: number, children: Buffer[]): Buffer {
  return attr(type, Buffer.concat(children));
}

export function u8(value: number): Buffer {
  return Buffer.from([value]);
}

export function u32(value: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(value >>> 0, 0);
  return b;
}

export function be16(value: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(value, 0);
  return b;
}

export function cstring(value: string): Buffer {
  return Buffer.from(`${value}\0`, 'utf8');
}

/**
 * The reverse of `attr`: splits a run of attributes as the kernel sends them into type -> payload.
 * The top two bits of the type (NLA_F_NESTED, NLA_F_NET_BYTEORDER) are flags, not part of it.
 */
export function parseAttrs(buf: Buffer): Map<number, Buffer> {
  const out = new Map<number, Buffer>();
  let offset = 0;
  while (offset + 4 <= buf.length) {
    const length = buf.readUInt16LE(offset);
    if (length < 4 || offset + length > buf.length) break;
    out.set(buf.readUInt16LE(offset + 2) & 0x3fff, buf.subarray(offset + 4, offset + length));
    offset += Math.ceil(length / ALIGN) * ALIGN;
  }
  return out;
}

/** struct ifinfomsg: family, pad, type, index, flags, change (16 bytes). */
export function ifinfomsg(index = 0): Buffer {
  const b = Buffer.alloc(16);
  b.writeInt32LE(index, 4);
  return b;
}

// Attribute numbers from <linux/if_link.h> and <linux/veth.h>.
export const IFLA = { ADDRESS: 1, IFNAME: 3, MTU: 4, LINKINFO: 18, NET_NS_FD: 28 } as const;
export const IFLA_INFO = { KIND: 1, DATA: 2 } as const;
export const VETH_INFO_PEER = 1;
export const IFLA_VXLAN = { ID: 1, LINK: 3, LOCAL: 4, LEARNING: 7, PORT: 15 } as const;
