import { BaseChannelLayer } from './base.js';
import { ChannelFull, LayerClosed } from './errors.js';
import { BurstLogger } from '../logger.js';
import { Deque, Mailbox } from './mailbox.js';
import { MemoryCounters, MemoryLanes } from './memory-lanes.js';
import { assertMessage, copyMessage } from './message.js';
import { assertChannelName, assertGroupName, isProcessSpecific, nonLocalName } from './names.js';
import type { LayerOptions } from './options.js';
import type { LayerHealth, Message, ReceiveOptions } from './types.js';

interface Stored {
  /** A private copy of what was sent. */
  message: Message;
  /** For a process key: the channel(s) it is for (what Redis stamps as __asgi_channel__). */
  channels: string | string[] | undefined;
  score: number;
}

/**
 * The in-process layer: one process, no I/O, the same behaviour as the Redis layer
 * (names, capacity, expiry, FIFO, groups, the demultiplexer). Receivers get deep
 * copies, taken once per send: a group message reaching many channels is one copy,
 * as it is one decoded message over Redis.
 */
export class InMemoryChannelLayer extends BaseChannelLayer {
  readonly lanes = new MemoryLanes(this, this.logger);
  readonly counters = new MemoryCounters();
  private readonly queues = new Map<string, Deque<Stored>>();
  private readonly takers = new Map<string, Mailbox<Message>>();
  private readonly readingKeys = new Set<string>();
  private readonly groups = new Map<string, Map<string, number>>();

  constructor(options: Partial<LayerOptions> = {}) {
    super(options);
  }

  async send(channel: string, message: Message): Promise<void> {
    this.sendStored(channel, message);
  }

  /**
   * send(), returning what takes the message back off its channel while it is
   * still queued there (MemoryLanes: the copy of an event run from its lane).
   */
  async sendTakingBack(channel: string, message: Message): Promise<() => void> {
    const { queue, stored } = this.sendStored(channel, message);
    return queue ? () => void queue.remove(stored) : () => {};
  }

  /** Sends `message`; returns its stored copy, and the queue it waits in unless handed over at once. */
  private sendStored(
    channel: string,
    message: Message,
  ): { queue: Deque<Stored> | undefined; stored: Stored } {
    this.assertOpen();
    assertChannelName(channel);
    assertMessage(message);
    const specific = isProcessSpecific(channel);
    const stored: Stored = {
      message: copyMessage(message),
      channels: specific ? channel : undefined,
      score: this.nextScore(),
    };
    const queue = this.store(nonLocalName(channel), stored, this.capacities.of(channel));
    if (queue === 'full') throw new ChannelFull(channel, this.capacities.of(channel));
    return { queue, stored };
  }

  async groupAdd(group: string, channel: string): Promise<void> {
    this.assertOpen();
    assertGroupName(group);
    assertChannelName(channel);
    let members = this.groups.get(group);
    if (!members) this.groups.set(group, (members = new Map()));
    members.delete(channel);
    members.set(channel, this.now());
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
    const copy = copyMessage(message);
    const score = this.nextScore();
    let skipped = 0;
    for (const [key, names] of byKey) {
      const specific = isProcessSpecific(names[0]!);
      // Plain channels each get their own copy: their receivers are unrelated.
      const stored: Stored = {
        message: specific ? copy : copyMessage(message),
        channels: specific ? names : undefined,
        score,
      };
      if (this.store(key, stored, this.capacities.of(names[0]!)) === 'full')
        skipped += names.length;
    }
    if (skipped > 0) {
      BurstLogger.for(this.logger).warn(
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

  async whenReady(): Promise<void> {
    // In-process: nothing to reach.
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
        if (stored.score >= cutoff) return stored.message;
      }
      this.queues.delete(channel);
    }
    let taker = this.takers.get(channel);
    if (!taker) this.takers.set(channel, (taker = new Mailbox(channel, 0)));
    return taker.take(options?.signal);
  }

  /**
   * Hands a message to a waiting receiver (undefined), or queues it (the queue
   * it waits in); 'full' when the queue is full.
   */
  private store(key: string, stored: Stored, capacity: number): Deque<Stored> | undefined | 'full' {
    if (this.readingKeys.has(key)) {
      this.dispatchLocal(stored);
      return undefined;
    }
    const taker = this.takers.get(key);
    if (taker && taker.waiting > 0) {
      taker.put(stored.message);
      return undefined;
    }
    let queue = this.queues.get(key);
    if (!queue) this.queues.set(key, (queue = new Deque()));
    const cutoff = this.expiryCutoff();
    while (queue.length > 0 && queue.peek()!.score < cutoff) queue.shift();
    if (queue.length >= capacity) return 'full';
    queue.push(stored);
    return queue;
  }

  private dispatchLocal(stored: Stored): void {
    if (stored.score < this.expiryCutoff() || stored.channels === undefined) return;
    this.local.deliver(stored.channels, stored.message, stored.score);
  }
}
