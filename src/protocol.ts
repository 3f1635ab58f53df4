/**
 * The messages Thyme and the workers exchange over the layer (protocol.md): their
 * channel names, exact keys and value types, and checks for replies coming back.
 * Shared by src/server and src/worker; depends on nothing but layer types.
 */
import type { Message, MessageValue } from './layer/types.js';

export const CHANNELS = Object.freeze({
  httpRequest: 'http.request',
  httpDisconnect: 'http.disconnect',
  websocketConnect: 'websocket.connect',
  websocketReceive: 'websocket.receive',
  websocketDisconnect: 'websocket.disconnect',
});

/** Every channel Thyme sends events on; what a worker listens to by default. */
export const EVENT_CHANNELS: readonly string[] = Object.values(CHANNELS);

/**
 * Close code 1012, "service restart" (RFC 6455 §7.4.1, IANA registry): clients
 * reconnect, as after a restart. Used when what the layer kept for a socket (its
 * groups, its connection state) is gone, so that its new connection sets it up again.
 */
export const CLOSE_SERVICE_RESTART = 1012;

/**
 * Close code 1011, "internal error": the server hit a bug (a consumer that threw,
 * a worker's reply that breaks this protocol). Clients may reconnect, but the
 * same request may fail the same way.
 */
export const CLOSE_INTERNAL_ERROR = 1011;

/**
 * Close code 1013, "try again later": something the server needs is away or full
 * for now (the channel layer, the database), or the client does not read. Not a
 * bug: clients reconnect, with backoff.
 */
export const CLOSE_TRY_AGAIN_LATER = 1013;

/**
 * The code of a websocket.disconnect that came without one (ASGI's default:
 * RFC 6455's 1005, no status received). Reported, never sent.
 */
export const DEFAULT_DISCONNECT_CODE = 1005;

/**
 * Which channel a WebSocket event belongs on, from its keys alone: connect is
 * order 0, disconnect has a code, anything else is a receive. (Events waiting in
 * a socket's lane are stored as sent, without their channel.)
 */
export function websocketChannelOf(event: Message): string {
  if (event.order === 0) return CHANNELS.websocketConnect;
  if (event.code !== undefined) return CHANNELS.websocketDisconnect;
  return CHANNELS.websocketReceive;
}

/** `[name, value]` byte pairs, names lower-cased, order and duplicates kept. */
export type HeaderList = [Uint8Array, Uint8Array][];
export type Address = [string, number];

export type HttpRequestEvent = {
  reply_channel: string;
  http_version: string;
  method: string;
  scheme: string;
  path: string;
  query_string: Uint8Array;
  root_path: string;
  headers: HeaderList;
  body: Uint8Array;
  client: Address;
  server: Address;
};

export type HttpDisconnectEvent = { reply_channel: string; path: string };

export type WebSocketConnectEvent = {
  reply_channel: string;
  scheme: string;
  path: string;
  query_string: Uint8Array;
  root_path: string;
  headers: HeaderList;
  client: Address;
  server: Address;
  order: 0;
};

export type WebSocketReceiveEvent = {
  reply_channel: string;
  path: string;
  order: number;
  text?: string;
  bytes?: Uint8Array;
};

export type WebSocketDisconnectEvent = {
  reply_channel: string;
  path: string;
  code: number;
  order: number;
};

/**
 * The disconnect of a socket whose interface server died without sending it
 * (Lanes.reapOrphans): code 1006, abnormal closure. Its path is unknown; the
 * worker has the socket's from its connect.
 */
export function abandonedSocketEvent(
  replyChannel: string,
  order: number,
): WebSocketDisconnectEvent {
  return { reply_channel: replyChannel, path: '', code: 1006, order };
}

/** What a worker may send to a socket's reply channel (any combination). */
export type WebSocketReply = {
  accept?: boolean;
  text?: string;
  bytes?: Uint8Array;
  /** true = close with 1000; a number = close with that code. */
  close?: true | number;
};

/** The first message of an HTTP response; later ones carry only content/more_content. */
export type HttpResponseMessage = {
  status?: number;
  headers?: HeaderList;
  content?: Uint8Array;
  more_content?: boolean;
};

