import { before } from '../../deadline.js';
import { BaseChannelLayer } from '../base.js';
import { Codec, type EncodedBody } from '../codec.js';
import { applyEffects } from '../effects.js';
import { ChannelFull, LayerClosed, MalformedPayload } from '../errors.js';
import { BurstLogger } from '../../logger.js';
import { consistentHash } from '../hash.js';
import { Mailbox } from '../mailbox.js';
import { assertChannelName, assertGroupName, isProcessSpecific, nonLocalName } from '../names.js';
import { assertMessage } from '../message.js';
import type { LayerOptions } from '../options.js';
import type { LaneEffect, LayerHealth, Message, ReceiveOptions } from '../types.js';
import type { RedisHostConfig } from '../url.js';
import { literalPattern, RedisHost, type Arg } from './host.js';
import { connectionNameOf } from './holders.js';
import { RedisCounters, RedisLanes } from './lanes.js';
import { KeyReader, type Popped, type ReaderSink } from './reader.js';
import { GROUP_DELIVER, GROUP_MEMBERS, GROUP_SEND, SEND } from './scripts.js';
import { watchStorage } from './storage-watch.js';

export interface RedisLayerOptions extends LayerOptions {
  /** One or more servers; names are sharded across them as channels_redis does. */
  hosts: RedisHostConfig[];
}

const FLUSH_BATCH = 1000;
/**
 * How long close() waits, in all, for the servers: to end the blocked reads,
 * answer the calls on their way and the QUIT. A server that stopped answering
 * with its connections left open (its machine gone, a network path broken)
 * would never do any, and the stop of a process (Thyme's, a worker's) would
 * never end; past this its connections are closed without. A reader let go
 * (retireIdleReaders) waits as long for its server.
 */
const CLOSE_WAIT_MS = 2000;
const MAX_IDLE_PLAIN_CHANNELS = 32;
/** GROUP_SEND writes map headers up to map16 (the codec also knows map32). */
const MAX_SCRIPT_MAP_ENTRIES = 0xffff;

/**
 * The Redis layer, wire-compatible with channels_redis 4 (see layer.md).
 *
 * Receiving: each process-specific key (`<prefix><name>.<clientPrefix>!`) has one
 * KeyReader: one blocking connection and one blocking read, on the one host the
 * key hashes to; what it pops is demultiplexed locally by `__asgi_channel__`. A
 * plain channel has one KeyReader per host (plain sends are spread round-robin),
 * running only while somebody waits; a message it pops for a receiver that has
 * since given up is put back with its original score, so nothing is lost.
 */
export class RedisChannelLayer extends BaseChannelLayer {
  private readonly codec: Codec;
  readonly lanes: RedisLanes;
  readonly counters: RedisCounters;
  private readonly hosts: RedisHost[];
  private readonly processReaders = new Map<string, KeyReader>();
  private readonly plainReaders = new Map<string, KeyReader[]>();
  private readonly takers = new Map<string, Mailbox<Message>>();
  private sendCursor = 0;
  /**
   * A group key's and a lane's lifetime: EXPIRE refuses a fraction, and a
   * fractional groupExpiry (?group_expiry=0.5) failed every group add and lane
   * write. Members still go by the exact groupExpiry (groupCutoff).
   */
  private readonly groupTtl = Math.ceil(this.options.groupExpiry);

