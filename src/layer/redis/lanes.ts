import { setTimeout as sleep } from 'node:timers/promises';
import { ReplyError } from 'ioredis';
import { BurstLogger, type Logger } from '../../logger.js';
import type { Codec } from '../codec.js';
import { consistentHash } from '../hash.js';
import { logEffectFailure } from '../effects.js';
import { assertMessage } from '../message.js';
import { LaneTurnLost, LayerUnavailable, warnLayerFailure } from '../errors.js';
import type {
  Counters,
  LaneClaim,
  LaneClaimOptions,
  LaneEffect,
  LaneFinishOptions,
  Lanes,
  LaneTurn,
  Message,
} from '../types.js';
import {
  COUNTER_DECREMENT,
  COUNTER_INCREMENT,
  LANE_ANNOUNCE,
  LANE_ANNOUNCE_SEND,
  LANE_APPLY,
  LANE_CLAIM,
  LANE_COMMIT,
  LANE_EFFECTS,
  LANE_FINISH,
  LANE_HOLD,
  LANE_RELEASE,
  LANE_RESCUE,
} from './lane-scripts.js';
import { RECONNECT_BACKOFF_MAX_MS, type Arg, type RedisHost, type ScriptCall } from './host.js';
import { LaneHolders, liveOwners } from './holders.js';
import { permissionRefusal } from './refusals.js';

export interface RedisLanesConfig {
  prefix: string;
  /** This process's id as a lane owner: the layer's client prefix. */
  owner: string;
  lease: number;
  gap: number;
  /** Seconds between rescue checks while this process has parked events (LayerOptions.laneRescueCheck). */
  rescueCheck: number;
  /** Seconds a holder must be missing to be taken for dead (see holders.ts). */
  holderMissing: number;
  /** Seconds a lane's bookkeeping outlives its last event. */
  ttl: number;
  /** Seconds an ended lane's marker stays: while a late copy of its events may still come. */
  endedTtl: number;
  /**
   * The layer's clock, epoch seconds (see ServerClock): leases and due times
   * are compared with other processes' in the lane scripts.
   */
  now: () => number;
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
   * invalid effect): then `apply` runs them first, once a check found the turn
   * still held (LANE_HOLD).
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

/**
 * LANE_FINISH's reply (LANE_COMMIT's first): {'run', order, event}, {'idle'},
 * {'lost'}, or {'refused', command}.
 */
type FinishReply = [Buffer, (number | Buffer)?, Buffer?];

/** The wait before a lane turn's claim or finish is tried again while its host is away. */
const RETRY_MS = 250;
/** How often a step Redis refused for lack of permission asks whether it is allowed again. */
const REFUSED_RETRY_MS = 1000;
/** A claim's or a finish's steps, run again while the layer is away; `repeated` once one was. */
interface RetriedSteps {
  run<T>(step: () => Promise<T>): Promise<T>;
  repeated: boolean;
}

const RESCUE_BATCH = 200;
/**
 * Lanes in Redis (see lane-scripts.ts for the data). A claim and a finish are
 * one script each. Timers: the rescue check, armed by a process that parked an
 * event and kept only while some lane still has parked events; and the check
 * for lanes of dead holders, of a process that asked for it (reapOrphans: a
 * worker; see holders.ts).
 */
export class RedisLanes implements Lanes {
  private rescueHandler: ((turn: LaneTurn) => void) | undefined;
  private rescueTimer: NodeJS.Timeout | undefined;
  /** The rescue check under way, if any. */
  private rescuing: Promise<void> | undefined;
  /** No rescue check is armed any more (stopRescue), or the lanes closed. */
  private rescueStopped = false;
  private closed = false;
  /** Claims made so far: each is named by its count (LANE_CLAIM). */
  private claims = 0;
  private readonly holders: LaneHolders;
  /**
   * Hosts that came back without their data while this process ran, each with
   * when this process last saw that (the layer's clock; hostLostData).
   */
  private readonly lostData = new Map<RedisHost, number>();

