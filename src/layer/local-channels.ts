import type { Logger } from '../logger.js';
import { LayerClosed, ReceiveAborted } from './errors.js';
import { Mailbox } from './mailbox.js';
import type { LayerStats, Message, ReceiveOptions } from './types.js';

/**
 * The demultiplexer for this process's process-specific channels. One reader per
 * process key hands every message here; this routes it by its stamped channel
 * name(s) to that channel's mailbox. Only channels this process opened get a
 * mailbox, and each buffers at most its capacity (oldest dropped), so a socket
 * that stopped reading cannot grow memory without bound.
 */
interface Entry {
  message: Message;
  /** Epoch seconds after which the message must not be delivered (layer expiry). */
  deadline: number;
}

export class LocalChannels {
  private readonly mailboxes = new Map<string, Mailbox<Entry>>();
  private closed = false;

  constructor(
    private readonly capacityOf: (channel: string) => number,
    private readonly expiry: number,
    private readonly stats: LayerStats,
    private readonly logger: Logger,
  ) {}

  open(channel: string): Mailbox<Entry> {
    let mailbox = this.mailboxes.get(channel);
    if (!mailbox) {
      mailbox = new Mailbox(channel, this.capacityOf(channel));
      this.mailboxes.set(channel, mailbox);
    }
    return mailbox;
  }

  release(channel: string): void {
    const mailbox = this.mailboxes.get(channel);
    if (!mailbox) return;
    this.mailboxes.delete(channel);
    mailbox.failWaiters(new ReceiveAborted(channel));
  }

  async receive(channel: string, options?: ReceiveOptions): Promise<Message> {
    if (this.closed) throw new LayerClosed();
    const mailbox = this.open(channel);
    for (;;) {
      const entry = await mailbox.take(options?.signal);
      // Buffered too long (its reader fell behind): expired like any stored message.
      if (entry.deadline >= Date.now() / 1000) return entry.message;
    }
  }

  /**
   * Routes one message, sent at `score` (epoch seconds), to each named channel that
   * this process has open. All of them get the same object: treat it as read-only.
   */
  deliver(channels: string | readonly string[], message: Message, score: number): void {
    const entry: Entry = { message, deadline: score + this.expiry };
    if (typeof channels === 'string') {
      this.deliverOne(channels, entry);
      return;
    }
    for (const channel of channels) this.deliverOne(channel, entry);
  }

  get size(): number {
    return this.mailboxes.size;
  }

  /** Ends every pending receive and returns what was buffered, per channel. */
  close(): Map<string, Message[]> {
    this.closed = true;
    const undelivered = new Map<string, Message[]>();
    for (const [channel, mailbox] of this.mailboxes) {
      mailbox.failWaiters(new LayerClosed());
      const items = mailbox.drainItems();
      if (items.length > 0)
        undelivered.set(
          channel,
          items.map((entry) => entry.message),
        );
    }
    this.mailboxes.clear();
    return undelivered;
  }

  private deliverOne(channel: string, entry: Entry): void {
    const mailbox = this.mailboxes.get(channel);
    if (!mailbox) {
      this.logger.debug({ channel }, 'message for a released or unknown local channel dropped');
      return;
    }
    const dropped = mailbox.put(entry);
    if (dropped > 0) {
      this.stats.bufferDrops += dropped;
      this.logger.warn(
        { channel, dropped, capacity: this.capacityOf(channel) },
        'local channel buffer full: its reader is not keeping up; oldest message dropped',
      );
    }
  }
}
