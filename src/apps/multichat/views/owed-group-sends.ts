/**
 * What this process could not send to chat socket groups after a change
 * committed (the layer away, refusing or full), sent again until the layer
 * takes it: a close (a user's or session's login ended, a room made
 * staff-only), or a deleted room's `leave`. Without it a socket that only
 * receives goes on receiving what it should no longer get until its groups
 * expire (hours), unless someone saves the user or room again, a logout's close
 * is never sent at all, and a deleted room's pane stays open on every page.
 *
 * One message is owed per group, the latest change's: each is idempotent (a
 * socket closed, or a pane gone, stays so), so sending it again is safe, and a
 * second failure replaces the first rather than adding to it (a room's leave
 * replaces its close: the room is gone). A timer is armed only while something is
 * owed: a process that owes nothing issues no command and arms no timer for it.
 * The layer's readiness (whenReady) cuts a wait short once a host that was away
 * is back; a refusal or a full layer has no such signal, so the backoff alone
 * covers those. What a process still owes when it dies is lost: an admin's
 * session remembers its own (after-change-close.ts), and a socket's next
 * command finds its session or access over.
 */
import type { CloseSender } from '../../../auth/socket-groups.js';
import type { roomDeletedFrame } from '../chat-protocol.js';
import { before } from '../../../deadline.js';
import { isTransientLayerError } from '../../../layer/errors.js';
import { layerHostAway, RetryBackoff } from '../../../layer/retry-backoff.js';
import type { ChannelLayer } from '../../../layer/types.js';
import type { Logger } from '../../../logger.js';

/** What is owed to a group: a close, or a deleted room's leave. */
export type OwedMessage = { close: number } | ReturnType<typeof roomDeletedFrame>;

/** Most messages owed at once: a longer outage with more changes than this drops the newest. */
const LIMIT = 5000;

/** What the retries need of the layer. */
type Layer = Pick<ChannelLayer, 'groupSend' | 'health' | 'whenReady'>;

interface Owed {
  message: OwedMessage;
  /** When the first message still owed to this group failed (Date.now()). */
  since: number;
}

export class OwedGroupSends implements CloseSender {
  private readonly owed = new Map<string, Owed>();
  private readonly backoff = new RetryBackoff();
  private timer: NodeJS.Timeout | undefined;
  private retrying: Promise<void> | undefined;
  /** A whenReady is pending: one at a time, as each adds a listener until the host is back. */
  private awaitingLayer = false;
  /** The bound dropped a message since nothing was owed: said once. */
  private dropSaid = false;
  private closed = false;

  constructor(
    private readonly layer: Layer,
    private readonly logger: Logger,
  ) {}

  /**
   * Group-sends `message`. Sent, it settles whatever was owed to the group (its
   * sockets have the latest word now). Not taken by the layer for a reason that
   * passes (isTransientLayerError), it is owed, sent again until taken, and the
   * error is thrown all the same: the caller says it failed.
   */
  async groupSend(group: string, message: OwedMessage): Promise<number> {
    let skipped: number;
    try {
      skipped = await this.layer.groupSend(group, message);
    } catch (error) {
      if (isTransientLayerError(error)) this.owe(group, message);
      throw error;
    }
    this.owed.delete(group);
    return skipped;
  }

  /**
   * A stopping process's last try (until `deadline`, performance.now()), after
   * which it logs how many messages it still owes, if any: they are lost with it.
   */
  async close(deadline: number): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.owed.size > 0 && deadline > performance.now()) {
      const sending = this.retrying ?? Promise.resolve();
      await before(
        deadline,
        sending.then(() => this.sendOwed()),
      );
    }
    if (this.owed.size > 0)
      this.logger.warn(
        { owed: this.owed.size },
        `stopping with ${this.owed.size} chat socket message(s) the channel layer did not take (closes, deleted rooms' leaves); each socket is closed, or finds its room gone, at its next command`,
      );
  }

  private owe(group: string, message: OwedMessage): void {
    const earlier = this.owed.get(group);
    if (earlier) earlier.message = message;
    else if (this.owed.size < LIMIT) this.owed.set(group, { message, since: Date.now() });
    else if (!this.dropSaid) {
      this.dropSaid = true;
      this.logger.warn(
        { group, limit: LIMIT },
        `${LIMIT} chat socket messages owed already: this one and those after it are not sent again until some are`,
      );
    }
    this.arm();
  }

  /** Retries after the current delay, or as soon as a layer host that was away is back. */
  private arm(): void {
    if (this.closed || this.timer || this.retrying || this.owed.size === 0) return;
    const delay = this.backoff.next();
    this.timer = setTimeout(() => this.retryNow(), delay);
    // The process's own connections keep it alive: this alone must not.
    this.timer.unref();
    const away = layerHostAway(this.layer);
    this.logger.debug(
      { owed: this.owed.size, retryMs: delay, hostAway: away },
      `owing ${this.owed.size} chat socket message(s): trying again in ${delay / 1000} s${away ? ', or once the layer host is back' : ''}`,
    );
    if (away && !this.awaitingLayer) {
      this.awaitingLayer = true;
      void this.layer.whenReady().then(() => {
        this.awaitingLayer = false;
        if (this.timer) this.retryNow();
      });
    }
  }

  private retryNow(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.closed || this.retrying) return;
    this.retrying = this.sendOwed().finally(() => {
      this.retrying = undefined;
      if (this.owed.size === 0) {
        this.backoff.reset();
        this.dropSaid = false;
      } else this.arm();
    });
  }

  /**
   * Sends what is owed: the oldest first, alone (while the layer is still away
   * that is all a retry costs it), then the rest together. Logs what was sent
   * in one line.
   */
  private async sendOwed(): Promise<void> {
    const [first, ...rest] = [...this.owed];
    if (!first || !(await this.resend(...first))) return;
    const others = await Promise.all(
      rest.map(async (entry) => ((await this.resend(...entry)) ? entry : undefined)),
    );
    const sent = [first, ...others.filter((entry) => entry !== undefined)];
    const since = new Date(Math.min(...sent.map(([, owed]) => owed.since))).toISOString();
    const what =
      sent.length === 1 ? 'the chat socket message' : `the ${sent.length} chat socket messages`;
    this.logger.info({ sent: sent.length, owedSince: since }, `sent ${what} owed since ${since}`);
  }

  /** True once sent; false when still not taken. A bug is logged, and not sent again. */
  private async resend(group: string, owed: Owed): Promise<boolean> {
    const message = owed.message;
    try {
      await this.layer.groupSend(group, message);
    } catch (error) {
      if (isTransientLayerError(error)) return false;
      this.logger.error(
        { err: error, group, message },
        'could not send an owed chat socket message',
      );
      if (this.owed.get(group) === owed) this.owed.delete(group);
      return false;
    }
    // Unless a later change owes the group another message since.
    if (this.owed.get(group) === owed && owed.message === message) this.owed.delete(group);
    return true;
  }
}
