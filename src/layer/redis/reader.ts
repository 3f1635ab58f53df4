import { ReplyError, type Redis } from 'ioredis';
import { setTimeout as delay } from 'node:timers/promises';
import { before } from '../../deadline.js';
import { briefError, BurstLogger, type Logger } from '../../logger.js';
import { LayerUnavailable } from '../errors.js';
import type { RedisHost } from './host.js';
import { lacking, permissionRefusal } from './refusals.js';
import { RESTORE_INFLIGHT, RESTORE_STRANDED } from './scripts.js';

/** One popped sorted-set member: the stored bytes and the score (send time). */
export interface Popped {
  payload: Buffer;
  score: number;
}

export interface ReaderSink {
  /** How many messages to pop next; 0 stops the reader after its current read. */
  wanted(): number;
  /** Takes what one read popped, oldest first. */
  accept(popped: Popped[], reader: KeyReader): void;
}

/** Upper bound on messages popped by one read; keeps one reply small. */
const MAX_BATCH = 100;
/** How long stop() waits for the read it ended to come back with what it popped. */
const LAST_READ_WAIT_MS = 500;
/**
 * How long a read waits, in seconds, while the reader is refused for lack of
 * permission: one that ends (empty or not) tells that reading is allowed
 * again, where a read blocked until a message comes would not say so until one
 * came, and the host would stay not ready meanwhile.
 */
const REFUSED_READ_WAIT = '0.1';
/** How often a reader whose connection ended looks again whether it was restarted. */
const RESTART_CHECK_MS = 1000;
/**
 * The one blocking read of one key on one host. It blocks without a timeout
 * (an idle reader costs no commands), pops up to `sink.wanted()` messages per
 * read (BZMPOP; BZPOPMIN on servers older than 7), survives a server restart by
 * reissuing the read, and can be stopped without losing what it already popped.
 */
export class KeyReader {
  private client: Redis | undefined;
  private clientId: number | undefined;
  private loop: Promise<void> | undefined;
  private blocked = false;
  private stopping = false;
  private static bzmpop = true;

  constructor(
    readonly host: RedisHost,
    readonly key: string,
    private readonly sink: ReaderSink,
    private readonly logger: Logger,
    /**
     * Look for messages stranded in `<key>$inflight` while reading, not only
     * when the reader starts: on a key other processes read too (a plain
     * channel), a channels_redis receiver that dies mid-handover leaves its
     * message there at any time. Not everything there before every read, as
     * channels_redis's own receivers put back: what a live receiver is handing
     * over sits there too, for a moment, and would be delivered twice (238
     * times in 3000 messages, with one Python and one Gredis receiver).
     * Only what two looks at least `inflightLookMs` ms apart found is put back
     * (RESTORE_STRANDED), on the command connection, at most one look per
     * interval: nothing on the read's own path (LayerOptions.inflightLook: a
     * stranded message is put back 5 to 10 s after it was left there, by
     * default, while reads go on). Undefined: no looks while reading.
     */
    private readonly inflightLookMs: number | undefined = undefined,
  ) {}

  /** Members of `<key>$inflight` at the last look, and when it was. */
  private inflightSeen: Buffer[] = [];
  private inflightLookedAt = 0;

  get running(): boolean {
    return this.loop !== undefined;
  }

  /** Starts reading unless already reading; cheap to call on every receive. */
  start(): void {
    if (this.loop || this.stopping) return;
    this.loop = this.run().finally(() => {
      this.loop = undefined;
    });
  }

  /**
   * Ends the blocked read (CLIENT UNBLOCK from the command connection) and waits
   * for it, so a message the server popped reaches the sink rather than vanishing
   * with the connection. Returns by `deadline` (performance.now()) at the
   * latest: a server that stopped answering with its connections left open
   * would never answer the UNBLOCK, nor end the read; the read's connection is
   * then closed under it.
   */
  async stop(deadline: number): Promise<void> {
    this.stopping = true;
    const loop = this.loop;
    if (loop) {
      for (let attempt = 0; attempt < 10 && this.loop && performance.now() < deadline; attempt++) {
        const id = this.clientId;
        if (this.blocked && id !== undefined && this.host.status === 'ready') {
          // undefined: the call failed, or no answer came in time.
          const unblock = this.host.call((c) => c.client('UNBLOCK', id)).catch(() => undefined);
          const unblocked = (await before(deadline, unblock)) ? await unblock : undefined;
          if (unblocked !== 0) break;
        } else if (this.host.status !== 'ready') break;
        // Not blocked yet (the read is in flight) or its reply is on the way: give it a moment.
        await Promise.race([loop, delay(20)]);
      }
      await before(Math.min(deadline, performance.now() + LAST_READ_WAIT_MS), loop);
    }
    if (this.client) this.host.releaseBlockingClient(this.client);
    this.client = undefined;
    this.host.refusals.allowed(this); // a reader let go no longer needs the permission
  }

