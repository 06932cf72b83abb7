/**
 * setTimeout takes at most 2^31-1 ms (24.8 days); a longer delay overflows and fires after 1 ms.
 * A probe, hook or exec timeout of 2147484 s or more (the API allows any int32) would then end
 * every run at once: such delays are clamped to the longest timer instead. NaN and negatives are 0.
 */
export const MAX_TIMER_DELAY_MS = 2 ** 31 - 1;

export function timerDelayMs(seconds: number): number {
  const ms = seconds * 1000;
  if (!(ms > 0)) return 0;
  return Math.min(ms, MAX_TIMER_DELAY_MS);
}