  constructor(
    private readonly hosts: readonly RedisHost[],
    private readonly codec: Codec,
    private readonly config: RedisLanesConfig,
    private readonly logger: Logger,
    private readonly writes: LayerWrites,
    /** Called when this process, back on `host`, learns it was taken for dead there. */
    onReaped: (host: string) => void,
  ) {
    this.holders = new LaneHolders(hosts, { ...config, laneKeyPrefix: this.laneKey('') }, logger, {
      announce: (lane, order, event) => this.announce(lane, order, event),
      rescueSoon: () => this.armRescue(config.gap),
      reaped: onReaped,
    });
  }

  async announce(lane: string, order: number, event: Message): Promise<void> {
    const host = this.hostFor(lane);
    if (order === 0) this.holders.hold(host);
    await this.runLaneScript(host, {
      script: LANE_ANNOUNCE,
      keys: [this.laneKey(lane), this.indexKey()],
      args: [
        lane,
        order,
        this.codec.encode(event),
        this.config.now(),
        this.config.gap,
        this.config.ttl,
      ],
    });
  }

  async announceAndSend(
    lane: string,
    order: number,
    event: Message,
    channel: string,
  ): Promise<void> {
    if (order === 0) this.holders.hold(this.hostFor(lane));
    const send = this.writes.sendArgs(channel, event);
    if (!send) {
      await this.writes.send(channel, event);
      return this.announce(lane, order, event).catch((error: unknown) => {
        this.logger.warn({ err: error, lane }, 'could not deposit a sent event in its lane');
      });
    }
    const stored = await this.runLaneScript(this.hostFor(lane), {
      script: LANE_ANNOUNCE_SEND,
      keys: [this.laneKey(lane), this.indexKey(), send.key],
      args: [lane, order, this.config.now(), this.config.gap, this.config.ttl, ...send.args],
    });
    if (stored !== 1) throw this.writes.fullError(channel);
  }

  async claim(
    lane: string,
    order: number,
    event: Message,
    { signal }: LaneClaimOptions = {},
  ): Promise<LaneClaim> {
    this.holders.noteClaim();
    // Tried again while the layer is away, as a finish is, under one name: a try
    // that landed and lost its reply holds the turn, which the next try gets.
    const steps = this.tryingAgain(this.hostFor(lane), signal);
    const name = (++this.claims).toString(36);
    // Most events run at once: offer the turn without the event, and encode and
    // store it only when it has to wait.
    const first = await steps.run(() => this.offer(lane, order, '', name));
    if (first !== 'busy') return first;
    const encoded = this.codec.encode(event);
    return (await steps.run(() => this.offer(lane, order, encoded, name))) as LaneClaim;
  }