  constructor(options: Partial<RedisLayerOptions> & { hosts: RedisHostConfig[] }) {
    super(options);
    if (options.hosts.length === 0) throw new RangeError('the Redis layer needs at least one host');
    this.codec = new Codec(this.options.symmetricEncryptionKeys, this.options.expiry, () =>
      this.now(),
    );
    this.hosts = options.hosts.map(
      (config) =>
        new RedisHost(
          config,
          {
            connectionName: connectionNameOf(this.clientPrefix),
            replyTimeoutMs: this.options.replyTimeout * 1000,
          },
          this.stats,
          this.logger,
        ),
    );
    this.lanes = new RedisLanes(
      this.hosts,
      this.codec,
      {
        prefix: this.prefix,
        owner: this.clientPrefix,
        lease: this.options.laneLease,
        gap: this.options.laneGap,
        rescueCheck: this.options.laneRescueCheck,
        holderMissing: this.options.laneHolderMissing,
        ttl: this.groupTtl,
        // A copy older than the expiry is never delivered; a minute more covers
        // clocks that differ between processes.
        endedTtl: Math.ceil(this.options.expiry) + 60,
        now: () => this.now(),
      },
      this.logger,
      {
        scriptArgs: (effects) => this.commitArgs(effects),
        apply: (effects) => applyEffects(this, effects),
        fullError: (channel) => new ChannelFull(channel, this.capacities.of(channel)),
        sendArgs: (channel, message) =>
          this.storesInScripts ? this.sendArgs(channel, message) : undefined,
        send: (channel, message) => this.send(channel, message),
      },
      (label) => this.storageLost(label),
    );
    this.counters = new RedisCounters(this.hosts, this.prefix);
    for (const host of this.hosts) {
      watchStorage(
        host,
        `${this.prefix}gredis:epoch`,
        (label) => {
          this.lanes.hostLostData(label);
          this.storageLost(label);
        },
        this.logger,
      );
    }
  }

  async send(channel: string, message: Message): Promise<void> {
    this.assertOpen();
    const { nonLocal, key, args } = this.sendArgs(channel, message);
    const host = isProcessSpecific(channel) ? this.hostFor(nonLocal) : this.nextSendHost();
    const stored = await host.evalBatched(SEND, [key], args);
    if (stored !== 1) throw new ChannelFull(channel, this.capacities.of(channel));
  }

  /** SEND's key and arguments for `message` on `channel`. Throws on an invalid name or message. */
  private sendArgs(
    channel: string,
    message: Message,
  ): { nonLocal: string; key: string; args: Arg[] } {
    const { nonLocal, key, payload, capacity } = this.storable(channel, message);
    return {
      nonLocal,
      key,
      args: [
        payload,
        this.nextScore(),
        this.expiryCutoff(),
        capacity,
        Math.ceil(this.options.expiry),
      ],
    };
  }

  /**
   * What storing `message` on `channel` takes: its key, its stored bytes (stamped
   * with the channel when it is process-specific) and the channel's capacity.
   * Throws on an invalid name or message.
   */
  private storable(
    channel: string,
    message: Message,
  ): { nonLocal: string; key: string; payload: Buffer; capacity: number } {
    assertChannelName(channel);
    assertMessage(message);
    const nonLocal = nonLocalName(channel);
    return {
      nonLocal,
      key: this.prefix + nonLocal,
      payload: this.codec.encode(message, isProcessSpecific(channel) ? channel : undefined),
      capacity: this.capacities.of(channel),
    };
  }

  /**
   * Whether scripts may build and store messages themselves: a script runs on one
   * server and cannot encrypt, so only with one server and no encryption.
   */
  private get storesInScripts(): boolean {
    return this.hosts.length === 1 && !this.codec.encrypts;
  }

  /**
   * LANE_COMMIT's effect arguments (see lane-scripts.ts), or undefined when the
   * effects must be applied one by one: several servers (a script runs on one),
   * encryption (only this side can encrypt), or an effect the layer's own
   * methods would refuse (they then report it, in order).
   */
  private commitArgs(effects: readonly LaneEffect[]): Arg[] | undefined {
    if (!this.storesInScripts || this.closed) return undefined;
    const ops: Arg[] = [];
    const now = this.now();
    try {
      for (const effect of effects) {
        switch (effect.kind) {
          case 'send': {
            const { key, payload, capacity } = this.storable(effect.channel, effect.message);
            ops.push('S', key, payload, this.nextScore(), capacity);
            break;
          }
          case 'groupAdd':
          case 'groupDiscard':
            assertGroupName(effect.group);
            assertChannelName(effect.channel);
            ops.push(
              effect.kind === 'groupAdd' ? 'A' : 'D',
              this.groupKey(effect.group),
              effect.channel,
            );
            break;
          case 'groupSend': {
            assertGroupName(effect.group);
            assertMessage(effect.message);
            const body = this.codec.encodeBody(effect.message);
            if (body.count >= MAX_SCRIPT_MAP_ENTRIES) return undefined;
            ops.push(
              'G',
              this.groupKey(effect.group),
              this.codec.prefix(),
              bytesOf(body),
              body.count,
              this.nextScore(),
            );
            break;
          }
        }
      }
    } catch {
      return undefined;
    }
    const rulesAt = 19 + ops.length;
    return [
      this.expiryCutoff(),
      Math.ceil(this.options.expiry),
      this.groupCutoff(),
      this.prefix,
      now,
      this.groupTtl,
      effects.length,
      rulesAt,
      ...ops,
      ...this.capacities.luaRules,
    ];
  }

