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

/** Milliseconds until a bucket holding `tokens` (fewer than one) has a whole token again. */
export function msUntilToken(tokens: number, rate: BucketRate): number {
  return Math.max(1, Math.ceil(((1 - tokens) / rate.perSecond) * 1000));
}
