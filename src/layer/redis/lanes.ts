import { BurstLogger, type Logger } from '../../logger.js';
import type { Codec } from '../codec.js';
import { consistentHash } from '../hash.js';
import { logEffectFailure } from '../effects.js';
import type {
  Counters,
  LaneClaim,
  LaneEffect,
  LaneFinishOptions,
  Lanes,
  LaneTurn,
  Message,
} from '../types.js';
import {
  COUNTER_INCREMENT,
  LANE_ANNOUNCE,
  LANE_ANNOUNCE_SEND,
  LANE_CLAIM,
  LANE_COMMIT,
  LANE_FINISH,
  DELETE_IF_EQUAL,
  LANE_REAP,
  LANE_RESCUE,
} from './lane-scripts.js';
import { literalPattern, type Arg, type RedisHost } from './host.js';

export interface RedisLanesConfig {
  prefix: string;
  /** This process's id as a lane owner: the layer's client prefix. */
  owner: string;
  lease: number;
  gap: number;
  /** Seconds a lane's bookkeeping outlives its last event. */
  ttl: number;
  /** Seconds an ended lane's marker stays: while a late copy of its events may still come. */
  endedTtl: number;
}

/**
 * What the lanes need of the layer's writes: a turn's effects as LANE_COMMIT
 * arguments, an announced event's send as SEND arguments, or either done by the
 * layer itself.
 */
export interface LayerWrites {
  /**
   * LANE_COMMIT's arguments from ARGV[11] on, or undefined when these effects
   * cannot share a script with a lane's finish (several servers, encryption, an
   * invalid effect): then `apply` runs them first.
   */
  scriptArgs(effects: readonly LaneEffect[]): Arg[] | undefined;
  /** Applies the effects one by one, in order; throws the first failure. */
  apply(effects: readonly LaneEffect[]): Promise<void>;
  /** The error for a send to `channel` that a script found full. */
  fullError(channel: string): Error;
  /**
   * SEND's key and arguments for `message` on `channel` (see scripts.ts), or
   * undefined when a lane script cannot store it (several servers, encryption).
   * Throws on an invalid channel name or message.
   */
  sendArgs(channel: string, message: Message): { key: string; args: Arg[] } | undefined;
  /** The layer's own send. */
  send(channel: string, message: Message): Promise<void>;
}

/** How often a process that parked events checks whether their owners are still alive. */
const RESCUE_CHECK_SECONDS = 2;
const RESCUE_BATCH = 200;
const REAP_SCAN_BATCH = 1000;
/**
 * How long a holder must have been missing, at two checks in a row, to be taken
 * for dead, however often the checks run: longer than reconnecting takes (the
 * retry backoff is at most 2 s), so a Redis restart reaps nobody.
 */
const MIN_MISSING_SECONDS = 5;

/**
 * Lanes in Redis (see lane-scripts.ts for the data). A claim and a finish are
 * one script each. Timers: the rescue check, armed by a process that parked an
 * event and kept only while some lane still has parked events; and the orphan
 * check of a process that asked for it (reapOrphans: a worker), two commands
 * per host per check.
 *
 * Holders: a process that announces the first event of a lane (order 0) is its
 * holder, and registers once per host in the set "<prefix>gredis:holders". Its
 * lanes are found by name (each is named after a channel of the holder, which
 * ends ".<client prefix>!…"), so holding costs nothing per lane.
 */
export class RedisLanes implements Lanes {
  private rescueHandler: ((turn: LaneTurn) => void) | undefined;
  private rescueTimer: NodeJS.Timeout | undefined;
  private closed = false;
  /** Hosts where this process is registered as a holder. */
  private readonly holding = new Set<RedisHost>();
  private orphanCheck:
    { lastEvent: (lane: string, order: number) => Message; every: number } | undefined;
  private orphanTimer: NodeJS.Timeout | undefined;
  /** Per host, holders missing at the last orphan check, and since when (ms). */
  private missing = new Map<RedisHost, Map<string, number>>();

  constructor(
    private readonly hosts: readonly RedisHost[],
    private readonly codec: Codec,
    private readonly config: RedisLanesConfig,
    private readonly logger: Logger,
    private readonly writes: LayerWrites,
    /** Called when this process, back on `host`, learns it was taken for dead there. */
    private readonly onReaped: (host: string) => void,
  ) {
    for (const host of hosts) {
      let connections = 0;
      host.client.on('ready', () => {
        if (++connections > 1) void this.checkReaped(host);
      });
    }
  }

  async announce(lane: string, order: number, event: Message): Promise<void> {
    if (order === 0) this.registerHolder(this.hostFor(lane));
    await this.hostFor(lane).evalBatched(
      LANE_ANNOUNCE,
      [this.laneKey(lane), this.indexKey()],
      [lane, order, this.codec.encode(event), now(), this.config.gap, this.config.ttl],
    );
  }