  async groupAdd(group: string, channel: string): Promise<void> {
    this.assertOpen();
    assertGroupName(group);
    assertChannelName(channel);
    const key = this.groupKey(group);
    await this.hostFor(group).commands([
      ['zadd', key, this.now(), channel],
      ['expire', key, this.groupTtl],
    ]);
  }

  async groupDiscard(group: string, channel: string): Promise<void> {
    this.assertOpen();
    assertGroupName(group);
    assertChannelName(channel);
    await this.hostFor(group).commands([['zrem', this.groupKey(group), channel]]);
  }

  /**
   * On one host without encryption, one script does it all (GROUP_SEND). Otherwise
   * one round trip for the members, then one script per host holding member keys,
   * all hosts in parallel. Either way the message is encoded once; each key's copy
   * differs only in its `__asgi_channel__` stamp (the list of that key's members).
   */
  async groupSend(group: string, message: Message): Promise<number> {
    this.assertOpen();
    assertGroupName(group);
    assertMessage(message);
    const body = this.codec.encodeBody(message);
    const outcome =
      this.storesInScripts && body.count < MAX_SCRIPT_MAP_ENTRIES
        ? await this.groupSendInScript(group, body)
        : await this.groupSendFromHere(group, body);
    if (outcome.skipped > 0) {
      BurstLogger.for(this.logger).warn({ group, ...outcome }, 'group send skipped full members');
    }
    return outcome.skipped;
  }

  private async groupSendInScript(
    group: string,
    body: EncodedBody,
  ): Promise<{ skipped: number; members: number }> {
    const [members, skipped] = (await this.hosts[0]!.evalBatched(
      GROUP_SEND,
      [this.groupKey(group)],
      [
        this.groupCutoff(),
        this.prefix,
        this.nextScore(),
        this.expiryCutoff(),
        Math.ceil(this.options.expiry),
        this.codec.prefix(),
        bytesOf(body),
        body.count,
        ...this.capacities.luaRules,
      ],
    )) as [number, number];
    return { members, skipped };
  }

  private async groupSendFromHere(
    group: string,
    body: EncodedBody,
  ): Promise<{ skipped: number; members: number }> {
    const members = (await this.hostFor(group).eval(
      GROUP_MEMBERS,
      [this.groupKey(group)],
      [this.groupCutoff()],
    )) as string[];
    if (members.length === 0) return { skipped: 0, members: 0 };

    const byKey = new Map<string, string[]>();
    for (const channel of members) {
      const key = nonLocalName(channel);
      const names = byKey.get(key);
      if (names) names.push(channel);
      else byKey.set(key, [channel]);
    }
    const perHost = new Map<
      RedisHost,
      { keys: string[]; names: string[][]; args: (string | number | Buffer)[] }
    >();
    const score = this.nextScore();
    for (const [nonLocal, names] of byKey) {
      const host = this.hostFor(nonLocal);
      let batch = perHost.get(host);
      if (!batch) {
        batch = {
          keys: [],
          names: [],
          args: [score, this.expiryCutoff(), Math.ceil(this.options.expiry)],
        };
        perHost.set(host, batch);
      }
      batch.keys.push(this.prefix + nonLocal);
      batch.names.push(names);
      batch.args.push(this.codec.stamp(body, names), this.capacities.of(names[0]!));
    }
    const results = await Promise.all(
      [...perHost].map(async ([host, batch]) => {
        const full = (await host.eval(GROUP_DELIVER, batch.keys, batch.args)) as number[];
        return full.reduce((sum, index) => sum + batch.names[index - 1]!.length, 0);
      }),
    );
    return { skipped: results.reduce((a, b) => a + b, 0), members: members.length };
  }

