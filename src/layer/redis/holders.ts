import { BurstLogger, type Logger } from '../../logger.js';
import { warnLayerFailure } from '../errors.js';
import type { Message } from '../types.js';
import { literalPattern, type Command, type RedisHost } from './host.js';
import { DELETE_IF_EQUAL, LANE_REAP } from './lane-scripts.js';

const REAP_SCAN_BATCH = 1000;

/** What a layer's command connection is named (CLIENT SETNAME): liveness is read from it. */
const CONNECTION_NAME_PREFIX = 'gredis-layer:';

export function connectionNameOf(owner: string): string {
  return `${CONNECTION_NAME_PREFIX}${owner}`;
}

export interface HoldersConfig {
  prefix: string;
  /** This process's client prefix. */
  owner: string;
  /**
   * Seconds a holder must have been missing, at two checks in a row, to be taken
   * for dead, however often the checks run (LayerOptions.laneHolderMissing).
   */
  holderMissing: number;
  /** Seconds a holder's mark lasts (the lanes' bookkeeping TTL). */
  ttl: number;
  /** What a lane's key is its name prefixed with. */
  laneKeyPrefix: string;
  /** The layer's clock, epoch seconds (see ServerClock). */
  now: () => number;
}

/** What reaping needs of the lanes. */
export interface LaneAccess {
  /** Lanes.announce: parks `event` as the lane's `order`. */
  announce(lane: string, order: number, event: Message): Promise<void>;
  /** Runs this process's rescue soon: parked last events are run from there. */
  rescueSoon(): void;
  /** This process, back on `host`, learned it was taken for dead there. */
  reaped(host: string): void;
}

/**
 * Lane holders: a process that announces the first event of a lane (order 0),
 * an interface server for a socket, is its holder, and registers once per host
 * in the set "<prefix>gredis:holders". Its lanes are found by name (each is
 * named after a channel of the holder, which ends ".<client prefix>!…"), so
 * holding costs nothing per lane.
 *
 * A process that reaps (a worker: Lanes.reapOrphans) checks, two commands per
 * host, which holders are still connected (CLIENT LIST names), and ends the
 * open lanes of those gone: each gets its last event, parked after what it
 * holds, which its rescue runs. It checks at start, then every so often while
 * it is busy (it claimed a turn since the last check) or has something to
 * finish (a holder seen missing once, a reap under way): an idle process issues
 * no commands (layer.md). A dead holder's sockets matter only once someone acts
 * (a group send would still count them; their users' pages reconnect
 * elsewhere), and acting is what brings the next check.
 */
export class LaneHolders {
  /** Hosts where this process is registered as a holder. */
  private readonly holding = new Set<RedisHost>();
  private orphanCheck:
    { lastEvent: (lane: string, order: number) => Message; every: number } | undefined;
  private timer: NodeJS.Timeout | undefined;
  /** Whether a turn was claimed since the last check began. */
  private busy = false;
  /** Per host, holders missing at the last check, and since when (ms). */
  private readonly missing = new Map<RedisHost, Map<string, number>>();
  private closed = false;

  constructor(
    private readonly hosts: readonly RedisHost[],
    private readonly config: HoldersConfig,
    private readonly logger: Logger,
    private readonly lanes: LaneAccess,
  ) {
    for (const host of hosts) {
      let connections = 0;
      host.client.on('ready', () => {
        if (++connections > 1) void this.checkReaped(host);
      });
    }
  }

  /** This process holds a lane on `host`: registers it there, once. */
  hold(host: RedisHost): void {
    if (this.holding.has(host)) return;
    this.holding.add(host);
    const name = connectionNameOf(this.config.owner);
    const register: Command = ['sadd', this.holdersKey(), this.config.owner];
    host
      .call(async (c) => {
        const replies = await c
          .pipeline()
          .client('GETNAME')
          .call(...register)
          .exec();
        // Thrown in the call, which tells a server away or out of memory (a
        // one-line warning) from a bug (its stack). The name is only looked
        // at: a GETNAME refused says "not named", as a missing name does.
        const [named, added] = replies ?? [];
        if (!added || added[0]) {
          const failure = added?.[0] ?? new Error('no reply');
          host.noteRefused([register], failure);
          throw failure;
        }
        return named;
      })
      .then(async (named) => {
        if (!named?.[0] && named?.[1] === name) return;
        // Reapers judge a holder alive by this name in CLIENT LIST. Without it
        // (CLIENT SETNAME refused by an ACL or a proxy: ioredis ignores that),
        // this live process would be taken for dead and its sockets ended.
        await host.command('srem', this.holdersKey(), this.config.owner);
        BurstLogger.for(this.logger).warn(
          { host: host.label, name: named?.[1] ?? null },
          'this connection is not named in CLIENT LIST (CLIENT SETNAME refused?): not registered as a holder of lanes, so its sockets are not ended should it die',
        );
      })
      .catch((error: unknown) => {
        this.holding.delete(host); // the next first event tries again
        warnLayerFailure(
          this.logger,
          error,
          { host: host.label },
          'could not register as a holder of lanes; retrying at the next socket',
        );
      });
  }

