/**
 * The closes of chat sockets that this process could not send after a change
 * committed (the layer away, refusing or full), sent again until the layer
 * takes them. Without it a socket that only receives goes on receiving what it
 * should no longer get until its groups expire (hours), unless someone saves the
 * user or room again, and a logout's close is never sent at all.
 *
 * One close is owed per group, the latest change's: a group send of a close is
 * idempotent, so sending it again is safe, and a second failure of it replaces
 * the first rather than adding to it. A timer is armed only while something is
 * owed: a process that owes nothing issues no command and arms no timer for it.
 * The layer's readiness (whenReady) cuts a wait short once a host that was away
 * is back; a refusal or a full layer has no such signal, so the backoff alone
 * covers those. What a process still owes when it dies is lost: an admin's
 * session remembers its own (after-change-close.ts), and a socket's next
 * command finds its session or access over.
 */
import type { CloseSender } from '../../../auth/socket-groups.js';
import { before } from '../../../deadline.js';
import { isTransientLayerError } from '../../../layer/errors.js';
import type { ChannelLayer } from '../../../layer/types.js';
import type { Logger } from '../../../logger.js';

/** Most closes owed at once: a longer outage with more changes than this drops the newest. */
const LIMIT = 5000;
/** The first retry's delay, doubled at each failed one up to MAX_RETRY_MS. */
const FIRST_RETRY_MS = 500;
const MAX_RETRY_MS = 30_000;

/** What the retries need of the layer. */
type Layer = Pick<ChannelLayer, 'groupSend' | 'health' | 'whenReady'>;

interface Owed {
  code: number;
  /** When the first close still owed to this group failed (Date.now()). */
  since: number;
}

export class OwedCloses implements CloseSender {
  private readonly owed = new Map<string, Owed>();
  private delayMs = FIRST_RETRY_MS;
  private timer: NodeJS.Timeout | undefined;
  private retrying: Promise<void> | undefined;
  /** A whenReady is pending: one at a time, as each adds a listener until the host is back. */
  private awaitingLayer = false;
  /** The bound dropped a close since nothing was owed: said once. */
  private dropSaid = false;
  private closed = false;

  constructor(
    private readonly layer: Layer,
    private readonly logger: Logger,
  ) {}

  /**
   * Group-sends `message` (a close). Sent, it settles whatever close was owed
   * to the group (its sockets are closed now). Not taken by the layer for a
   * reason that passes (isTransientLayerError), it is owed, sent again until
   * taken, and the error is thrown all the same: the caller says it failed.
   */
  async groupSend(group: string, message: { close: number }): Promise<number> {
    let skipped: number;
    try {
      skipped = await this.layer.groupSend(group, message);
    } catch (error) {
      if (isTransientLayerError(error)) this.owe(group, message.close);
      throw error;
    }
    this.owed.delete(group);
    return skipped;
  }

  /**
   * A stopping process's last try (until `deadline`, performance.now()), after
   * which it logs how many closes it still owes, if any: they are lost with it.
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
        `stopping with ${this.owed.size} chat socket close(s) the channel layer did not take; each socket is closed at its next command`,
      );
  }

  private owe(group: string, code: number): void {
    const earlier = this.owed.get(group);
    if (earlier) earlier.code = code;
    else if (this.owed.size < LIMIT) this.owed.set(group, { code, since: Date.now() });
    else if (!this.dropSaid) {
      this.dropSaid = true;
      this.logger.warn(
        { group, limit: LIMIT },
        `${LIMIT} chat socket closes owed already: this one and those after it are not sent again until some are`,
      );
    }
    this.arm();
  }

  /** Retries after the current delay, or as soon as a layer host that was away is back. */
  private arm(): void {
    if (this.closed || this.timer || this.retrying || this.owed.size === 0) return;
    const delay = this.delayMs;
    this.delayMs = Math.min(delay * 2, MAX_RETRY_MS);
    this.timer = setTimeout(() => this.retryNow(), delay);
    // The process's own connections keep it alive: this alone must not.
    this.timer.unref();
    // whenReady resolves at once while every host is connected (a refusal, a
    // full layer): only a host away makes it a signal worth waiting for.
    const away = this.layer
      .health()
      .hosts.some((host) => host.status === 'down' || host.status === 'connecting');
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
        this.delayMs = FIRST_RETRY_MS;
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
      sent.length === 1 ? 'the chat socket close' : `the ${sent.length} chat socket closes`;
    this.logger.info({ sent: sent.length, owedSince: since }, `sent ${what} owed since ${since}`);
  }

  /** True once sent; false when still not taken. A bug is logged, and not sent again. */
  private async resend(group: string, owed: Owed): Promise<boolean> {
    const code = owed.code;
    try {
      await this.layer.groupSend(group, { close: code });
    } catch (error) {
      if (isTransientLayerError(error)) return false;
      this.logger.error({ err: error, group, code }, 'could not send an owed chat socket close');
      if (this.owed.get(group) === owed) this.owed.delete(group);
      return false;
    }
    // Unless a later change owes the group another close since.
    if (this.owed.get(group) === owed && owed.code === code) this.owed.delete(group);
    return true;
  }
}
