import type { ChannelLayer } from '../layer/types.js';

/** One sample: its labels as written (`{status="200"}`, or '' for none) and its value. */
export type Sample = [labels: string, value: number];

/** A page in the Prometheus text exposition format (version 0.0.4). */
export class Exposition {
  private readonly lines: string[] = [];

  metric(name: string, type: 'counter' | 'gauge', help: string, samples: Sample[]): this {
    this.lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const [labels, value] of samples) this.lines.push(`${name}${labels} ${value}`);
    return this;
  }

  /** The channel layer's counters and health, as every Gredis process has them. */
  layer(layer: ChannelLayer): this {
    const stats = layer.stats;
    return this.metric(
      'gredis_layer_round_trips_total',
      'counter',
      'Round trips to the channel layer backend.',
      [['', stats.roundTrips]],
    )
      .metric(
        'gredis_layer_round_trip_seconds_total',
        'counter',
        'Time spent in layer round trips.',
        [['', Number(stats.roundTripSeconds.toFixed(6))]],
      )
      .metric(
        'gredis_layer_buffer_drops_total',
        'counter',
        'Messages dropped from full local buffers.',
        [['', stats.bufferDrops]],
      )
      .metric(
        'gredis_layer_malformed_messages_total',
        'counter',
        'Stored messages that could not be decoded, logged and skipped.',
        [['', stats.malformed]],
      )
      .metric('gredis_layer_up', 'gauge', '1 when every layer host is connected.', [
        ['', layer.health().ok ? 1 : 0],
      ]);
  }

  /** The process's memory and CPU, under the names Prometheus's own clients use. */
  process(): this {
    const cpu = process.cpuUsage();
    return this.metric(
      'process_resident_memory_bytes',
      'gauge',
      'Resident memory size in bytes.',
      residentMemory(),
    ).metric('process_cpu_seconds_total', 'counter', 'User and system CPU time spent.', [
      ['', (cpu.user + cpu.system) / 1e6],
    ]);
  }

  text(): string {
    return `${this.lines.join('\n')}\n`;
  }
}

/**
 * The resident set size, or no sample when it cannot be read. Node reads it
 * from /proc/self/stat, a file to open: a process out of descriptors (as many
 * clients as its limit allows) gets EMFILE, which thrown from the metrics
 * handler took the whole process down at the moment its metrics mattered most.
 */
function residentMemory(): Sample[] {
  try {
    return [['', process.memoryUsage.rss()]];
  } catch {
    return [];
  }
}

/** `{name="value"}`, the value escaped as the format wants. */
export function label(name: string, value: string): string {
  return `{${name}="${value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"}`;
}
