import type { Redis } from 'ioredis';
import type { Logger } from '../../logger.js';

/** A difference from the server's clock worth a warning: whole seconds, as channels_redis trims. */
const SKEW_WARNING_SECONDS = 1;

/**
 * The Redis layer's time, in epoch seconds: the Redis server's clock (TIME,
 * read at each connection, and only then), carried on by this process's
 * monotonic clock. Scores are send times, and expiry compares one process's
 * score with another's clock (the receiver's, a later sender's): with each
 * host's own wall clock, a sender two minutes slow had every message dropped
 * as expired by a receiver with the right time, where channels_redis (no check
 * at receive) delivers it. On the server's clock every Gredis process agrees
 * however its host's clock is set, and a step of that clock changes nothing.
 * Until the first reading it is this host's wall clock.
 */
export class ServerClock {
  private base: { server: number; at: number } | undefined;

  constructor(
    private readonly label: string,
    private readonly logger: Logger,
  ) {}

  now(): number {
    if (!this.base) return Date.now() / 1000;
    return this.base.server + (performance.now() - this.base.at) / 1000;
  }

  /** Reads the server's clock on `client` (ready); a failure keeps the last reading. */
  async read(client: Redis): Promise<void> {
    try {
      const sent = performance.now();
      const [seconds, micros] = await client.time();
      const received = performance.now();
      const server = Number(seconds) + Number(micros) / 1e6;
      // The reply was made about halfway through the round trip.
      this.base = { server, at: (sent + received) / 2 };
      const skew = server - (Date.now() - (performance.now() - this.base.at)) / 1000;
      if (Math.abs(skew) >= SKEW_WARNING_SECONDS) {
        this.logger.warn(
          { host: this.label, seconds: Number(skew.toFixed(3)) },
          "this host's clock differs from the channel layer host's: the layer keeps the server's time",
        );
      }
    } catch (error) {
      this.logger.debug({ host: this.label, err: error }, 'could not read the server clock');
    }
  }
}