  private async offer(
    lane: string,
    order: number,
    event: Buffer | '',
    name: string,
  ): Promise<LaneClaim | 'busy'> {
    const reply = (await this.runLaneScript(this.hostFor(lane), {
      script: LANE_CLAIM,
      keys: [this.laneKey(lane), this.indexKey()],
      args: [...this.turnArgs(lane, order), event, this.config.ttl, name],
    })) as [Buffer, Buffer?];
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
    { end = false, effects = [], signal }: LaneFinishOptions = {},
  ): Promise<LaneTurn | undefined> {
    // Refused before anything is done, with its path, rather than by the encoder.
    if (state !== undefined) assertMessage(state, 'state');
    const host = this.hostFor(lane);
    const steps = this.tryingAgain(host, signal);
    const stored = state === undefined ? '' : this.codec.encode(state);
    // Made anew at each try, `now` with them: a finish that waited to be
    // allowed hands the next event a lease from when it lands, not one already
    // run out, which would have another process take over the running event.
    const args = (): Arg[] => [
      ...this.turnArgs(lane, order),
      stored,
      state === undefined ? '0' : '1',
      end ? '1' : '0',
      end ? this.config.endedTtl : this.config.ttl,
    ];
    const keys = [this.laneKey(lane), this.indexKey()];
    let reply: FinishReply;
    const effectArgs = effects.length > 0 ? this.writes.scriptArgs(effects) : undefined;
    if (effectArgs) {
      let commitArgs: Arg[] = [];
      const [finished, failed, skipped, refused] = await steps.run(async () => {
        commitArgs = [...args(), ...effectArgs];
        const committed = (await host.evalBatched(LANE_COMMIT, keys, commitArgs, true)) as [
          FinishReply,
          number,
          number,
          Buffer | null,
        ];
        this.throwIfRefused(host, { script: LANE_COMMIT, keys, args: commitArgs }, committed[0]);
        return committed;
      });
      const failure =
        this.effectsRefused(host, commitArgs, refused) ??
        this.scriptFailure(lane, effects, failed, skipped);
      if (failure) logEffectFailure(this.logger, lane, failure);
      reply = finished;
    } else if (effects.length > 0 && !(await steps.run(() => this.hold(lane, order)))) {
      reply = [Buffer.from('lost')];
    } else {
      if (effects.length > 0) {
        await this.writes.apply(effects).catch((error: unknown) => {
          logEffectFailure(this.logger, lane, error);
        });
      }
      reply = (await steps.run(() =>
        this.runLaneScript(host, { script: LANE_FINISH, keys, args: args() }),
      )) as FinishReply;
    }
    const outcome = reply[0].toString();
    if (outcome === 'lost' && steps.repeated) {
      // Most likely the try whose reply the failover cut off had landed, leaving
      // the lane idle (had it handed over an event, this would be that event).
      this.logger.info(
        { lane, order },
        "a lane turn's finish, tried again once the layer was back, found the turn over",
      );
      return undefined;
    }
    if (outcome === 'lost') {
      this.logger.warn(
        { lane, order },
        'a lane turn outlived its lease and was taken over; its state and effects were not saved',
      );
      return undefined;
    }
    if (outcome !== 'run') return undefined;
    return { lane, order: Number(reply[1]), event: this.codec.decode(reply[2]!).message, state };
  }

  /**
   * Runs a step of a claim or a finish, again while it fails with
   * LayerUnavailable (the master failed over under it, or it stopped answering
   * for longer than the reply timeout): given up, a claim that landed, or a
   * finish that did not, would leave this live process holding the turn, and the
   * lane's later events parked behind it for the whole lease. A claim sent again
   * gets the turn it took (LANE_CLAIM). Each step may be sent again: the scripts end a turn, and
   * apply its effects, only while the caller still holds it. A finish that
   * landed and lost its reply finds its turn over: 'lost' when it left the lane
   * idle, or, when it handed this process the next event, that event again
   * (LANE_FINISH), which nobody else would run before the lease ran out. No longer than a lease,
   * after which another process may run the lane anyway.
   *
   * A step Redis refused for lack of permission (or that found one of its own
   * writes refused before its first, throwIfRefused) is sent again once the host
   * is allowed again (waitUntilAllowed), however long that takes: given up, a
   * finish's effects were lost, the close of a socket whose handler failed
   * among them, and the socket was left open and unanswered for good, its
   * worker unable to tell it anything. Sent again, the close lands once the
   * operator grants the user what it lacks, and the client reconnects. A
   * process whose steps wait so holds their slots, and stops taking events it
   * could not run. Nothing is sent meanwhile but the probe, a second apart.
   */
  private tryingAgain(host: RedisHost, signal: AbortSignal | undefined): RetriedSteps {
    const until = performance.now() + this.config.lease * 1000;
    const steps: RetriedSteps = {
      repeated: false,
      run: async (step) => {
        for (;;) {
          try {
            return await step();
          } catch (error) {
            if (!(error instanceof LayerUnavailable) || this.closed || signal?.aborted) throw error;
            if (permissionRefusal(error)) {
              await this.waitUntilAllowed(host, signal);
              if (this.closed || signal?.aborted) throw error;
              continue;
            }
            if (performance.now() + RETRY_MS > until) throw error;
            steps.repeated = true;
            await sleep(RETRY_MS, undefined, { signal }).catch(() => undefined);
          }
        }
      },
    };
    return steps;
  }

  /**
   * Runs `call`, a lane script whose reply is a number or a list, and throws
   * (throwIfRefused) when the list is {'refused', command}.
   */
  private async runLaneScript(host: RedisHost, call: ScriptCall): Promise<unknown> {
    const reply = await host.evalBatched(call.script, call.keys, call.args, true);
    if (Array.isArray(reply)) this.throwIfRefused(host, call, reply as [Buffer, ...unknown[]]);
    return reply;
  }

