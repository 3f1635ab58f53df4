import { BaseChannelLayer } from './base.js';
import { ChannelFull, LayerClosed, MalformedPayload } from './errors.js';
import { Deque, Mailbox } from './mailbox.js';
import { assertChannelName, assertGroupName, isProcessSpecific, nonLocalName } from './names.js';
import { assertMessage } from './message.js';
import { MemoryCounters, MemoryLanes } from './memory-lanes.js';
import type { LayerOptions } from './options.js';
import type { LayerHealth, Message, ReceiveOptions } from './types.js';

interface Stored {
  payload: Buffer;
  score: number;
}

/**
 * The in-process layer: one process, no I/O, the same behaviour as the Redis layer.
 * Messages go through the same codec so that what a receiver gets (copies, byte
 * arrays, integers) is exactly what it would get over Redis.
 */
export class InMemoryChannelLayer extends BaseChannelLayer {
  readonly lanes = new MemoryLanes();
  readonly counters = new MemoryCounters();
  private readonly queues = new Map<string, Deque<Stored>>();
  private readonly takers = new Map<string, Mailbox<Message>>();
  private readonly readingKeys = new Set<string>();
  private readonly groups = new Map<string, Map<string, number>>();

  constructor(options: Partial<LayerOptions> = {}) {
    super(options);
  }

  async send(channel: string, message: Message): Promise<void> {
    this.assertOpen();
    assertChannelName(channel);
    assertMessage(message);
    const specific = isProcessSpecific(channel);
    const payload = this.codec.encode(message, specific ? channel : undefined);
    if (!this.store(nonLocalName(channel), payload, this.capacities.of(channel))) {
      throw new ChannelFull(channel, this.capacities.of(channel));
    }
  }

  async groupAdd(group: string, channel: string): Promise<void> {
    this.assertOpen();
    assertGroupName(group);
    assertChannelName(channel);
    let members = this.groups.get(group);
    if (!members) this.groups.set(group, (members = new Map()));
    members.delete(channel);
    members.set(channel, Date.now() / 1000);
  }

  async groupDiscard(group: string, channel: string): Promise<void> {
    this.assertOpen();
    assertGroupName(group);
    assertChannelName(channel);
    const members = this.groups.get(group);
    if (!members) return;
    members.delete(channel);
    if (members.size === 0) this.groups.delete(group);
  }

  async groupSend(group: string, message: Message): Promise<number> {
    this.assertOpen();
    assertGroupName(group);
    assertMessage(message);
    const members = this.groups.get(group);
    if (!members) return 0;
    const cutoff = this.groupCutoff();
    const byKey = new Map<string, string[]>();
    for (const [channel, added] of members) {
      if (added < cutoff) {
        members.delete(channel);
        continue;
      }
      const key = nonLocalName(channel);
      const names = byKey.get(key);
      if (names) names.push(channel);
      else byKey.set(key, [channel]);
    }
    const body = this.codec.encodeBody(message);
    let skipped = 0;
    for (const [key, names] of byKey) {
      if (!this.store(key, this.codec.stamp(body, names), this.capacities.of(names[0]!))) {
        skipped += names.length;
      }
    }
    if (skipped > 0) {
      this.logger.info(
        { group, skipped, members: members.size },
        'group send skipped full members',
      );
    }
    return skipped;
  }

  async flush(): Promise<void> {
    this.assertOpen();
    this.queues.clear();
    this.groups.clear();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.local.close();
    for (const taker of this.takers.values()) taker.failWaiters(new LayerClosed());
    this.takers.clear();
    this.queues.clear();
  }

  health(): LayerHealth {
    return {
      ok: !this.closed,
      hosts: [{ url: 'memory://', status: this.closed ? 'down' : 'ready' }],
    };
  }

  protected readProcessKey(key: string): void {
    if (this.readingKeys.has(key)) return;
    this.readingKeys.add(key);
    const queue = this.queues.get(key);
    if (!queue) return;
    this.queues.delete(key);
    for (let stored = queue.shift(); stored; stored = queue.shift()) this.dispatchLocal(stored);
  }

  protected async receivePlain(channel: string, options?: ReceiveOptions): Promise<Message> {
    const queue = this.queues.get(channel);
    if (queue) {
      const cutoff = this.expiryCutoff();
      for (let stored = queue.shift(); stored; stored = queue.shift()) {
        if (stored.score < cutoff) continue;
        const message = this.decode(stored.payload);
        if (message) return message;
      }
      this.queues.delete(channel);
    }
    let taker = this.takers.get(channel);
    if (!taker) this.takers.set(channel, (taker = new Mailbox(channel, 0)));
    return taker.take(options?.signal);
  }

  /** Hands a message to a waiting receiver, or queues it; false when the queue is full. */
  private store(key: string, payload: Buffer, capacity: number): boolean {
    const stored: Stored = { payload, score: this.nextScore() };
    if (this.readingKeys.has(key)) {
      this.dispatchLocal(stored);
      return true;
    }
    const taker = this.takers.get(key);
    if (taker && taker.waiting > 0) {
      const message = this.decode(payload);
      if (message) taker.put(message);
      return true;
    }
    let queue = this.queues.get(key);
    if (!queue) this.queues.set(key, (queue = new Deque()));
    const cutoff = this.expiryCutoff();
    while (queue.length > 0 && queue.peek()!.score < cutoff) queue.shift();
    if (queue.length >= capacity) return false;
    queue.push(stored);
    return true;
  }

  private dispatchLocal(stored: Stored): void {
    if (stored.score < this.expiryCutoff()) return;
    const decoded = this.decodeStamped(stored.payload);
    if (decoded?.channels) this.local.deliver(decoded.channels, decoded.message, stored.score);
  }

  private decode(payload: Buffer): Message | undefined {
    return this.decodeStamped(payload)?.message;
  }

  private decodeStamped(payload: Buffer) {
    try {
      return this.codec.decode(payload);
    } catch (error) {
      if (!(error instanceof MalformedPayload)) throw error;
      this.stats.malformed++;
      this.logger.error({ err: error }, 'skipped a malformed message');
      return undefined;
    }
  }
}
