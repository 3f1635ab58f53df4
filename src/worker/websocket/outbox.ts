import type { LaneEffect, Message } from '../../layer/types.js';

/** Applies effects ahead of the turn's finish: Lanes.apply for the turn being run. */
export type ApplyEffects = (effects: readonly LaneEffect[]) => Promise<void>;

/**
 * The effects of one handler, in the order they were asked for, without making
 * the handler await each one. They are applied when the turn finishes, with the
 * finish (`take`), or earlier when the handler flushes (`drain`).
 */
export class Outbox {
  private pending: LaneEffect[] = [];

  constructor(private readonly apply: ApplyEffects) {}

  send(channel: string, message: Message): void {
    this.pending.push({ kind: 'send', channel, message });
  }

  groupAdd(group: string, channel: string): void {
    this.pending.push({ kind: 'groupAdd', group, channel });
  }

  groupDiscard(group: string, channel: string): void {
    this.pending.push({ kind: 'groupDiscard', group, channel });
  }

  groupSend(group: string, message: Message): void {
    this.pending.push({ kind: 'groupSend', group, message });
  }

  /**
   * Applies everything queued so far, in order (on one Redis server, at once);
   * rejects with the first failure, and the effects queued after it in this
   * batch are dropped.
   */
  drain(): Promise<void> {
    return this.apply(this.take());
  }

  /** What is queued and not applied yet, for the turn's finish to carry. */
  take(): LaneEffect[] {
    const effects = this.pending;
    this.pending = [];
    return effects;
  }
}
