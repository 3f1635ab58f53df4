import type { Logger } from '../logger.js';
import { LayerClosed, ReceiveAborted } from './errors.js';
import { Mailbox } from './mailbox.js';
import type { LayerStats, Message, ReceiveOptions } from './types.js';

interface Entry {
  message: Message;
  /** Epoch seconds after which the message must not be delivered (layer expiry). */
  deadline: number;
}

/** Takes every message of a channel as it arrives (see ChannelLayer.listen). */
export type Listener = (message: Message) => void;

/**
 * The demultiplexer for this process's process-specific channels. One reader per
 * process key hands every message here; this routes it by its stamped channel
 * name(s) to that channel's listener, or to its mailbox for `receive`. Only
 * channels this process opened get either, and a mailbox buffers at most its
 * capacity (oldest dropped), so a socket that stopped reading cannot grow memory
 * without bound.
 */
export class LocalChannels {
  private readonly mailboxes = new Map<string, Mailbox<Entry>>();
  private readonly listeners = new Map<string, Listener>();
  private closed = false;

  constructor(
    private readonly capacityOf: (channel: string) => number,
    /** The layer's clock, epoch seconds: the one its scores are on. */
    private readonly now: () => number,
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

  /**
   * From now on, hands each message for `channel` to `listener` synchronously, in
   * order; what was buffered for it goes first.
   */
  listen(channel: string, listener: Listener): void {
    const mailbox = this.mailboxes.get(channel);
    this.mailboxes.delete(channel);
    this.listeners.set(channel, listener);
    if (!mailbox) return;
    const now = this.now();
    for (const entry of mailbox.drainItems())
      if (entry.deadline >= now) this.call(channel, listener, entry.message);
  }

  release(channel: string): void {
    this.listeners.delete(channel);
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
      if (entry.deadline >= this.now()) return entry.message;
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
    return this.mailboxes.size + this.listeners.size;
  }

  /** Ends every pending receive and returns what was buffered, per channel. */
  close(): Map<string, Message[]> {
    this.closed = true;
    this.listeners.clear();
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
    const listener = this.listeners.get(channel);
    if (listener) {
      this.call(channel, listener, entry.message);
      return;
    }
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

  private call(channel: string, listener: Listener, message: Message): void {
    try {
      listener(message);
    } catch (error) {
      this.logger.error({ err: error, channel }, 'a channel listener failed');
    }
  }
}
