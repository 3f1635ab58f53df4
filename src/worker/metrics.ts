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
  private readonly stale = new PerChannel();

  /** An event of `channel` ran for `seconds`; `failed` when its handling threw. */
  count(channel: string, seconds: number, failed: boolean): void {
    this.handled.add(channel, 1);
    this.seconds.add(channel, seconds);
    if (failed) this.failed.add(channel, 1);
  }

  /** A copy of a socket event of `channel` that had already run (SocketDispatcher.handle): dropped. */
  countStale(channel: string): void {
    this.stale.add(channel, 1);
  }

  /** The /metrics page: these counts, `running` events now, the layer's and the process's figures. */
  render(layer: ChannelLayer, running: number): string {
    return new Exposition()
      .metric(
        'gredis_worker_events_total',
        'counter',
        `Events handled, by channel, each once as it runs: a socket event as the finish of the one before hands it over, too (${RESCUED}: a dead worker's socket events run again).`,
        this.handled.samples(),
      )
      .metric(
        'gredis_worker_stale_events_total',
        'counter',
        "Copies of socket events taken off their channel after the event ran from its socket's lane (where Thyme deposits each event as it sends it; the finish of the event before ran it), by channel: dropped, not counted as handled.",
        this.stale.samples(),
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
        "Time spent handling events, by channel (a socket's events handed over, one by the finish of the one before, count under the first's).",
        this.seconds.samples(true),
      )
      .metric('gredis_worker_events_running', 'gauge', 'Events being handled now.', [['', running]])
      .layer(layer)
      .process()
      .text();
  }
}