  /**
   * Throws what Redis refusing `call` (a claim's or a finish's script) would
   * make, when its `reply` says the ACL user may not run one of the script's
   * own writes ({'refused', command}; see LUA_REFUSED): it wrote nothing, a
   * finish's effects with it, and tryingAgain sends it again once the probe,
   * running `call` dry, finds it allowed. One message for every lane and
   * script, so that the log names the command to grant once
   * (RedisHost.noteRefusedScript).
   */
  private throwIfRefused(
    host: RedisHost,
    call: ScriptCall,
    reply: readonly [Buffer, ...unknown[]],
  ): void {
    if (reply[0].toString() === 'refused') throw this.scriptRefused(host, call, reply[1]);
  }

  /**
   * What a lane script (`call`) that found `command` refused to the ACL user
   * ahead of its writes fails with, the host made `refused` (see throwIfRefused).
   */
  private scriptRefused(host: RedisHost, call: ScriptCall, command: unknown): LayerUnavailable {
    const refusal = new ReplyError(
      `ERR The user executing the script can't run the '${String(command)}' command (asked by a lane script before its first write: nothing written)`,
    );
    host.noteRefusedScript(call, refusal);
    return host.unavailableFor(refusal);
  }

  /**
   * Until `host` runs scripts again (the steps are scripts), asking it each
   * second (RedisHost.probe runs the refused call dry), or the layer closes or
   * `signal` aborts. Waits a second at least: a probe that finds allowed what
   * Redis still refuses must not have a refused step sent again in a loop.
   */
  private async waitUntilAllowed(host: RedisHost, signal: AbortSignal | undefined): Promise<void> {
    do {
      await sleep(REFUSED_RETRY_MS, undefined, { signal }).catch(() => undefined);
      host.probe();
    } while (host.refusesScripts && !this.closed && !signal?.aborted);
  }

  async apply(lane: string, order: number, effects: readonly LaneEffect[]): Promise<void> {
    if (effects.length === 0) return;
    const effectArgs = this.writes.scriptArgs(effects);
    if (!effectArgs) {
      if (!(await this.hold(lane, order))) throw new LaneTurnLost(lane, order);
      return this.writes.apply(effects);
    }
    // LANE_FINISH's ARGV layout, its state and end unused: LUA_EFFECTS reads from ARGV[11].
    const args = [...this.turnArgs(lane, order), '', '0', '0', this.config.ttl, ...effectArgs];
    const host = this.hostFor(lane);
    const [outcome, failed = 0, skipped = 0, refused] = (await host.evalBatched(
      LANE_APPLY,
      [this.laneKey(lane), this.indexKey()],
      args,
    )) as [string, number?, number?, (string | null)?];
    if (outcome === 'lost') throw new LaneTurnLost(lane, order);
    const failure =
      this.effectsRefused(host, args, refused) ??
      this.scriptFailure(lane, effects, failed, skipped);
    if (failure) throw failure;
  }

  /**
   * What a LANE_COMMIT or LANE_APPLY (its ARGV `args`) that replied an effect
   * `refused` for lack of permission fails with (none of them applied: the
   * script asks about every write first): the host is `refused` until the probe, running
   * the same effects dry (LANE_EFFECTS), finds them allowed. Undefined when
   * none was refused.
   */
  private effectsRefused(
    host: RedisHost,
    args: readonly Arg[],
    refused: Buffer | string | null | undefined,
  ): LayerUnavailable | undefined {
    if (!refused) return undefined;
    const refusal = new ReplyError(refused.toString());
    host.noteRefusedScript({ script: LANE_EFFECTS, keys: [], args }, refusal);
    return host.unavailableFor(refusal);
  }

  /**
   * Whether this process still holds the turn, its lease renewed: asked before
   * effects applied one by one (they cannot share the check's script), so that a
   * turn taken over applies nothing, as with LANE_COMMIT and LANE_APPLY.
   * Throws as Redis refusing it would when one of its writes is refused
   * (throwIfRefused): it changed nothing.
   */
  private async hold(lane: string, order: number): Promise<boolean> {
    const held = await this.runLaneScript(this.hostFor(lane), {
      script: LANE_HOLD,
      keys: [this.laneKey(lane), this.indexKey()],
      args: this.turnArgs(lane, order),
    });
    return held === 1;
  }