  /** Lanes.release. */
  async release(): Promise<void> {
    const hosts = [...this.holding];
    this.holding.clear();
    await Promise.all(
      hosts.map((host) => host.command('srem', this.holdersKey(), this.config.owner)),
    );
  }

  /** Lanes.reapOrphans. */
  reapOrphans(lastEvent: (lane: string, order: number) => Message, everySeconds: number): void {
    this.orphanCheck = { lastEvent, every: everySeconds };
    this.arm(0);
  }

  /** A turn was claimed here: while that goes on, checks go on (see the class). */
  noteClaim(): void {
    this.busy = true;
    if (!this.timer && this.orphanCheck) this.arm(this.orphanCheck.every);
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
  }

  /**
   * At a reconnection (not the first connection): a holder cut off from `host`
   * long enough was taken for dead, and its lanes there were ended. Its sockets
   * must start over, as after a loss of the host's data.
   */
  private async checkReaped(host: RedisHost): Promise<void> {
    if (!this.holding.has(host)) return;
    // Registered again below (the set may be gone with the host's data) or,
    // if reaped, by the sockets that start over.
    this.holding.delete(host);
    let reaped: string | null;
    try {
      reaped = await host.command<string | null>('getdel', this.reapedKey(this.config.owner));
    } catch (error) {
      warnLayerFailure(
        this.logger,
        error,
        { host: host.label },
        'could not check whether this process was taken for dead',
      );
      return;
    }
    if (reaped === null) {
      this.hold(host);
      return;
    }
    this.logger.warn(
      { host: host.label },
      'this process was cut off from the channel layer host long enough to be taken for dead: its sockets there were ended',
    );
    this.lanes.reaped(host.label);
  }

  private arm(delaySeconds: number): void {
    if (this.closed || !this.orphanCheck) return;
    this.timer = setTimeout(() => {
      this.busy = false;
      void this.check().finally(() => {
        this.timer = undefined;
        if (this.busy || this.unfinished()) this.arm(this.orphanCheck!.every);
      });
    }, delaySeconds * 1000);
    this.timer.unref();
  }

  /** Holders missing at the last check: to be confirmed gone, or their reap finished. */
  private unfinished(): boolean {
    for (const holders of this.missing.values()) if (holders.size > 0) return true;
    return false;
  }

  private async check(): Promise<void> {
    for (const host of this.hosts) {
      try {
        await this.checkOn(host);
      } catch (error) {
        warnLayerFailure(
          this.logger,
          error,
          { host: host.label },
          'the check for lanes of dead holders failed; retrying at the next',
        );
      }
    }
  }

  private async checkOn(host: RedisHost): Promise<void> {
    const holders = (await host.command<string[]>('smembers', this.holdersKey())).filter(
      (holder) => holder !== this.config.owner,
    );
    const missingBefore = this.missing.get(host) ?? new Map<string, number>();
    this.missing.delete(host);
    if (holders.length === 0) return;
    const live = await liveOwners(host);
    if (live === undefined) return;
    const missingNow = new Map<string, number>();
    for (const holder of holders) {
      if (!live.has(holder)) missingNow.set(holder, missingBefore.get(holder) ?? Date.now());
    }
    this.missing.set(host, missingNow);
    for (const [holder, since] of missingNow) {
      if (!missingBefore.has(holder) || Date.now() - since < this.config.holderMissing * 1000)
        continue;
      if (await this.reap(host, holder, live)) missingNow.delete(holder);
    }
  }

