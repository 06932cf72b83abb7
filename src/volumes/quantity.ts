/**
 * Exact Kubernetes quantities for the downward API and tmpfs sizes. Floating point is not good
 * enough here: "0.1" cores in millicores is 100.00000000000001 as a double, and kubelet rounds up,
 * so a float would report 101. Values are kept as fractions of BigInts.
 */
export interface Fraction {
  num: bigint;
  /** Always > 0. */
  den: bigint;
}

const pow = (base: bigint, exp: number): bigint => base ** BigInt(exp);
const suffixes: Record<string, Fraction> = {
  '': { num: 1n, den: 1n },
  n: { num: 1n, den: pow(10n, 9) },
  u: { num: 1n, den: pow(10n, 6) },
  m: { num: 1n, den: pow(10n, 3) },
  k: { num: pow(10n, 3), den: 1n },
  M: { num: pow(10n, 6), den: 1n },
  G: { num: pow(10n, 9), den: 1n },
  T: { num: pow(10n, 12), den: 1n },
  P: { num: pow(10n, 15), den: 1n },
  E: { num: pow(10n, 18), den: 1n },
  Ki: { num: pow(2n, 10), den: 1n },
  Mi: { num: pow(2n, 20), den: 1n },
  Gi: { num: pow(2n, 30), den: 1n },
  Ti: { num: pow(2n, 40), den: 1n },
  Pi: { num: pow(2n, 50), den: 1n },
  Ei: { num: pow(2n, 60), den: 1n },
};

/** "250m", "1.5Gi", "1e3", "2" as an exact fraction; undefined when it is not a quantity. */
export function parseQuantityExact(text: string): Fraction | undefined {
  const match = /^([+-]?)([0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E)|[eE]([+-]?[0-9]+))?$/.exec(text.trim());
  if (!match) return undefined;
  const [whole = '', decimals = ''] = (match[2] ?? '').split('.');
  let num = BigInt((whole || '0') + decimals) * (match[1] === '-' ? -1n : 1n);
  let den = pow(10n, decimals.length);
  if (match[4] !== undefined) {
    const exp = Number(match[4]);
    if (exp >= 0) num *= pow(10n, exp);
    else den *= pow(10n, -exp);
  } else {
    const factor = suffixes[match[3] ?? ''] ?? { num: 1n, den: 1n };
    num *= factor.num;
    den *= factor.den;
  }
  return { num, den };
}

/** The smallest integer >= a / b, for b > 0. */
export function ceilDiv(a: bigint, b: bigint): bigint {
  const q = a / b;
  return a % b !== 0n && a > 0n ? q + 1n : q;
}

/** The quantity as a whole number of units, rounded up (Go's Quantity.Value()). */
export function ceilValue(q: Fraction): bigint {
  return ceilDiv(q.num, q.den);
}

/** The quantity in thousandths, rounded up (Go's Quantity.MilliValue()). */
export function ceilMilliValue(q: Fraction): bigint {
  return ceilDiv(q.num * 1000n, q.den);
}

export function isZero(q: Fraction): boolean {
  return q.num === 0n;
}

export function compare(a: Fraction, b: Fraction): number {
  const left = a.num * b.den;
  const right = b.num * a.den;
  return left < right ? -1 : left > right ? 1 : 0;
}

export function add(a: Fraction, b: Fraction): Fraction {
  return { num: a.num * b.den + b.num * a.den, den: a.den * b.den };
}
