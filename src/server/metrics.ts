import type { ChannelLayer } from '../layer/types.js';

/** Counters Thyme keeps for its metrics endpoint; plain fields, cheap to bump on the hot path. */
export class ThymeMetrics {
  websocketsOpen = 0;
  websocketsAccepted = 0;
  websocketsRejected = 0;
  websocketMessagesIn = 0;
  websocketMessagesOut = 0;
  websocketsClosedSlow = 0;
  websocketMessagesHeld = 0;
  websocketMessagesDropped = 0;
  httpRequests = 0;
  httpInFlight = 0;
  httpResponses = new Map<number, number>();
  httpResponsesCutOff = 0;
  layerSendFailures = 0;

  countResponse(status: number): void {
    this.httpResponses.set(status, (this.httpResponses.get(status) ?? 0) + 1);
  }

  /** The Prometheus text exposition format (version 0.0.4). */
  render(layer: ChannelLayer): string {
    const lines: string[] = [];
    const metric = (
      name: string,
      type: 'counter' | 'gauge',
      help: string,
      samples: [string, number][],
    ): void => {
      lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
      for (const [labels, value] of samples) lines.push(`${name}${labels} ${value}`);
    };
    metric('gredis_websockets_open', 'gauge', 'WebSocket connections currently open.', [
      ['', this.websocketsOpen],
    ]);
    metric('gredis_websockets_accepted_total', 'counter', 'WebSocket handshakes accepted.', [
      ['', this.websocketsAccepted],
    ]);
    metric('gredis_websockets_rejected_total', 'counter', 'WebSocket handshakes refused.', [
      ['', this.websocketsRejected],
    ]);
    metric(
      'gredis_websockets_closed_slow_total',
      'counter',
      'WebSockets closed 1013 as slow clients.',
      [['', this.websocketsClosedSlow]],
    );
    metric(
      'gredis_websocket_messages_held_total',
      'counter',
      'WebSocket messages held back to keep a client to its message rate.',
      [['', this.websocketMessagesHeld]],
    );
    metric(
      'gredis_websocket_messages_dropped_total',
      'counter',
      'WebSocket messages over their rate dropped because the socket was closing or closed.',
      [['', this.websocketMessagesDropped]],
    );
    metric(
      'gredis_websocket_messages_in_total',
      'counter',
      'WebSocket messages received from clients.',
      [['', this.websocketMessagesIn]],
    );
    metric(
      'gredis_websocket_messages_out_total',
      'counter',
      'WebSocket messages sent to clients.',
      [['', this.websocketMessagesOut]],
    );
    metric('gredis_http_requests_total', 'counter', 'HTTP requests received.', [
      ['', this.httpRequests],
    ]);
    metric('gredis_http_requests_in_flight', 'gauge', 'HTTP requests awaiting their response.', [
      ['', this.httpInFlight],
    ]);
    metric(
      'gredis_http_responses_total',
      'counter',
      'HTTP responses by status.',
      [...this.httpResponses]
        .sort(([a], [b]) => a - b)
        .map(([status, n]) => [`{status="${status}"}`, n]),
    );
    metric(
      'gredis_http_responses_cut_off_total',
      'counter',
      'Streamed HTTP responses cut off when the next chunk did not come within the HTTP timeout.',
      [['', this.httpResponsesCutOff]],
    );
    metric(
      'gredis_layer_send_failures_total',
      'counter',
      'Layer sends that failed (full or unavailable).',
      [['', this.layerSendFailures]],
    );
    const stats = layer.stats;
    metric(
      'gredis_layer_round_trips_total',
      'counter',
      'Round trips to the channel layer backend.',
      [['', stats.roundTrips]],
    );
    metric('gredis_layer_round_trip_seconds_total', 'counter', 'Time spent in layer round trips.', [
      ['', Number(stats.roundTripSeconds.toFixed(6))],
    ]);
    metric(
      'gredis_layer_buffer_drops_total',
      'counter',
      'Messages dropped from full local buffers.',
      [['', stats.bufferDrops]],
    );
    metric('gredis_layer_up', 'gauge', '1 when every layer host is connected.', [
      ['', layer.health().ok ? 1 : 0],
    ]);
    const memory = process.memoryUsage();
    metric('process_resident_memory_bytes', 'gauge', 'Resident memory size in bytes.', [
      ['', memory.rss],
    ]);
    const cpu = process.cpuUsage();
    metric('process_cpu_seconds_total', 'counter', 'User and system CPU time spent.', [
      ['', (cpu.user + cpu.system) / 1e6],
    ]);
    return `${lines.join('\n')}\n`;
  }
}
