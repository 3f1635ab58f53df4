import { performance } from 'node:perf_hooks';
import { setInterval, clearInterval } from 'node:timers';

/** When nothing completes for this long, the run is stuck (lost message, bug): fail it. */
const STALL_SECONDS = 20;

export interface LoopLimit {
  /** Stop issuing after this many units… */
  units?: number;
  /** …or once this many seconds have passed since the first unit was issued. */
  seconds?: number;
}

export interface LoopOutcome {
  /** Units issued and completed (all of them: the loop drains before returning). */
  units: number;
  /** From the first issue to the last completion. */
  seconds: number;
}

/**
 * A closed loop with `window` units in flight end to end: a unit (one message, or
 * one group send) takes a credit when issued and returns it only when the
 * receiving side calls `complete()` for it. Bounding what is sent but not yet
 * received (not merely what is being sent) keeps every queue below the layer's
 * capacity, so the figure measures throughput rather than ChannelFull handling,
 * and neither side can run ahead. bench/python/layer_bench.py implements the same
 * loop for channels_redis; keep the two in step.
 */
export class ClosedLoop {
  private credits: number;
  private creditWaiter: (() => void) | undefined;
  private drainedWaiter: (() => void) | undefined;
  private failure: ((error: Error) => void) | undefined;
  private failed: Error | undefined;
  private issued = 0;
  private completed = 0;

  constructor(readonly window: number) {
    this.credits = window;
  }

  /** Called by the receiving side once per finished unit. */
  complete(): void {
    this.completed++;
    this.credits++;
    const wake = this.creditWaiter;
    this.creditWaiter = undefined;
    wake?.();
    if (this.completed === this.issued) this.drainedWaiter?.();
  }

  /** Ends the run with `error` (a failed send, an unexpected message). */
  fail(error: unknown): void {
    const failure = error instanceof Error ? error : new Error(String(error));
    this.failed ??= failure;
    this.failure?.(failure);
  }

  /** Issues units with `issue` (its promise only reports send errors) until `limit`, then drains. */
  async run(limit: LoopLimit, issue: () => Promise<unknown>): Promise<LoopOutcome> {
    const failedEarly = new Promise<never>((_, reject) => {
      this.failure = reject;
      if (this.failed) reject(this.failed);
    });
    // Keeps the race below from reporting an unhandled rejection once it is over.
    failedEarly.catch(() => {});
    let lastCompleted = -1;
    let lastProgress = performance.now();
    const watchdog = setInterval(() => {
      if (this.completed !== lastCompleted) {
        lastCompleted = this.completed;
        lastProgress = performance.now();
      } else if (performance.now() - lastProgress > STALL_SECONDS * 1000) {
        this.fail(
          new Error(
            `no progress for ${STALL_SECONDS} s: issued ${this.issued}, completed ${this.completed}`,
          ),
        );
      }
    }, 1000);
    watchdog.unref();
    try {
      return await Promise.race([failedEarly, this.drive(limit, issue)]);
    } finally {
      clearInterval(watchdog);
      this.failure = undefined;
    }
  }

  private async drive(limit: LoopLimit, issue: () => Promise<unknown>): Promise<LoopOutcome> {
    const started = performance.now();
    const deadline = limit.seconds === undefined ? Infinity : started + limit.seconds * 1000;
    const maxUnits = limit.units ?? Infinity;
    while (this.issued < maxUnits) {
      if (this.credits === 0) {
        await new Promise<void>((resolve) => (this.creditWaiter = resolve));
      }
      // Checked after waiting for a credit, so the last unit is not issued late.
      if (performance.now() >= deadline) break;
      this.credits--;
      this.issued++;
      issue().catch((error: unknown) => this.fail(error));
    }
    if (this.completed < this.issued) {
      await new Promise<void>((resolve) => (this.drainedWaiter = resolve));
    }
    return { units: this.completed, seconds: (performance.now() - started) / 1000 };
  }
}
