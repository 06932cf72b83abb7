/**
 * Kubernetes resource quantities, as far as node capacity needs them: parse "100Mi", "1Gi", "500M",
 * "2", "10%" (the last only where a threshold allows it) and format byte counts the way the kubelet
 * reports them ("16393452Ki").
 */
const binary: Record<string, number> = { Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50, Ei: 2 ** 60 };
const decimal: Record<string, number> = { '': 1, m: 1e-3, k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18 };

/** A quantity as a plain number ("250m" is 0.25, "64Mi" is 67108864); undefined when malformed. */
export function parseQuantity(text: string): number | undefined {
  const match = /^([0-9]+(?:\.[0-9]+)?)(Ki|Mi|Gi|Ti|Pi|Ei|m|k|M|G|T|P|E)?$/.exec(text.trim());
  if (!match) return undefined;
  const unit = match[2] ?? '';
  const factor = binary[unit] ?? decimal[unit];
  return factor === undefined ? undefined : Number(match[1]) * factor;
}

/** A threshold: an absolute quantity or a percentage of the total. */
export type Threshold = { kind: 'quantity'; value: number } | { kind: 'percentage'; value: number };

export function parseThreshold(text: string): Threshold | undefined {
  const percent = /^([0-9]+(?:\.[0-9]+)?)%$/.exec(text.trim());
  if (percent) {
    const value = Number(percent[1]);
    return value <= 100 ? { kind: 'percentage', value } : undefined;
  }
  const value = parseQuantity(text);
  return value === undefined ? undefined : { kind: 'quantity', value };
}

export function thresholdBytes(threshold: Threshold, total: number): number {
  return threshold.kind === 'quantity' ? threshold.value : Math.round((total * threshold.value) / 100);
}

/** Bytes as the kubelet prints memory capacity: whole kibibytes. */
export function formatKi(bytes: number): string {
  return `${Math.floor(Math.max(0, bytes) / 1024)}Ki`;
}
