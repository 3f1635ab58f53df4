import type { Logger } from '../logger.js';
import { applyEffects, logEffectFailure, type EffectTarget } from './effects.js';
import { assertMessage, copyMessage } from './message.js';
import {
  MAX_WAITING_EVENTS,
  type Counters,
  type LaneClaim,
  type LaneEffect,
  type LaneFinishOptions,
  type Lanes,
  type LaneTurn,
  type Message,
} from './types.js';

/** An event waiting in its lane; `takeBack` removes its channel copy, if it has one still queued. */
interface Parked {
  event: Message;
  takeBack?: () => void;
}

interface Lane {
  next: number;
  running: boolean;
  state: Message | undefined;
  parked: Map<number, Parked>;
}

/** What the lanes need of the in-process layer: effects, and sends whose copy can be taken back. */
export interface MemoryLanesTarget extends EffectTarget {
  sendTakingBack(channel: string, message: Message): Promise<() => void>;
}

/**
 * Lanes for the in-process layer. One process means no other process can die
 * holding a turn and nothing arrives out of order, so no rescue is ever needed.
 */
export class MemoryLanes implements Lanes {
  private readonly lanes = new Map<string, Lane>();

  constructor(
    private readonly layer: MemoryLanesTarget,
    private readonly logger: Logger,
  ) {}

  async announce(lane: string, order: number, event: Message): Promise<void> {
    this.deposit(lane, order, event);
  }

  private deposit(lane: string, order: number, event: Message, takeBack?: () => void): void {
    const entry = this.entry(lane);
    if (isPast(entry, order) || entry.parked.size >= MAX_WAITING_EVENTS) return;
    if (!entry.parked.has(order)) entry.parked.set(order, { event: copyMessage(event), takeBack });
  }

  async announceAndSend(
    lane: string,
    order: number,
    event: Message,
    channel: string,
  ): Promise<void> {
    // As on Redis (dropCopy in lane-scripts.ts): an event a finish runs from
    // its deposit has its channel copy taken back, rather than left for a
    // receive to find stale, filling the channel while the workers are behind.
    this.deposit(lane, order, event, await this.layer.sendTakingBack(channel, event));
  }

  async claim(lane: string, order: number, event: Message): Promise<LaneClaim> {
    const entry = this.entry(lane);
    if (isPast(entry, order)) return { kind: 'stale' };
    if (order === entry.next) {
      entry.running = true;
      // Its announced copy is not needed any more: the caller runs the one it has.
      entry.parked.delete(order);
      return { kind: 'run', state: handedOut(entry.state) };
    }
    entry.parked.set(order, { event });
    return { kind: 'parked' };
  }

  async apply(_lane: string, _order: number, effects: readonly LaneEffect[]): Promise<void> {
    // One process: no other can take a turn over, so there is no turn to check.
    await applyEffects(this.layer, effects);
  }

  async finish(
    lane: string,
    order: number,
    state: Message | undefined,
    { end = false, effects = [] }: LaneFinishOptions = {},
  ): Promise<LaneTurn | undefined> {
    // Refused before anything is done, as the Redis layer refuses what it cannot
    // encode: a state only this process could keep would work here and not there.
    if (state !== undefined) assertMessage(state, 'state');
    const entry = this.lanes.get(lane);
    if (!entry || !entry.running || entry.next !== order) return undefined;
    // The lane stays this turn's while its effects are applied: nothing else runs it.
    await applyEffects(this.layer, effects).catch((error: unknown) =>
      logEffectFailure(this.logger, lane, error),
    );
    if (end) {
      this.lanes.delete(lane);
      return undefined;
    }
    if (state !== undefined) entry.state = state;
    entry.next = order + 1;
    const parked = entry.parked.get(entry.next);
    if (parked === undefined) {
      entry.running = false;
      return undefined;
    }
    entry.parked.delete(entry.next);
    parked.takeBack?.();
    return { lane, order: entry.next, event: parked.event, state: handedOut(state) };
  }

  private entry(lane: string): Lane {
    let entry = this.lanes.get(lane);
    if (!entry) {
      entry = { next: 0, running: false, state: undefined, parked: new Map() };
      this.lanes.set(lane, entry);
    }
    return entry;
  }

  async handBack(turn: LaneTurn, channel: string): Promise<void> {
    const entry = this.lanes.get(turn.lane);
    if (!entry || !entry.running || entry.next !== turn.order) return;
    entry.running = false;
    entry.parked.set(turn.order, { event: turn.event });
    await this.layer.send(channel, turn.event);
  }

  onRescue(): void {
    // Nothing is ever rescued in one process.
  }

  async stopRescue(): Promise<void> {
    // Nothing is ever rescued in one process.
  }

  reapOrphans(): void {
    // A holder of this layer's lanes is this process: none outlives it.
  }

  async release(): Promise<void> {
    // Nobody looks for this layer's lanes (see reapOrphans).
  }
}

/** Whether event `order`'s turn has come and gone, or is running now. */
function isPast(entry: Lane, order: number): boolean {
  return order < entry.next || (order === entry.next && entry.running);
}

export class MemoryCounters implements Counters {
  private readonly counts = new Map<string, { count: number; until: number }>();

  async increment(key: string, windowSeconds: number): Promise<number> {
    const now = Date.now();
    const entry = this.counts.get(key);
    if (!entry || entry.until <= now) {
      if (this.counts.size > 100_000) this.sweep(now);
      this.counts.set(key, { count: 1, until: now + windowSeconds * 1000 });
      return 1;
    }
    return ++entry.count;
  }

  async decrement(key: string): Promise<number> {
    const entry = this.counts.get(key);
    if (!entry || entry.until <= Date.now() || entry.count <= 1) {
      this.counts.delete(key);
      return 0;
    }
    return --entry.count;
  }

  async get(key: string): Promise<number> {
    const entry = this.counts.get(key);
    return entry && entry.until > Date.now() ? entry.count : 0;
  }

  async reset(key: string): Promise<void> {
    this.counts.delete(key);
  }

  private sweep(now: number): void {
    for (const [key, entry] of this.counts) if (entry.until <= now) this.counts.delete(key);
  }
}

/**
 * A state as a turn gets it: a copy, as Redis hands out a decoded one, so that
 * what a turn changes is saved only by its finish, and a finish that keeps the
 * lane's state (a state refused) keeps the one saved before the turn.
 */
function handedOut(state: Message | undefined): Message | undefined {
  return state === undefined ? undefined : copyMessage(state);
}
