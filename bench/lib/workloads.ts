/**
 * The workloads of the layer benchmark and the shape of their results. These
 * objects are also the JSON contract with bench/python/layer_bench.py, which runs
 * the same workloads through channels_redis: change both together.
 */

/** Send + receive between two layers (two simulated processes) on one channel. */
export interface SendWorkload {
  kind: 'send';
  /** `plain`: a shared channel (a worker queue); `specific`: the receiver's `x.<proc>!<n>`. */
  channel: 'plain' | 'specific';
  /** Messages sent but not yet received, at most. */
  window: number;
  /** Length of the `text` of each message. */
  textLength: number;
  /** Messages run (untimed) first: connections, scripts, JIT. */
  warmup: number;
  /** Timed part. */
  seconds: number;
}

/** groupSend from one layer to members spread over `processes` receiving layers. */
export interface GroupWorkload {
  kind: 'group';
  members: number;
  processes: number;
  /**
   * `specific`: members are process-specific channels, so a group send stores one
   * copy per receiving process; `plain`: each member is a plain channel, its own key.
   */
  memberKind: 'specific' | 'plain';
  /** Group sends issued but not yet received by every member, at most. */
  window: number;
  textLength: number;
  warmup: number;
  seconds: number;
}

export type Workload = SendWorkload | GroupWorkload;

/** What one implementation measured for one workload (timed part only). */
export interface WorkloadResult {
  /** Messages received (send) or group sends fully delivered (group). */
  operations: number;
  /** Messages received by the receivers' receive loops, counted one per member. */
  deliveries: number;
  /** Wall time from the first send to the last delivery. */
  seconds: number;
  deliveriesPerSecond: number;
  operationsPerSecond: number;
  /** Redis round trips the sending layer made, per send or group send. */
  roundTripsPerOperation: number;
  /** Group members skipped because their channel was full (should be 0). */
  skipped: number;
}

export function workloadLabel(workload: Workload): string {
  if (workload.kind === 'send') return `send+receive, ${workload.channel} channel`;
  const where =
    workload.memberKind === 'specific'
      ? `${workload.processes} processes`
      : `own key each, ${workload.processes} processes`;
  return `groupSend ${workload.members} members (${where})`;
}

/** A `{"type": …, "text": …}` body of about `length` characters. */
export function messageText(length: number): string {
  const base = 'The quick brown fox jumps over the lazy dog. ';
  return base.repeat(Math.ceil(length / base.length)).slice(0, length);
}

export function summarise(
  operations: number,
  deliveries: number,
  seconds: number,
  roundTrips: number,
  skipped: number,
): WorkloadResult {
  return {
    operations,
    deliveries,
    seconds,
    deliveriesPerSecond: deliveries / seconds,
    operationsPerSecond: operations / seconds,
    roundTripsPerOperation: operations === 0 ? 0 : roundTrips / operations,
    skipped,
  };
}
