/**
 * Go-style durations ("10s", "1m30s", "500ms"), the form KubeletConfiguration uses, so operators can
 * carry their habits over. Returns milliseconds, or undefined for anything else.
 */
const unitMs: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

export function parseDuration(text: string): number | undefined {
  const trimmed = text.trim();
  if (trimmed === '0') return 0;
  const pattern = /([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)/gy;
  let total = 0;
  let consumed = 0;
  for (const match of trimmed.matchAll(pattern)) {
    total += Number(match[1]) * (unitMs[match[2] ?? ''] ?? Number.NaN);
    consumed += match[0].length;
  }
  if (consumed === 0 || consumed !== trimmed.length || !Number.isFinite(total)) return undefined;
  return Math.round(total);
}

export function formatDuration(ms: number): string {
  if (ms % 3_600_000 === 0 && ms > 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0 && ms > 0) return `${ms / 60_000}m`;
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}