  private async run(): Promise<void> {
    const client = (this.client ??= this.openClient());
    let failures = 0;
    while (!this.stopping) {
      const count = Math.min(this.sink.wanted(), MAX_BATCH);
      if (count <= 0) return;
      try {
        if (this.clientId === undefined) {
          this.clientId = (await client.client('ID')) as number;
          await this.host.eval(RESTORE_INFLIGHT, [this.key, `${this.key}$inflight`], []);
          this.inflightLookedAt = performance.now();
        } else if (
          this.inflightLookMs !== undefined &&
          performance.now() - this.inflightLookedAt >= this.inflightLookMs
        ) {
          this.inflightLookedAt = performance.now();
          void this.restoreStranded();
        }
        this.blocked = true;
        const refused = this.host.refusals.workOf(this) !== undefined;
        const popped = await this.pop(client, count, refused ? REFUSED_READ_WAIT : '0');
        this.blocked = false;
        failures = 0;
        if (this.host.refusals.allowed(this)) {
          this.logger.warn(
            { key: this.key, host: this.host.label },
            "the channel layer's Redis user may read again",
          );
        }
        if (popped.length > 0) this.sink.accept(popped, this);
      } catch (error) {
        this.blocked = false;
        this.clientId = undefined;
        if (this.stopping || this.host.misconfigured) return;
        // Refused by the server, out of memory included (a LayerUnavailable
        // whose cause is Redis's reply), rather than a connection lost.
        const refusal = error instanceof LayerUnavailable ? error.cause : error;
        const denied = permissionRefusal(error);
        if (denied || refusal instanceof ReplyError) {
          // A server-side error (e.g. the key holds another type, or no memory for
          // putting back "$inflight") would repeat at once: back off so it cannot
          // spin the CPU.
          failures++;
          if (denied) {
            this.deniedRead(denied);
          } else {
            // Once per burst: a key of another type repeats.
            BurstLogger.for(this.logger).warn(
              { key: this.key, host: this.host.label, ...briefError(error) },
              'blocking read failed',
            );
          }
          await delay(Math.min(100 * 2 ** failures, 5000));
        }
        // A connection error needs no delay: the next command waits in ioredis's
        // offline queue until the server is back. Not on a connection ioredis
        // ended, where it fails at once: this loop would spin, starving the event
        // loop, and the restart (RedisHost.connect) with it.
        if (client.status === 'end') await restarted(client);
      }
    }
  }

  /**
   * A read (or the put-back before it) refused for lack of permission: the
   * process cannot receive what is sent to this key, so its host is not ready
   * (RedisHost.refusals) until a read is allowed. Said once, naming what the
   * user lacks, rather than once per burst of retries as another failure is.
   */
  private deniedRead(refusal: Error): void {
    if (!this.host.refusals.refused(this, refusal, [this.key])) return;
    this.logger.warn(
      { key: this.key, host: this.host.label, reason: refusal.message },
      `the channel layer's Redis user lacks ${lacking(refusal, this.key)} to read ${this.key} (${refusal.message}): not ready until it has it; retrying`,
    );
  }

  /** One look for stranded messages (see inflightLookMs); a failed look is the next one's to do. */
  private async restoreStranded(): Promise<void> {
    try {
      this.inflightSeen = (await this.host.evalBuffer(
        RESTORE_STRANDED,
        [this.key, `${this.key}$inflight`],
        this.inflightSeen,
      )) as Buffer[];
    } catch (error) {
      this.logger.debug({ key: this.key, err: error }, 'look for stranded messages failed');
    }
  }

  /** Pops up to `count` messages, waiting `timeout` seconds at most ('0': until one comes). */
  private async pop(client: Redis, count: number, timeout: string): Promise<Popped[]> {
    if (KeyReader.bzmpop) {
      try {
        const reply = (await client.callBuffer(
          'BZMPOP',
          timeout,
          '1',
          this.key,
          'MIN',
          'COUNT',
          String(count),
        )) as [Buffer, [Buffer, Buffer][]] | null;
        if (!reply) return [];
        return reply[1].map(([payload, score]) => ({ payload, score: Number(score.toString()) }));
      } catch (error) {
        if (!(error instanceof ReplyError) || !/unknown command/i.test((error as Error).message))
          throw error;
        KeyReader.bzmpop = false;
      }
    }
    const reply = (await client.callBuffer('BZPOPMIN', this.key, timeout)) as
      [Buffer, Buffer, Buffer] | null;
    if (!reply) return [];
    return [{ payload: reply[1], score: Number(reply[2].toString()) }];
  }

  private openClient(): Redis {
    const client = this.host.blockingClient(`gredis-reader`);
    // A reconnect gives the connection a new id; fetch it again before the next read.
    client.on('close', () => {
      this.clientId = undefined;
    });
    return client;
  }
}

/**
 * Resolves once `client` (ended) starts connecting again, or after a second, to
 * look again. Never rejects, as events.once would on an 'error' first: a
 * Sentinel connection restarted when its search had reached the last Sentinel
 * emits one ("All sentinels are unreachable. Retrying from scratch") before
 * 'connecting', and the reader's loop then ended with an unhandled rejection,
 * which ends the process.
 */
function restarted(client: Redis): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      client.off('connecting', done);
      resolve();
    };
    const timer = setTimeout(done, RESTART_CHECK_MS);
    client.once('connecting', done);
  });
}
