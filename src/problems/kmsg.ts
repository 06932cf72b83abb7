/**
 * /dev/kmsg records (Documentation/ABI/testing/dev-kmsg): "<prefix>;<message>" where the prefix is
 * "<syslog priority and facility>,<sequence>,<microseconds since boot>,<flags>[,...]", followed by
 * continuation lines that start with a space (" SUBSYSTEM=..."). Pure.
 */

export interface KmsgRecord {
  /** The syslog level (0 emergency .. 7 debug). */
  level: number;
  seq: number;
  /** Microseconds since boot, CLOCK_MONOTONIC as printk stamps it. */
  usec: number;
  message: string;
}

export function parseKmsgLine(line: string): KmsgRecord | undefined {
  if (line.startsWith(' ')) return undefined;
  const semi = line.indexOf(';');
  if (semi < 0) return undefined;
  const [priority, seq, usec] = line.slice(0, semi).split(',');
  const values = [priority, seq, usec].map((v) => (v !== undefined && /^\d+$/.test(v) ? Number(v) : Number.NaN));
  if (values.some((v) => !Number.isSafeInteger(v))) return undefined;
  const [p = 0, s = 0, u = 0] = values;
  return { level: p & 7, seq: s, usec: u, message: line.slice(semi + 1) };
}

/** A line in the kmsg format, as tests and the lab write into a stand-in file. */
export function formatKmsgLine(record: { level?: number; seq: number; usec: number; message: string }): string {
  return `${record.level ?? 6},${record.seq},${record.usec},-;${record.message}\n`;
}
