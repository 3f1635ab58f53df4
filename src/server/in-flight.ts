/** Promises the server must see settle before it may close the layer (sends still on their way). */
export class InFlight {
  private readonly pending = new Set<Promise<unknown>>();

  track(promise: Promise<unknown>): void {
    this.pending.add(promise);
    void promise.finally(() => this.pending.delete(promise));
  }

  get size(): number {
    return this.pending.size;
  }

  async settle(): Promise<void> {
    while (this.pending.size > 0) await Promise.allSettled([...this.pending]);
  }
}
