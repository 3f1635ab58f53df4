import { createLayer, type ChannelLayer, type Message } from '../../src/index.js';
import { ClosedLoop } from './closed-loop.js';
import {
  messageText,
  summarise,
  type GroupWorkload,
  type SendWorkload,
  type Workload,
  type WorkloadResult,
} from './workloads.js';

/** Runs one workload through Gredis layers using `prefix`, which must be unused. */
export function runGredis(
  url: string,
  prefix: string,
  workload: Workload,
): Promise<WorkloadResult> {
  return workload.kind === 'send'
    ? runSend(url, prefix, workload)
    : runGroup(url, prefix, workload);
}

/**
 * Every layer of a workload, closed together. Each layer stands for one process:
 * its own connections, its own client prefix and process key.
 */
class Processes {
  readonly layers: ChannelLayer[] = [];
  stopping = false;

  constructor(
    private readonly url: string,
    private readonly prefix: string,
  ) {}

  make(): ChannelLayer {
    const layer = createLayer(this.url, { prefix: this.prefix });
    this.layers.push(layer);
    return layer;
  }

  /**
   * Receives on `channel` until the layers close, handing each message to `handle`.
   * A sequential loop, as a consumer or a worker reads its channel.
   */
  receiveLoop(
    layer: ChannelLayer,
    channel: string,
    handle: (message: Message) => void,
    onError: (error: unknown) => void,
  ): void {
    void (async () => {
      for (;;) {
        let message: Message;
        try {
          message = await layer.receive(channel);
        } catch (error) {
          if (!this.stopping) onError(error);
          return;
        }
        handle(message);
      }
    })();
  }

  async close(): Promise<void> {
    this.stopping = true;
    await Promise.all(this.layers.map((layer) => layer.close()));
  }
}

/** What a workload's run has counted so far: read before and after its timed part. */
interface Tally {
  deliveries: number;
  /** The sending layer's Redis round trips. */
  roundTrips: number;
  /** Group members skipped as full. */
  skipped: number;
}

/**
 * Issues `workload.warmup` units untimed on `current.loop`, then times
 * `workload.seconds` on a fresh loop put in its place (a loop counts from its
 * first unit; the receivers complete units on whichever loop `current` holds):
 * the result is of the timed part alone. bench/python/layer_bench.py's
 * warm_then_time does the same for channels_redis.
 */
async function warmThenTime(
  workload: Workload,
  current: { loop: ClosedLoop },
  issue: () => Promise<unknown>,
  tally: () => Tally,
): Promise<WorkloadResult> {
  await current.loop.run({ units: workload.warmup }, issue);
  current.loop = new ClosedLoop(workload.window);
  const before = tally();
  const timed = await current.loop.run({ seconds: workload.seconds }, issue);
  const after = tally();
  return summarise(
    timed.units,
    after.deliveries - before.deliveries,
    timed.seconds,
    after.roundTrips - before.roundTrips,
    after.skipped - before.skipped,
  );
}

async function runSend(
  url: string,
  prefix: string,
  workload: SendWorkload,
): Promise<WorkloadResult> {
  const processes = new Processes(url, prefix);
  try {
    const sender = processes.make();
    const receiver = processes.make();
    const channel =
      workload.channel === 'plain' ? 'bench.requests' : await receiver.newChannel('bench');
    const message: Message = { type: 'websocket.receive', text: messageText(workload.textLength) };
    const current = { loop: new ClosedLoop(workload.window) };
    let deliveries = 0;
    processes.receiveLoop(
      receiver,
      channel,
      (received) => {
        if (received.type !== 'websocket.receive') {
          current.loop.fail(new Error(`unexpected message ${JSON.stringify(received)}`));
          return;
        }
        deliveries++;
        current.loop.complete();
      },
      (error) => current.loop.fail(error),
    );
    const send = () => sender.send(channel, message);
    return await warmThenTime(workload, current, send, () => ({
      deliveries,
      roundTrips: sender.stats.roundTrips,
      skipped: 0,
    }));
  } finally {
    await processes.close();
  }
}

/** How many group joins run at once during setup (not timed). */
const JOIN_BATCH = 200;

async function runGroup(
  url: string,
  prefix: string,
  workload: GroupWorkload,
): Promise<WorkloadResult> {
  const processes = new Processes(url, prefix);
  try {
    // The sender stands for a worker; the receivers for interface servers whose
    // sockets joined the group.
    const sender = processes.make();
    const receivers = Array.from({ length: workload.processes }, () => processes.make());
    const group = `room-${workload.members}`;
    const members: { layer: ChannelLayer; channel: string }[] = [];
    for (let i = 0; i < workload.members; i++) {
      const layer = receivers[i % receivers.length]!;
      const channel =
        workload.memberKind === 'specific' ? await layer.newChannel('bench') : `bench.member${i}`;
      members.push({ layer, channel });
    }
    for (let i = 0; i < members.length; i += JOIN_BATCH) {
      await Promise.all(
        members
          .slice(i, i + JOIN_BATCH)
          .map(({ layer, channel }) => layer.groupAdd(group, channel)),
      );
    }

    const current = { loop: new ClosedLoop(workload.window) };
    // Members still to receive each group send, by its sequence number.
    const pending = new Map<number, number>();
    let deliveries = 0;
    let skipped = 0;
    const delivered = (seq: number, count: number): void => {
      const left = pending.get(seq);
      if (left === undefined) {
        current.loop.fail(new Error(`delivery of unknown or finished group send #${seq}`));
        return;
      }
      if (left > count) {
        pending.set(seq, left - count);
        return;
      }
      pending.delete(seq);
      current.loop.complete();
    };
    for (const { layer, channel } of members) {
      processes.receiveLoop(
        layer,
        channel,
        (received) => {
          const seq = received.seq;
          if (typeof seq !== 'number' || received.type !== 'chat.message') {
            current.loop.fail(new Error(`unexpected message ${JSON.stringify(received)}`));
            return;
          }
          deliveries++;
          delivered(seq, 1);
        },
        (error) => current.loop.fail(error),
      );
    }

    const text = messageText(workload.textLength);
    let nextSeq = 0;
    const groupSend = async (): Promise<void> => {
      const seq = nextSeq++;
      // Registered before sending: a member may receive before groupSend resolves.
      pending.set(seq, members.length);
      const full = await sender.groupSend(group, { type: 'chat.message', text, seq });
      if (full > 0) {
        skipped += full;
        delivered(seq, full);
      }
    };
    return await warmThenTime(workload, current, groupSend, () => ({
      deliveries,
      roundTrips: sender.stats.roundTrips,
      skipped,
    }));
  } finally {
    await processes.close();
  }
}