  /**
   * What a script that applied `effects` reported: the error of the send it
   * found full (the only effect that can fail in a script), if any; members that
   * group sends skipped are logged here.
   */
  private scriptFailure(
    lane: string,
    effects: readonly LaneEffect[],
    failed: number,
    skipped: number,
  ): Error | undefined {
    if (skipped > 0)
      BurstLogger.for(this.logger).warn({ lane, skipped }, 'group send skipped full members');
    const full = effects[failed - 1];
    return full?.kind === 'send' ? this.writes.fullError(full.channel) : undefined;
  }

  async handBack(turn: LaneTurn, channel: string): Promise<void> {
    const released = await this.runLaneScript(this.hostFor(turn.lane), {
      script: LANE_RELEASE,
      keys: [this.laneKey(turn.lane), this.indexKey()],
      args: [
        ...this.turnArgs(turn.lane, turn.order),
        this.codec.encode(turn.event),
        this.config.ttl,
      ],
    });
    if (released !== 1) return;
    // As the interface server sent it: whoever receives it claims it, and the
    // copy that comes second (one still on the channel) is dropped as stale.
    await this.announceAndSend(turn.lane, turn.order, turn.event, channel);
  }

  onRescue(handler: (turn: LaneTurn) => void): void {
    this.rescueHandler = handler;
  }

  async stopRescue(): Promise<void> {
    if (this.rescueStopped) return;
    this.rescueStopped = true;
    clearTimeout(this.rescueTimer);
    this.rescueTimer = undefined;
    await this.rescuing;
    if (this.rescueHandler && !this.closed) await this.rescue();
  }

  reapOrphans(lastEvent: (lane: string, order: number) => Message, everySeconds: number): void {
    this.holders.reapOrphans(lastEvent, everySeconds);
  }

  release(): Promise<void> {
    return this.holders.release();
  }

  close(): void {
    this.closed = true;
    this.rescueStopped = true;
    clearTimeout(this.rescueTimer);
    this.holders.close();
  }

  private armRescue(delaySeconds = this.config.rescueCheck): void {
    if (this.rescueTimer || this.rescueStopped || !this.rescueHandler) return;
    this.rescueTimer = setTimeout(() => {
      this.rescueTimer = undefined;
      this.rescuing = this.rescue().finally(() => {
        this.rescuing = undefined;
      });
    }, delaySeconds * 1000);
    this.rescueTimer.unref();
  }

  private async rescue(): Promise<void> {
    let pending = false;
    let soonest = this.config.rescueCheck;
    for (const host of this.hosts) {
      try {
        const live = [...((await liveOwners(host)) ?? ['*'])].join(',');
        const call = {
          script: LANE_RESCUE,
          keys: [this.indexKey()],
          args: [
            this.laneKey(''),
            this.config.now(),
            this.config.owner,
            this.config.lease,
            RESCUE_BATCH,
            live,
            this.config.endedTtl,
          ],
        };
        const [turns, wait, refused] = (await host.evalBuffer(
          call.script,
          call.keys,
          call.args,
        )) as [(number | Buffer)[], Buffer, Buffer | null];
        // Said once, by the host; the lanes the check took before it stopped run below.
        if (refused) {
          this.scriptRefused(host, call, refused);
          pending = true;
        }
        for (let i = 0; i < turns.length; i += 6) {
          const lane = (turns[i] as Buffer).toString();
          const order = Number(turns[i + 1]);
          const event = this.codec.decode(turns[i + 2] as Buffer).message;
          const state = this.decodeState(turns[i + 3] as Buffer);
          const due = Number((turns[i + 5] as Buffer).toString());
          // A dead holder's lanes each get a last event (a reap): nothing was lost
          // there, and the reap itself said so once for them all.
          if (turns[i + 4] === 1)
            this.logger.debug({ lane, order }, "running the last event of a dead holder's lane");
          else
            BurstLogger.for(this.logger).warn(
              { lane, order },
              this.takeover(host, turns[i + 4], due),
            );
          this.rescueHandler?.({ lane, order, event, state });
        }
        if (wait.length > 0) {
          pending = true;
          soonest = Math.min(soonest, Math.max(0.05, Number(wait.toString())));
        }
      } catch (error) {
        pending = true;
        // A stopping process's last check (stopRescue) is not tried again: its
        // parked events wait for another worker's check.
        warnLayerFailure(
          this.logger,
          error,
          { host: host.label },
          this.rescueStopped
            ? 'lane rescue check failed; not retried: stopping'
            : 'lane rescue check failed; retrying',
        );
      }
    }
    if (pending) this.armRescue(soonest);
  }

