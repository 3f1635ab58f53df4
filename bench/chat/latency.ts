/**
 * A latency histogram that several processes can fill and the driver can merge:
 * Node's RecordableHistogram cannot cross a process boundary, and the chat
 * benchmark's deliveries are recorded in every load-generator process. Buckets are
 * logarithmic, 1 % wide, so a percentile read from the merged counts is within 1 %
 * of the true value, and the whole histogram is a few thousand integers.
 */

/** Each bucket's upper bound is this many times its lower bound. */
const GROWTH = 1.01;
const LOG_GROWTH = Math.log(GROWTH);
/** Latencies up to 10 minutes (in microseconds) get their own bucket; above, the last one. */
const MAX_MICROSECONDS = 600e6;
export const BUCKETS = Math.ceil(Math.log(MAX_MICROSECONDS) / LOG_GROWTH) + 2;

/** What a histogram is reduced to for IPC and JSON: plain numbers only. */
export interface LatencyCounts {
  /** Count per bucket; bucket 0 holds latencies below 1 µs. */
  buckets: number[];
  count: number;
  maxMicroseconds: number;
}

export class LatencyHistogram {
  private readonly counts = new Float64Array(BUCKETS);
  count = 0;
  maxMicroseconds = 0;

  record(microseconds: number): void {
    const bucket =
      microseconds < 1
        ? 0
        : Math.min(BUCKETS - 1, Math.floor(Math.log(microseconds) / LOG_GROWTH) + 1);
    this.counts[bucket]!++;
    this.count++;
    if (microseconds > this.maxMicroseconds) this.maxMicroseconds = microseconds;
  }

  add(other: LatencyCounts): void {
    other.buckets.forEach((n, i) => (this.counts[i]! += n));
    this.count += other.count;
    this.maxMicroseconds = Math.max(this.maxMicroseconds, other.maxMicroseconds);
  }

  toJSON(): LatencyCounts {
    return { buckets: [...this.counts], count: this.count, maxMicroseconds: this.maxMicroseconds };
  }

  /** The `p`th percentile in milliseconds (the geometric middle of its bucket); NaN when empty. */
  percentileMs(p: number): number {
    if (this.count === 0) return NaN;
    const rank = Math.max(1, Math.ceil((p / 100) * this.count));
    let seen = 0;
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.counts[i]!;
      if (seen >= rank) {
        if (i === 0) return 0;
        const middle = Math.exp((i - 0.5) * LOG_GROWTH);
        return Math.min(middle, this.maxMicroseconds) / 1000;
      }
    }
    return this.maxMicroseconds / 1000;
  }
}