  /**
   * Ends the open lanes of a holder found dead: each gets its last event, parked
   * after what it holds, and this process's rescue runs it. Returns whether the
   * holder has nothing left to end (it is then forgotten).
   *
   * The mark comes first and names its reaper: one process reaps a holder at a
   * time (another takes over only if that one is gone too), and a holder that
   * reconnects from then on finds it (checkReaped). Liveness is looked at once
   * more after it: a holder that reconnected in between is left alone. And each
   * batch of lanes is ended only while the mark is still there: a holder that
   * came back and took it is starting its sockets over, and its new lanes,
   * named like the old ones, must be left alone.
   */
  private async reap(host: RedisHost, holder: string, live: Set<string>): Promise<boolean> {
    const mark = this.reapedKey(holder);
    const owner = this.config.owner;
    const markedNow = await host.command('set', mark, owner, 'EX', this.config.ttl, 'NX');
    if (!markedNow) {
      const reaper = await host.command<string | null>('get', mark);
      if (reaper !== null && reaper !== owner && live.has(reaper)) return false;
      // Taken over only while it is there: one the holder took meanwhile (it is
      // back) must not be set again, to restart its sockets at its next reconnection.
      const taken = await host.command('set', mark, owner, 'EX', this.config.ttl, 'XX');
      if (!taken) return false;
    }
    const liveNow = await liveOwners(host);
    if (liveNow === undefined || liveNow.has(holder)) {
      if (markedNow) await host.eval(DELETE_IF_EQUAL, [mark], [owner]);
      return false;
    }
    const keyPrefix = this.config.laneKeyPrefix;
    let ended = 0;
    let waiting = 0;
    await host.scanKeys(
      `${literalPattern(keyPrefix)}*.${holder}!*`,
      REAP_SCAN_BATCH,
      async (keys) => {
        const [planned, left] = (await host.eval(
          LANE_REAP,
          [mark, ...keys],
          [owner, this.config.now(), [...liveNow].join(',')],
        )) as [number[], number];
        waiting += left;
        const announced: Promise<void>[] = [];
        for (let i = 0; i < planned.length; i += 2) {
          const lane = keys[planned[i]! - 2]!.slice(keyPrefix.length); // KEYS[1] is the mark
          const order = planned[i + 1]!;
          announced.push(
            this.lanes.announce(lane, order, this.orphanCheck!.lastEvent(lane, order)),
          );
        }
        await Promise.all(announced);
        ended += announced.length;
      },
    );
    if (ended > 0) {
      this.logger.warn(
        { host: host.label, holder, lanes: ended },
        "a process holding sockets is gone: ending their lanes (each socket's disconnect runs)",
      );
    }
    if (ended > 0 || waiting > 0) {
      // Also for last events planned earlier that have not run yet: the reaper
      // that parked them may have died or stopped before its rescue ran them, and
      // nothing else looks. This one's rescue does; the holder is kept until they end.
      this.lanes.rescueSoon();
      return false;
    }
    // Nothing open: a holder that stopped cleanly, or one already reaped. The
    // mark stays only if it told of ended lanes (an earlier reap set it).
    await host.command('srem', this.holdersKey(), holder);
    if (markedNow) await host.eval(DELETE_IF_EQUAL, [mark], [owner]);
    // A holder back in the meantime may have registered again: keep it.
    if ((await liveOwners(host))?.has(holder))
      await host.command('sadd', this.holdersKey(), holder);
    return true;
  }

  private holdersKey(): string {
    return `${this.config.prefix}gredis:holders`;
  }

  /** Set while a holder's lanes are being or were ended, for it to find if it comes back. */
  private reapedKey(holder: string): string {
    return `${this.config.prefix}gredis:reaped:${holder}`;
  }
}

/**
 * Client prefixes of the Gredis processes connected to `host` (the names of
 * their command connections), or undefined when the server will not say. A
 * CLIENT LIST refused (an ACL without @admin, as is common) does not make the
 * host `refused`, unlike the layer's other commands: the lanes work without
 * it, their dead holders' turns taken over at their deadlines instead.
 */
export async function liveOwners(host: RedisHost): Promise<Set<string> | undefined> {
  try {
    const list = String(await host.call((c) => c.client('LIST', 'TYPE', 'NORMAL')));
    const owners = new Set(
      [...list.matchAll(new RegExp(` name=${CONNECTION_NAME_PREFIX}([0-9a-f]+) `, 'g'))].map(
        (m) => m[1]!,
      ),
    );
    return owners.size > 0 ? owners : undefined;
  } catch {
    return undefined;
  }
}