  /**
   * What a rescue says of an event it took over (LANE_RESCUE's `kind`, 1 aside),
   * on `host`, its lane scored `due` in the index.
   */
  private takeover(host: RedisHost, kind: unknown, due: number): string {
    // Late, not lost: as after a silence of Redis past the message expiry, when
    // every event sent just before it has expired there.
    if (kind === 2)
      return "ran a socket's event from its lane: its copy on the channel was not taken in time";
    if (kind !== 3) return 'took over a lane whose previous event was lost';
    // No record of any turn: the lane's state went as a whole, or its first
    // events never reached a claim. Blamed on a restart that lost the host's
    // data only for the sockets open then, whose last events come then.
    return this.lostWithData(host, due)
      ? "lane state lost with Redis's data (restarted without persistence); running its event"
      : 'took over a lane with no record of its earlier events (its state was deleted, evicted or expired in Redis, or its first events were lost before any claim); running its event';
  }

  /**
   * Whether a lane with no record, scored `due` in `host`'s index, was emptied
   * by the host coming back without its data: whether its first waiting event
   * (kind 3 lanes have no owner, so parked at `due` less the gap) came by the
   * time the sockets open at the restart have sent theirs. Their Thyme closes
   * them all when it notices the loss, at its own reconnection, at most the
   * retry backoff after ours, and sends their disconnects at once; a gap more,
   * as late as the lanes wait for any event, covers a burst of them. Taken from
   * the parking, not the takeover, this holds however busy the rescue is; a
   * lane that loses its record later (evicted, expired, deleted) or whose
   * first events a worker lost, on the same host long after, is not blamed on
   * the restart.
   */
  private lostWithData(host: RedisHost, due: number): boolean {
    const lostAt = this.lostData.get(host);
    if (lostAt === undefined) return false;
    const parkedAt = due - this.config.gap;
    return parkedAt <= lostAt + RECONNECT_BACKOFF_MAX_MS / 1000 + this.config.gap;
  }

  /**
   * Notes that `host` came back without its data (see watchStorage), now: the
   * lanes it held then are gone, and the rescue says so of the events it runs
   * for them rather than that a worker lost their predecessors (lostWithData).
   */
  hostLostData(label: string): void {
    for (const host of this.hosts)
      if (host.label === label) this.lostData.set(host, this.config.now());
  }

  private decodeState(bytes: Buffer | undefined): Message | undefined {
    if (!bytes || bytes.length === 0) return undefined;
    return this.codec.decode(bytes).message;
  }

  /** The ARGV that LANE_CLAIM, LANE_FINISH, LANE_COMMIT and LANE_APPLY begin with. */
  private turnArgs(lane: string, order: number): Arg[] {
    return [lane, order, this.config.owner, this.config.now(), this.config.lease, this.config.gap];
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

  async decrement(key: string): Promise<number> {
    return (await this.hostFor(key).eval(COUNTER_DECREMENT, [this.key(key)], [])) as number;
  }

  async get(key: string): Promise<number> {
    return Number((await this.hostFor(key).command<string | null>('get', this.key(key))) ?? 0);
  }

  async reset(key: string): Promise<void> {
    await this.hostFor(key).command('del', this.key(key));
  }

  private hostFor(key: string): RedisHost {
    return this.hosts[consistentHash(key, this.hosts.length)]!;
  }

  private key(key: string): string {
    return `${this.prefix}gredis:counter:${key}`;
  }
}
