import type { ChannelLayer, Message } from '../../layer/types.js';

/**
 * The effects of one handler, applied strictly in the order they were asked for
 * (a group send then a direct send reach the layer in that order) without making
 * the handler await each one. The first failure stops the rest and is reported
 * by `drain`.
 */
export class Outbox {
  private tail: Promise<void> = Promise.resolve();
  private failure: unknown;

  constructor(private readonly layer: ChannelLayer) {}

  send(channel: string, message: Message): void {
    this.then(() => this.layer.send(channel, message));
  }

  groupAdd(group: string, channel: string): void {
    this.then(() => this.layer.groupAdd(group, channel));
  }

  groupDiscard(group: string, channel: string): void {
    this.then(() => this.layer.groupDiscard(group, channel));
  }

  groupSend(group: string, message: Message): void {
    this.then(async () => {
      await this.layer.groupSend(group, message);
    });
  }

  /** Resolves when everything queued so far is done; rejects with the first failure. */
  async drain(): Promise<void> {
    await this.tail;
    if (this.failure !== undefined) throw this.failure;
  }

  private then(step: () => Promise<void>): void {
    this.tail = this.tail.then(async () => {
      if (this.failure !== undefined) return;
      try {
        await step();
      } catch (error) {
        this.failure = error;
      }
    });
  }
}
