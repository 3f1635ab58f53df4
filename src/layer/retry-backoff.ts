/**
 * When to try again a send the channel layer did not take (a host away, a
 * refusal, a full layer): 0.5 s after, then at doubling intervals up to 30 s,
 * and at once when a host that was away is back. Shared by what sends a
 * change's messages to chat sockets again (MultiChat's OwedGroupSends) and
 * `gredis changepassword`'s close of a user's sockets, so both wait alike.
 */
import type { ChannelLayer } from './types.js';

/** The first retry's delay, doubled at each failed one up to MAX_RETRY_MS. */
const FIRST_RETRY_MS = 500;
const MAX_RETRY_MS = 30_000;

export class RetryBackoff {
  private delayMs = FIRST_RETRY_MS;

  /** The delay before the next try; the one after it is twice as long, up to MAX_RETRY_MS. */
  next(): number {
    const delay = this.delayMs;
    this.delayMs = Math.min(delay * 2, MAX_RETRY_MS);
    return delay;
  }

  /** Sent: the next failure starts again from the first delay. */
  reset(): void {
    this.delayMs = FIRST_RETRY_MS;
  }
}

/**
 * Whether `layer.whenReady()` is a signal worth waiting for: it resolves at
 * once while every host is connected (a refusal, a full layer), so only a
 * host away makes it one.
 */
export function layerHostAway(layer: Pick<ChannelLayer, 'health'>): boolean {
  return layer
    .health()
    .hosts.some((host) => host.status === 'down' || host.status === 'connecting');
}
