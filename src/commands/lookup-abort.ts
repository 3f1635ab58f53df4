import type { LookupInterrupt } from './prompt.js';

/**
 * The abort behind a LookupInterrupt and the wait for what it sets going: a
 * lookup's cancel request on its way to the database, which must land before
 * the process exits without it. Shared by cancelledByCtrlC and a server's
 * start-up (cancelledWhileStarting), which differ only in what they say and
 * how they end.
 */
export class LookupAbort implements LookupInterrupt {
  private readonly controller = new AbortController();
  private readonly settling = new Set<() => Promise<unknown>>();

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  readonly cancelledAfter = (settled: () => Promise<unknown>): (() => void) => {
    this.settling.add(settled);
    return () => {
      this.settling.delete(settled);
    };
  };

  /**
   * Aborts `signal` (at once, before the first await) and resolves once every
   * cancel it set going has settled, landed or failed.
   */
  async abort(): Promise<void> {
    this.controller.abort();
    await Promise.allSettled([...this.settling].map(async (settled) => settled()));
  }
}