/** A reply that breaks protocol.md; Thyme logs it and fails that one socket or request. */
export class ProtocolViolation extends TypeError {
  readonly code = 'GREDIS_PROTOCOL_VIOLATION' as const;
  constructor(reason: string) {
    super(`reply breaks the protocol: ${reason}`);
    this.name = 'ProtocolViolation';
  }
}

export function parseWebSocketReply(message: Message): WebSocketReply {
  const reply: WebSocketReply = {};
  const { accept, text, bytes, close } = message;
  if (accept !== undefined) {
    if (typeof accept !== 'boolean') throw new ProtocolViolation('"accept" must be a boolean');
    reply.accept = accept;
  }
  if (text !== undefined && text !== null) {
    if (typeof text !== 'string') throw new ProtocolViolation('"text" must be a string');
    reply.text = text;
  }
  if (bytes !== undefined && bytes !== null) {
    if (!(bytes instanceof Uint8Array)) throw new ProtocolViolation('"bytes" must be a byte array');
    reply.bytes = bytes;
  }
  if (reply.text !== undefined && reply.bytes !== undefined) {
    throw new ProtocolViolation('a reply carries "text" or "bytes", not both');
  }
  if (close !== undefined && close !== false) {
    if (close === true) reply.close = true;
    else if (isCloseCode(close)) reply.close = close;
    else
      throw new ProtocolViolation(
        `"close" must be true or a close code a server may send (${SERVER_CLOSE_CODES})`,
      );
  }
  return reply;
}

export function parseHttpResponse(message: Message, first: boolean): HttpResponseMessage {
  const response: HttpResponseMessage = {};
  if (first) {
    const { status } = message;
    // RFC 9110 §15: codes outside 100–599 are invalid, and a client takes one
    // for a 5xx; Node sent up to 999 as given.
    if (typeof status !== 'number' || !Number.isInteger(status) || status < 100 || status > 599) {
      throw new ProtocolViolation('"status" must be an integer HTTP status, 100–599');
    }
    // Sent as the response, a 1xx would be taken by the client for an interim
    // one: it would wait on for the real response, or take the next request's.
    if (status < 200) throw new ProtocolViolation('"status" must be a final status, not 1xx');
    response.status = status;
    response.headers = parseHeaders(message.headers ?? []);
  }
  const { content, more_content: more } = message;
  if (content !== undefined && content !== null) {
    if (!(content instanceof Uint8Array))
      throw new ProtocolViolation('"content" must be a byte array');
    response.content = content;
  }
  if (more !== undefined && more !== null) {
    if (typeof more !== 'boolean') throw new ProtocolViolation('"more_content" must be a boolean');
    response.more_content = more;
  }
  return response;
}

function parseHeaders(value: MessageValue): HeaderList {
  if (!Array.isArray(value))
    throw new ProtocolViolation('"headers" must be a list of [name, value] pairs');
  return value.map((pair: MessageValue) => {
    if (!Array.isArray(pair) || pair.length !== 2)
      throw new ProtocolViolation('each header is a [name, value] pair');
    const [name, headerValue] = pair as MessageValue[];
    return [toBytes(name, 'header name'), toBytes(headerValue, 'header value')];
  });
}

function toBytes(value: MessageValue | undefined, what: string): Uint8Array {
  if (value instanceof Uint8Array) return value;
  // Tolerated from workers in other languages that send text headers.
  if (typeof value === 'string') return Buffer.from(value, 'latin1');
  throw new ProtocolViolation(`${what} must be bytes`);
}

/** The codes isCloseCode accepts, as error messages name them. */
export const SERVER_CLOSE_CODES = '1000–1003, 1007–1009, 1011–1014, 3000–4999';

/**
 * Codes a server may send in a close frame (RFC 6455 §7.4): not 1004 (reserved),
 * 1005, 1006 or 1015 (only ever reported, never sent), nor 1010, which §7.4.1
 * gives the client alone (a server that lacks an extension fails the handshake
 * instead). ws's own check lets 1010 through: it serves clients too.
 */
export function isCloseCode(value: unknown): value is number {
  return (
    typeof value === 'number' &&
    Number.isInteger(value) &&
    ((value >= 1000 && value <= 1014 && ![1004, 1005, 1006, 1010].includes(value)) ||
      (value >= 3000 && value <= 4999))
  );
}
