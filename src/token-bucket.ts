/** A token bucket's shape: it holds at most `burst` tokens and gains `perSecond` a second. */
export interface BucketRate {
  burst: number;
  perSecond: number;
}

/**
 * The tokens a bucket holds at `now` (ms) that held `tokens` at `at` (ms). Pure, so
 * the bucket can live anywhere: a field of a socket, or state a worker stores.
 */
export function refilledTokens(tokens: number, at: number, now: number, rate: BucketRate): number {
  const elapsed = Math.max(0, now - at) / 1000;
  return Math.min(rate.burst, tokens + elapsed * rate.perSecond);
}

/** The longest delay a Node timer keeps; a longer one fires after 1 ms. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * Milliseconds until a bucket holding `tokens` (fewer than one) has a whole token
 * again, as a timer delay: at least 1, and at most what a timer can wait (a
 * tiny rate then wakes once in 24 days, finds no token, and waits again).
 */
export function msUntilToken(tokens: number, rate: BucketRate): number {
  const ms = Math.ceil(((1 - tokens) / rate.perSecond) * 1000);
  return Math.min(MAX_TIMER_MS, Math.max(1, ms));
}