  async announceAndSend(
    lane: string,
    order: number,
    event: Message,
    channel: string,
  ): Promise<void> {
    if (order === 0) this.registerHolder(this.hostFor(lane));
    const send = this.writes.sendArgs(channel, event);
    if (!send) {
      await this.writes.send(channel, event);
      return this.announce(lane, order, event).catch((error: unknown) => {
        this.logger.warn({ err: error, lane }, 'could not deposit a sent event in its lane');
      });
    }
    const stored = await this.hostFor(lane).evalBatched(
      LANE_ANNOUNCE_SEND,
      [this.laneKey(lane), this.indexKey(), send.key],
      [lane, order, now(), this.config.gap, this.config.ttl, ...send.args],
    );
    if (stored !== 1) throw this.writes.fullError(channel);
  }

  async claim(lane: string, order: number, event: Message): Promise<LaneClaim> {
    // Most events run at once: offer the turn without the event, and encode and
    // store it only when it has to wait.
    const first = await this.offer(lane, order, '');
    return first === 'busy'
      ? ((await this.offer(lane, order, this.codec.encode(event))) as LaneClaim)
      : first;
  }

  private async offer(
    lane: string,
    order: number,
    event: Buffer | '',
  ): Promise<LaneClaim | 'busy'> {
    const reply = (await this.hostFor(lane).evalBatched(
      LANE_CLAIM,
      [this.laneKey(lane), this.indexKey()],
      [...this.turnArgs(lane, order), event, this.config.ttl],
      true,
    )) as [Buffer, Buffer?];
    switch (reply[0].toString()) {
      case 'run':
        return { kind: 'run', state: this.decodeState(reply[1]) };
      case 'parked':
        this.armRescue();
        return { kind: 'parked' };
      case 'busy':
        return 'busy';
      default:
        return { kind: 'stale' };
    }
  }

  async finish(
    lane: string,
    order: number,
    state: Message | undefined,
    { end = false, effects = [] }: LaneFinishOptions = {},
  ): Promise<LaneTurn | undefined> {
    const host = this.hostFor(lane);
    const args: Arg[] = [
      ...this.turnArgs(lane, order),
      state === undefined ? '' : this.codec.encode(state),
      state === undefined ? '0' : '1',
      end ? '1' : '0',
      end ? this.config.endedTtl : this.config.ttl,
    ];
    const keys = [this.laneKey(lane), this.indexKey()];
    let reply: [Buffer, number?, Buffer?];
    const effectArgs = effects.length > 0 ? this.writes.scriptArgs(effects) : undefined;
    if (effectArgs) {
      const [finished, failed, skipped] = (await host.evalBatched(
        LANE_COMMIT,
        keys,
        [...args, ...effectArgs],
        true,
      )) as [[Buffer, number?, Buffer?], number, number];
      // Only a send can fail in the script (its channel is full).
      const full = effects[failed - 1];
      if (full?.kind === 'send')
        logEffectFailure(this.logger, lane, this.writes.fullError(full.channel));
      if (skipped > 0)
        BurstLogger.for(this.logger).warn({ lane, skipped }, 'group send skipped full members');
      reply = finished;
    } else {
      if (effects.length > 0) {
        await this.writes.apply(effects).catch((error: unknown) => {
          logEffectFailure(this.logger, lane, error);
        });
      }
      reply = (await host.evalBatched(LANE_FINISH, keys, args, true)) as typeof reply;
    }
    const outcome = reply[0].toString();
    if (outcome === 'lost') {
      this.logger.warn(
        { lane, order },
        'a lane turn outlived its lease and was taken over; its state was not saved',
      );
      return undefined;
    }
    if (outcome !== 'run') return undefined;
    return { lane, order: Number(reply[1]), event: this.codec.decode(reply[2]!).message, state };
  }

  onRescue(handler: (turn: LaneTurn) => void): void {
    this.rescueHandler = handler;
  }

  reapOrphans(lastEvent: (lane: string, order: number) => Message, everySeconds: number): void {
    this.orphanCheck = { lastEvent, every: everySeconds };
    this.armOrphanCheck(0);
  }