  /** Deletes every key under the prefix on every host, scanning in batches. */
  async flush(): Promise<void> {
    this.assertOpen();
    const pattern = `${literalPattern(this.prefix)}*`;
    await Promise.all(
      this.hosts.map((host) =>
        host.scanKeys(pattern, FLUSH_BATCH, async (keys) => {
          await host.command('unlink', ...keys);
        }),
      ),
    );
  }

  /**
   * Returns within CLOSE_WAIT_MS (2 s), or by `by` (performance.now()) if that
   * comes first, however the servers answer, or do not.
   */
  async close(by = Infinity): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const deadline = Math.min(performance.now() + CLOSE_WAIT_MS, by);
    this.lanes.close();
    for (const taker of this.takers.values()) taker.failWaiters(new LayerClosed());
    const readers = [...this.processReaders.values(), ...[...this.plainReaders.values()].flat()];
    // Readers stopping now may still hand over what their last read popped: the
    // sinks see `closed` and put plain-channel messages back (see acceptPlain).
    await Promise.all(readers.map((reader) => reader.stop(deadline)));
    await before(deadline, Promise.all(this.pendingPutBacks));
    const undelivered = this.local.close();
    if (undelivered.size > 0) {
      this.logger.debug(
        { channels: undelivered.size },
        'dropped buffered messages of closing process channels',
      );
    }
    await Promise.all(this.hosts.map((host) => host.close(deadline)));
  }

  /**
   * Also probes each host (RedisHost.probe), so that whoever asks hears of a
   * silent server, or of a refused permission granted since. A host that is
   * reachable but refuses the layer's reads or scripts for lack of permission
   * (RedisHost.refusals) is `refused`, with Redis's reasons for all it
   * refuses (Refusals.reasons): not ready.
   */
  health(): LayerHealth {
    if (!this.closed) for (const host of this.hosts) host.probe();
    const hosts: LayerHealth['hosts'] = this.hosts.map((host) => {
      const refusal = host.status === 'ready' ? host.refusals.reasons : undefined;
      return refusal
        ? { url: host.label, status: 'refused', refusal }
        : { url: host.label, status: host.status };
    });
    return { ok: !this.closed && hosts.every((h) => h.status === 'ready'), hosts };
  }

  /** The first host's clock, which every process of the deployment reads (see ServerClock). */
  protected override now(): number {
    return this.hosts[0]!.clock.now();
  }

  async whenReady(): Promise<void> {
    await Promise.all(this.hosts.map((host) => host.whenReady()));
  }

  protected readProcessKey(nonLocal: string): void {
    let reader = this.processReaders.get(nonLocal);
    if (!reader) {
      const sink: ReaderSink = {
        wanted: () => Number.MAX_SAFE_INTEGER,
        accept: (popped) => this.acceptLocal(popped),
      };
      reader = new KeyReader(this.hostFor(nonLocal), this.prefix + nonLocal, sink, this.logger);
      this.processReaders.set(nonLocal, reader);
    }
    reader.start();
  }

  protected receivePlain(channel: string, options?: ReceiveOptions): Promise<Message> {
    let taker = this.takers.get(channel);
    if (!taker) this.takers.set(channel, (taker = new Mailbox(channel, 0)));
    const received = taker.take(options?.signal);
    let readers = this.plainReaders.get(channel);
    if (readers) {
      // Keep the map in least-recently-used order for retireIdleReaders.
      this.plainReaders.delete(channel);
      this.plainReaders.set(channel, readers);
    } else {
      this.retireIdleReaders();
      const sink: ReaderSink = {
        wanted: () => this.takers.get(channel)?.waiting ?? 0,
        accept: (popped, reader) => this.acceptPlain(channel, popped, reader),
      };
      readers = this.hosts.map(
        (host) =>
          new KeyReader(
            host,
            this.prefix + channel,
            sink,
            this.logger,
            this.options.inflightLook * 1000,
          ),
      );
      this.plainReaders.set(channel, readers);
    }
    for (const reader of readers) reader.start();
    return received;
  }

  private readonly pendingPutBacks = new Set<Promise<unknown>>();

  /**
   * A plain channel's readers keep their blocking connections between receives
   * (reconnecting per receive would cost more than the receive). Past
   * MAX_IDLE_PLAIN_CHANNELS channels, the least recently used ones nobody waits
   * on let go, blocked or not: a read whose receive was aborted stays blocked
   * until a message comes, and would otherwise hold its connection for good.
   * (Stopping a reader puts back what its last read popped.)
   */
  private retireIdleReaders(): void {
    if (this.plainReaders.size < MAX_IDLE_PLAIN_CHANNELS) return;
    for (const [channel, readers] of this.plainReaders) {
      if (this.plainReaders.size < MAX_IDLE_PLAIN_CHANNELS) return;
      if ((this.takers.get(channel)?.waiting ?? 0) > 0) continue;
      this.plainReaders.delete(channel);
      this.takers.delete(channel);
      for (const reader of readers) void reader.stop(performance.now() + CLOSE_WAIT_MS);
    }
  }

  private acceptLocal(popped: Popped[]): void {
    const cutoff = this.expiryCutoff();
    for (const { payload, score } of popped) {
      if (score < cutoff) continue;
      const decoded = this.decode(payload);
      if (!decoded) continue;
      if (decoded.channels === undefined) {
        this.stats.malformed++;
        this.logger.error('message on a process key without __asgi_channel__ skipped');
        continue;
      }
      this.local.deliver(decoded.channels, decoded.message, score);
    }
  }

  private acceptPlain(channel: string, popped: Popped[], reader: KeyReader): void {
    const taker = this.takers.get(channel);
    const cutoff = this.expiryCutoff();
    const putBack: Popped[] = [];
    for (const entry of popped) {
      if (entry.score < cutoff) continue;
      if (this.closed || !taker || taker.waiting === 0) {
        putBack.push(entry);
        continue;
      }
      const decoded = this.decode(entry.payload);
      if (decoded) taker.put(decoded.message);
    }
    if (putBack.length === 0) return;
    // The receiver gave up after the read was issued: return the messages with
    // their original scores, so they are next in line for whoever reads next.
    // The key may have gone with its last message: give it back its expiry too.
    const args = putBack.flatMap(({ payload, score }) => [score, payload]);
    const put = reader.host
      .commands([
        ['zadd', reader.key, ...args],
        ['expire', reader.key, Math.ceil(this.options.expiry)],
      ])
      .catch((error: unknown) => {
        this.logger.error(
          { err: error, channel, count: putBack.length },
          'could not put back popped messages',
        );
      })
      .finally(() => this.pendingPutBacks.delete(put));
    this.pendingPutBacks.add(put);
  }

  private decode(payload: Buffer) {
    try {
      return this.codec.decode(payload);
    } catch (error) {
      if (!(error instanceof MalformedPayload)) throw error;
      this.stats.malformed++;
      this.logger.error({ err: error }, 'skipped a malformed message');
      return undefined;
    }
  }

  protected override get shardCount(): number {
    return this.hosts.length;
  }

  private hostFor(name: string): RedisHost {
    return this.hosts[consistentHash(name, this.hosts.length)]!;
  }

  private nextSendHost(): RedisHost {
    const host = this.hosts[this.sendCursor]!;
    this.sendCursor = (this.sendCursor + 1) % this.hosts.length;
    return host;
  }

  private groupKey(group: string): string {
    return `${this.prefix}:group:${group}`;
  }
}

/** A body's entries as a Buffer view (ioredis sends Buffers as they are). */
function bytesOf(body: EncodedBody): Buffer {
  return Buffer.from(body.entries.buffer, body.entries.byteOffset, body.entries.length);
}
