import type { ChannelLayer } from '../layer/types.js';
import { Exposition, label, type Sample } from '../metrics/exposition.js';
import { appFailures } from './failures.js';

/** The channel label of turns a worker runs for a dead worker's lane (Lanes.onRescue). */
export const RESCUED = 'rescued';

/** Counts per channel, in the order they were first seen. */
class PerChannel {
  private readonly values = new Map<string, number>();

  add(channel: string, amount: number): void {
    this.values.set(channel, (this.values.get(channel) ?? 0) + amount);
  }

  samples(round = false): Sample[] {
    return [...this.values].map(([channel, value]) => [
      label('channel', channel),
      round ? Number(value.toFixed(6)) : value,
    ]);
  }
}

/** What a worker counts for its metrics endpoint; bumped once per event. */
export class WorkerMetrics {
  private readonly handled = new PerChannel();
  private readonly failed = new PerChannel();
  private readonly seconds = new PerChannel();

  /** An event of `channel` ran for `seconds`; `failed` when its handling threw. */
  count(channel: string, seconds: number, failed: boolean): void {
    this.handled.add(channel, 1);
    this.seconds.add(channel, seconds);
    if (failed) this.failed.add(channel, 1);
  }

  /** The /metrics page: these counts, `running` events now, the layer's and the process's figures. */
  render(layer: ChannelLayer, running: number): string {
    return new Exposition()
      .metric(
        'gredis_worker_events_total',
        'counter',
        `Events handled, by channel (${RESCUED}: a dead worker's socket events run again).`,
        this.handled.samples(),
      )
      .metric(
        'gredis_worker_event_failures_total',
        'counter',
        'Events whose handling failed outside the application (e.g. the layer unavailable for its answer), by channel.',
        this.failed.samples(),
      )
      .metric(
        'gredis_worker_app_failures_total',
        'counter',
        'Failures the application answered itself, by cause: database or layer unavailable (a socket closed with 1013), or other (a bug: a socket closed with 1011); pages are 500 for both.',
        appFailures.entries().map(([cause, count]) => [label('cause', cause), count]),
      )
      .metric(
        'gredis_worker_event_seconds_total',
        'counter',
        'Time spent handling events, by channel.',
        this.seconds.samples(true),
      )
      .metric('gredis_worker_events_running', 'gauge', 'Events being handled now.', [['', running]])
      .layer(layer)
      .process()
      .text();
  }
}
