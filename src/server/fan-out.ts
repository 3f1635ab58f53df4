import type { Duplex } from 'node:stream';
import type { Message } from '../layer/types.js';
import { parseWebSocketReply, type WebSocketReply } from '../protocol.js';

/** A reply as sockets need it: parsed once, its data frame built once. */
export interface PreparedReply {
  reply: WebSocketReply;
  /** The complete WebSocket frame for its text or bytes; undefined when it has none. */
  frame: Buffer | undefined;
}

/**
 * Most replies reach a Thyme process as one layer message for many sockets (a
 * group send). FanOut parses such a message and builds its WebSocket frame once,
 * however many sockets it goes to, and corks every socket it writes to until the
 * end of the current turn of the event loop, so that all the frames a socket
 * gets in one burst leave in one write (one syscall) instead of one each.
 */
export class FanOut {
  // One entry is enough: the layer hands a group message to its sockets one after
  // the other, synchronously.
  private lastMessage: Message | undefined;
  private lastPrepared: PreparedReply | undefined;
  private readonly corked = new Set<Duplex>();
  private flushScheduled = false;

  /** Throws ProtocolViolation for a reply that breaks protocol.md. */
  prepare(message: Message): PreparedReply {
    if (message === this.lastMessage) return this.lastPrepared!;
    const reply = parseWebSocketReply(message);
    let frame: Buffer | undefined;
    if (reply.text !== undefined) frame = dataFrame(Buffer.from(reply.text, 'utf8'), false);
    else if (reply.bytes !== undefined) frame = dataFrame(reply.bytes, true);
    this.lastMessage = message;
    this.lastPrepared = { reply, frame };
    return this.lastPrepared;
  }

  /** Writes a prepared frame to `socket`, held with the others until this turn ends. */
  write(socket: Duplex, frame: Buffer): void {
    if (!this.corked.has(socket) && !socket.destroyed) {
      socket.cork();
      this.corked.add(socket);
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        setImmediate(this.flush);
      }
    }
    socket.write(frame);
  }

  private readonly flush = (): void => {
    this.flushScheduled = false;
    for (const socket of this.corked) socket.uncork();
    this.corked.clear();
  };
}

/**
 * An unmasked, unfragmented data frame (RFC 6455 §5.2): what a server sends. Built
 * here rather than by ws per socket so that one buffer serves every socket.
 */
export function dataFrame(payload: Uint8Array, binary: boolean): Buffer {
  const length = payload.length;
  const headerLength = length < 126 ? 2 : length < 0x10000 ? 4 : 10;
  const frame = Buffer.allocUnsafe(headerLength + length);
  frame[0] = 0x80 | (binary ? 0x2 : 0x1);
  if (length < 126) frame[1] = length;
  else if (length < 0x10000) {
    frame[1] = 126;
    frame.writeUInt16BE(length, 2);
  } else {
    frame[1] = 127;
    frame.writeUInt32BE(Math.floor(length / 2 ** 32), 2);
    frame.writeUInt32BE(length >>> 0, 6);
  }
  frame.set(payload, headerLength);
  return frame;
}