  async release(): Promise<void> {
    const hosts = [...this.holding];
    this.holding.clear();
    await Promise.all(
      hosts.map((host) => host.call((c) => c.srem(this.holdersKey(), this.config.owner))),
    );
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.rescueTimer);
    clearTimeout(this.orphanTimer);
  }

  private registerHolder(host: RedisHost): void {
    if (this.holding.has(host)) return;
    this.holding.add(host);
    const name = `gredis-layer:${this.config.owner}`;
    host
      .call((c) => c.pipeline().client('GETNAME').sadd(this.holdersKey(), this.config.owner).exec())
      .then(async (replies) => {
        const [named, added] = replies ?? [];
        if (!added || added[0]) throw added?.[0] ?? new Error('no reply');
        if (!named?.[0] && named?.[1] === name) return;
        // Workers judge a holder alive by this name in CLIENT LIST. Without it
        // (CLIENT SETNAME refused by an ACL or a proxy: ioredis ignores that),
        // this live process would be taken for dead and its sockets ended.
        await host.call((c) => c.srem(this.holdersKey(), this.config.owner));
        BurstLogger.for(this.logger).warn(
          { host: host.label, name: named?.[1] ?? null },
          'this connection is not named in CLIENT LIST (CLIENT SETNAME refused?): not registered as a holder of lanes, so its sockets are not ended should it die',
        );
      })
      .catch((error: unknown) => {
        this.holding.delete(host); // the next first event tries again
        BurstLogger.for(this.logger).warn(
          { err: error, host: host.label },
          'could not register as a holder of lanes; retrying at the next socket',
        );
      });
  }

  /**
   * At a reconnection (not the first connection): a holder cut off from `host` long enough was taken for
   * dead, and its lanes there were ended (reapOrphans). Its sockets must start
   * over, as after a loss of the host's data.
   */
  private async checkReaped(host: RedisHost): Promise<void> {
    if (!this.holding.has(host)) return;
    // Registered again below (the set may be gone with the host's data) or,
    // if reaped, by the sockets that start over.
    this.holding.delete(host);
    let reaped: string | null;
    try {
      reaped = await host.call((c) => c.getdel(this.reapedKey(this.config.owner)));
    } catch (error) {
      this.logger.warn(
        { err: error, host: host.label },
        'could not check whether this process was taken for dead',
      );
      return;
    }
    if (reaped === null) {
      this.registerHolder(host);
      return;
    }
    this.logger.warn(
      { host: host.label },
      'this process was cut off from the channel layer host long enough to be taken for dead: its sockets there were ended',
    );
    this.onReaped(host.label);
  }

  private armOrphanCheck(delaySeconds: number): void {
    if (this.closed || !this.orphanCheck) return;
    this.orphanTimer = setTimeout(() => {
      void this.checkOrphans().finally(() => this.armOrphanCheck(this.orphanCheck!.every));
    }, delaySeconds * 1000);
    this.orphanTimer.unref();
  }

  private async checkOrphans(): Promise<void> {
    for (const host of this.hosts) {
      try {
        await this.checkOrphansOn(host);
      } catch (error) {
        BurstLogger.for(this.logger).warn(
          { err: error, host: host.label },
          'the check for lanes of dead holders failed; retrying at the next',
        );
      }
    }
  }

  private async checkOrphansOn(host: RedisHost): Promise<void> {
    const holders = (await host.call((c) => c.smembers(this.holdersKey()))).filter(
      (holder) => holder !== this.config.owner,
    );
    const missingBefore = this.missing.get(host) ?? new Map<string, number>();
    this.missing.delete(host);
    if (holders.length === 0) return;
    const live = await this.liveOwners(host);
    if (live === undefined) return;
    const missingNow = new Map<string, number>();
    for (const holder of holders) {
      if (!live.has(holder)) missingNow.set(holder, missingBefore.get(holder) ?? Date.now());
    }
    this.missing.set(host, missingNow);
    for (const [holder, since] of missingNow) {
      if (!missingBefore.has(holder) || Date.now() - since < MIN_MISSING_SECONDS * 1000) continue;
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
    const markedNow = await host.call((c) => c.set(mark, owner, 'EX', this.config.ttl, 'NX'));
    if (!markedNow) {
      const reaper = await host.call((c) => c.get(mark));
      if (reaper !== null && reaper !== owner && live.has(reaper)) return false;
      await host.call((c) => c.set(mark, owner, 'EX', this.config.ttl));
    }
    const liveNow = await this.liveOwners(host);
    if (liveNow === undefined || liveNow.has(holder)) {
      if (markedNow) await host.eval(DELETE_IF_EQUAL, [mark], [owner]);
      return false;
    }
    const keyPrefix = this.laneKey('');
    let ended = 0;
    await host.scanKeys(
      `${literalPattern(keyPrefix)}*.${holder}!*`,
      REAP_SCAN_BATCH,
      async (keys) => {
        const planned = (await host.eval(LANE_REAP, [mark, ...keys], [owner])) as number[];
        const announced: Promise<void>[] = [];
        for (let i = 0; i < planned.length; i += 2) {
          const lane = keys[planned[i]! - 2]!.slice(keyPrefix.length); // KEYS[1] is the mark
          const order = planned[i + 1]!;
          announced.push(this.announce(lane, order, this.orphanCheck!.lastEvent(lane, order)));
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
      this.armRescue(this.config.gap);
      return false;
    }
    // Nothing open: a holder that stopped cleanly, or one already reaped. The
    // mark stays only if it told of ended lanes (an earlier reap set it).
    await host.call((c) => c.srem(this.holdersKey(), holder));
    if (markedNow) await host.eval(DELETE_IF_EQUAL, [mark], [owner]);
    // A holder back in the meantime may have registered again: keep it.
    if ((await this.liveOwners(host))?.has(holder))
      await host.call((c) => c.sadd(this.holdersKey(), holder));
    return true;
  }

  private armRescue(delaySeconds = RESCUE_CHECK_SECONDS): void {
    if (this.rescueTimer || this.closed || !this.rescueHandler) return;
    this.rescueTimer = setTimeout(() => {
      this.rescueTimer = undefined;
      void this.rescue();
    }, delaySeconds * 1000);
    this.rescueTimer.unref();
  }

  private async rescue(): Promise<void> {
    let pending = false;
    let soonest = RESCUE_CHECK_SECONDS;
    for (const host of this.hosts) {
      try {
        const live = [...((await this.liveOwners(host)) ?? ['*'])].join(',');
        const [turns, wait] = (await host.evalBuffer(
          LANE_RESCUE,
          [this.indexKey()],
          [this.laneKey(''), now(), this.config.owner, this.config.lease, RESCUE_BATCH, live],
        )) as [(number | Buffer)[], Buffer];
        for (let i = 0; i < turns.length; i += 4) {
          const lane = (turns[i] as Buffer).toString();
          const order = Number(turns[i + 1]);
          const event = this.codec.decode(turns[i + 2] as Buffer).message;
          const state = this.decodeState(turns[i + 3] as Buffer);
          BurstLogger.for(this.logger).warn(
            { lane, order },
            'took over a lane whose previous event was lost',
          );
          this.rescueHandler?.({ lane, order, event, state });
        }
        if (wait.length > 0) {
          pending = true;
          soonest = Math.min(soonest, Math.max(0.05, Number(wait.toString())));
        }
      } catch (error) {
        pending = true;
        this.logger.warn({ err: error, host: host.label }, 'lane rescue check failed; retrying');
      }
    }
    if (pending) this.armRescue(soonest);
  }

  /** Client prefixes of processes connected to `host`, or undefined when the server will not say. */
  private async liveOwners(host: RedisHost): Promise<Set<string> | undefined> {
    try {
      const list = String(await host.call((c) => c.client('LIST', 'TYPE', 'NORMAL')));
      const owners = new Set(
        [...list.matchAll(/ name=gredis-layer:([0-9a-f]+) /g)].map((m) => m[1]!),
      );
      return owners.size > 0 ? owners : undefined;
    } catch {
      return undefined;
    }
  }

  private decodeState(bytes: Buffer | undefined): Message | undefined {
    if (!bytes || bytes.length === 0) return undefined;
    return this.codec.decode(bytes).message;
  }

  /** The ARGV that LANE_CLAIM, LANE_FINISH and LANE_COMMIT begin with. */
  private turnArgs(lane: string, order: number): Arg[] {
    return [lane, order, this.config.owner, now(), this.config.lease, this.config.gap];
  }

  private hostFor(lane: string): RedisHost {
    return this.hosts[consistentHash(lane, this.hosts.length)]!;
  }

  private laneKey(lane: string): string {
    return `${this.config.prefix}gredis:lane:${lane}`;
  }

  private indexKey(): string {
    return `${this.config.prefix}gredis:lanes`;
  }

  private holdersKey(): string {
    return `${this.config.prefix}gredis:holders`;
  }

  /** Set while a holder's lanes are being or were ended, for it to find if it comes back. */
  private reapedKey(holder: string): string {
    return `${this.config.prefix}gredis:reaped:${holder}`;
  }
}

export class RedisCounters implements Counters {
  constructor(
    private readonly hosts: readonly RedisHost[],
    private readonly prefix: string,
  ) {}

  async increment(key: string, windowSeconds: number): Promise<number> {
    return (await this.hostFor(key).eval(
      COUNTER_INCREMENT,
      [this.key(key)],
      [Math.ceil(windowSeconds)],
    )) as number;
  }

  async get(key: string): Promise<number> {
    return Number((await this.hostFor(key).call((c) => c.get(this.key(key)))) ?? 0);
  }

  async reset(key: string): Promise<void> {
    await this.hostFor(key).call((c) => c.del(this.key(key)));
  }

  private hostFor(key: string): RedisHost {
    return this.hosts[consistentHash(key, this.hosts.length)]!;
  }

  private key(key: string): string {
    return `${this.prefix}gredis:counter:${key}`;
  }
}

function now(): number {
  return Date.now() / 1000;
}
