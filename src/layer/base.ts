import { randomUUID } from 'node:crypto';
import { silentLogger, type Logger } from '../logger.js';
import { ForeignChannel, LayerClosed } from './errors.js';
import { consistentHash } from './hash.js';
import { LocalChannels } from './local-channels.js';
import { assertChannelName, belongsTo, CapacityTable, isProcessSpecific } from './names.js';
import { resolveOptions, type LayerOptions, type ResolvedLayerOptions } from './options.js';
import type {
  ChannelLayer,
  Counters,
  Lanes,
  LayerHealth,
  LayerStats,
  Message,
  ReceiveOptions,
} from './types.js';

/**
 * What both layer implementations share: options, naming, the local
 * demultiplexer and the send clock. Subclasses supply storage and transport.
 */
export abstract class BaseChannelLayer implements ChannelLayer {
  readonly prefix: string;
  readonly groupExpiry: number;
  readonly clientPrefix = randomUUID().replaceAll('-', '');
  readonly stats: LayerStats = { roundTrips: 0, roundTripSeconds: 0, bufferDrops: 0, malformed: 0 };

  protected readonly options: ResolvedLayerOptions;
  protected readonly logger: Logger;
  protected readonly capacities: CapacityTable;
  protected readonly local: LocalChannels;
  protected closed = false;

  private readonly storageLostListeners = new Set<(host: string) => void>();
  private lastScore = 0;
  private channelCounter = 0;

  constructor(options: Partial<LayerOptions> = {}) {
    this.options = resolveOptions(options);
    this.prefix = this.options.prefix;
    this.groupExpiry = this.options.groupExpiry;
    this.logger = (this.options.logger ?? silentLogger()).child({ component: 'layer' });
    this.capacities = new CapacityTable(this.options.capacity, this.options.channelCapacity);
    this.local = new LocalChannels(
      (c) => this.capacities.of(c),
      () => this.now(),
      this.options.expiry,
      this.stats,
      this.logger,
    );
  }

  onStorageLost(listener: (host: string) => void): void {
    this.storageLostListeners.add(listener);
  }

  protected storageLost(host: string): void {
    for (const listener of this.storageLostListeners) {
      try {
        listener(host);
      } catch (error) {
        this.logger.error({ err: error }, 'a storage-lost listener failed');
      }
    }
  }

  abstract readonly lanes: Lanes;
  abstract readonly counters: Counters;

  abstract send(channel: string, message: Message): Promise<void>;
  abstract groupAdd(group: string, channel: string): Promise<void>;
  abstract groupDiscard(group: string, channel: string): Promise<void>;
  abstract groupSend(group: string, message: Message): Promise<number>;
  abstract flush(): Promise<void>;
  abstract close(): Promise<void>;
  abstract health(): LayerHealth;
  abstract whenReady(): Promise<void>;

  /** Starts reading the process key (the non-local name) that `channel` lives under. */
  protected abstract readProcessKey(nonLocal: string): void;
  /** Receives from a channel shared by every process. */
  protected abstract receivePlain(channel: string, options?: ReceiveOptions): Promise<Message>;

  async receive(channel: string, options?: ReceiveOptions): Promise<Message> {
    this.assertOpen();
    assertChannelName(channel);
    if (!isProcessSpecific(channel)) return this.receivePlain(channel, options);
    if (!belongsTo(channel, this.clientPrefix))
      throw new ForeignChannel(channel, this.clientPrefix);
    const received = this.local.receive(channel, options);
    this.readProcessKey(channel.slice(0, channel.indexOf('!') + 1));
    return received;
  }

  /**
   * The name's unique part is chosen so that the full name hashes to the host of
   * its process key: channels_redis 4 sends to a process-specific channel on the
   * host its full name hashes to (its bug #221) while both it and Gredis read
   * the process key on the host its non-local part hashes to, so with several
   * hosts a Python send to any other name is lost. About `shardCount` CRC32s of
   * a short name, none with one host.
   */
  async newChannel(prefix = 'specific'): Promise<string> {
    this.assertOpen();
    const processKey = `${prefix}.${this.clientPrefix}!`;
    const shard = consistentHash(processKey, this.shardCount);
    let name: string;
    do {
      name = processKey + (++this.channelCounter).toString(36);
    } while (consistentHash(name, this.shardCount) !== shard);
    assertChannelName(name);
    this.local.open(name);
    return name;
  }

  listen(channel: string, listener: (message: Message) => void): void {
    this.assertOpen();
    assertChannelName(channel);
    if (!isProcessSpecific(channel) || !belongsTo(channel, this.clientPrefix)) {
      throw new ForeignChannel(channel, this.clientPrefix);
    }
    this.local.listen(channel, listener);
    this.readProcessKey(channel.slice(0, channel.indexOf('!') + 1));
  }

  releaseChannel(channel: string): void {
    this.local.release(channel);
  }

  /** How many hosts process keys are sharded across (see newChannel). */
  protected get shardCount(): number {
    return 1;
  }

  protected assertOpen(): void {
    if (this.closed) throw new LayerClosed();
  }

  /**
   * The score of a message sent now: wall-clock seconds, strictly increasing within
   * this process so that messages one process sends keep their order in a sorted set.
   */
  protected nextScore(): number {
    const now = this.now();
    this.lastScore = now > this.lastScore ? now : this.lastScore + 1e-6;
    return this.lastScore;
  }

  /** Messages scored before this are expired. */
  protected expiryCutoff(): number {
    return this.now() - this.options.expiry;
  }

  protected groupCutoff(): number {
    return this.now() - this.options.groupExpiry;
  }

  /**
   * Epoch seconds, the clock of every score and cutoff: this host's, unless the
   * backend has one that all its processes share (see ServerClock).
   */
  protected now(): number {
    return Date.now() / 1000;
  }
}
