import type { ChannelLayer } from '../layer/types.js';
import { Exposition, label } from '../metrics/exposition.js';

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
  connectionsOpen = 0;
  connectionsRefused = 0;

  countResponse(status: number): void {
    this.httpResponses.set(status, (this.httpResponses.get(status) ?? 0) + 1);
  }

  /** The /metrics page: these counters, the layer's and the process's. */
  render(layer: ChannelLayer): string {
    return new Exposition()
      .metric('gredis_websockets_open', 'gauge', 'WebSocket connections currently open.', [
        ['', this.websocketsOpen],
      ])
      .metric('gredis_websockets_accepted_total', 'counter', 'WebSocket handshakes accepted.', [
        ['', this.websocketsAccepted],
      ])
      .metric('gredis_websockets_rejected_total', 'counter', 'WebSocket handshakes refused.', [
        ['', this.websocketsRejected],
      ])
      .metric(
        'gredis_websockets_closed_slow_total',
        'counter',
        'WebSockets closed 1013 as slow clients.',
        [['', this.websocketsClosedSlow]],
      )
      .metric(
        'gredis_websocket_messages_held_total',
        'counter',
        'WebSocket messages held back to keep a client to its message rate.',
        [['', this.websocketMessagesHeld]],
      )
      .metric(
        'gredis_websocket_messages_dropped_total',
        'counter',
        'WebSocket messages over their rate dropped because the socket was closing or closed.',
        [['', this.websocketMessagesDropped]],
      )
      .metric(
        'gredis_websocket_messages_in_total',
        'counter',
        'WebSocket messages received from clients.',
        [['', this.websocketMessagesIn]],
      )
      .metric(
        'gredis_websocket_messages_out_total',
        'counter',
        'WebSocket messages sent to clients.',
        [['', this.websocketMessagesOut]],
      )
      .metric('gredis_connections_open', 'gauge', 'Client connections open (HTTP and WebSocket).', [
        ['', this.connectionsOpen],
      ])
      .metric(
        'gredis_connections_refused_total',
        'counter',
        'Client connections refused as over --max-connections.',
        [['', this.connectionsRefused]],
      )
      .metric(
        'gredis_http_requests_total',
        'counter',
        'HTTP requests received, each answered (gredis_http_responses_total) or in flight; unparsable ones, CONNECT and connections refused by --max-connections included.',
        [['', this.httpRequests]],
      )
      .metric('gredis_http_requests_in_flight', 'gauge', 'HTTP requests awaiting their response.', [
        ['', this.httpInFlight],
      ])
      .metric(
        'gredis_http_responses_total',
        'counter',
        'HTTP responses by status.',
        [...this.httpResponses]
          .sort(([a], [b]) => a - b)
          .map(([status, n]) => [label('status', String(status)), n]),
      )
      .metric(
        'gredis_http_responses_cut_off_total',
        'counter',
        'Streamed HTTP responses cut off when the next chunk did not come within the HTTP timeout.',
        [['', this.httpResponsesCutOff]],
      )
      .metric(
        'gredis_layer_send_failures_total',
        'counter',
        'Layer sends that failed (full or unavailable).',
        [['', this.layerSendFailures]],
      )
      .layer(layer)
      .process()
      .text();
  }
}
