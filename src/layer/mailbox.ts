import { ReceiveAborted } from './errors.js';

/** A FIFO that shifts in O(1) amortised and can remove from the middle (for aborts). */
export class Deque<T> {
  private items: T[] = [];
  private head = 0;

  get length(): number {
    return this.items.length - this.head;
  }

  push(item: T): void {
    this.items.push(item);
  }

  peek(): T | undefined {
    return this.head < this.items.length ? this.items[this.head] : undefined;
  }

  shift(): T | undefined {
    if (this.head === this.items.length) return undefined;
    const item = this.items[this.head]!;
    (this.items as (T | undefined)[])[this.head] = undefined;
    this.head++;
    if (this.head >= 64 && this.head * 2 >= this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return item;
  }

  remove(item: T): boolean {
    const index = this.items.indexOf(item, this.head);
    if (index === -1) return false;
    this.items.splice(index, 1);
    return true;
  }

  drain(): T[] {
    const rest = this.items.slice(this.head);
    this.items = [];
    this.head = 0;
    return rest;
  }
}

interface Waiter<T> {
  resolve(value: T): void;
  reject(error: Error): void;
}

/**
 * Items waiting for takers and takers waiting for items, for one channel. A take
 * cancelled through its signal is removed before it can be handed anything, so an
 * abort never swallows an item.
 */
export class Mailbox<T> {
  private readonly items = new Deque<T>();
  private readonly waiters = new Deque<Waiter<T>>();

  constructor(
    readonly channel: string,
    /** Buffered items beyond this drop the oldest; Infinity for none. */
    private readonly bound: number,
  ) {}

  get waiting(): number {
    return this.waiters.length;
  }

  get buffered(): number {
    return this.items.length;
  }

  /** Hands `item` to the oldest taker or buffers it. Returns how many buffered items were dropped. */
  put(item: T): number {
    const waiter = this.waiters.shift();
    if (waiter) {
      waiter.resolve(item);
      return 0;
    }
    this.items.push(item);
    let dropped = 0;
    while (this.items.length > this.bound) {
      this.items.shift();
      dropped++;
    }
    return dropped;
  }

  take(signal?: AbortSignal): Promise<T> {
    if (this.items.length > 0) return Promise.resolve(this.items.shift()!);
    if (signal?.aborted) return Promise.reject(new ReceiveAborted(this.channel));
    return new Promise<T>((resolve, reject) => {
      const waiter: Waiter<T> = signal
        ? {
            resolve: (value) => {
              signal.removeEventListener('abort', onAbort);
              resolve(value);
            },
            reject: (error) => {
              signal.removeEventListener('abort', onAbort);
              reject(error);
            },
          }
        : { resolve, reject };
      const onAbort = (): void => {
        if (this.waiters.remove(waiter)) reject(new ReceiveAborted(this.channel));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiters.push(waiter);
    });
  }

  /** Rejects every taker with `error`. */
  failWaiters(error: Error): void {
    for (const waiter of this.waiters.drain()) waiter.reject(error);
  }

  /** Removes and returns everything buffered. */
  drainItems(): T[] {
    return this.items.drain();
  }
}
