import type { Duplex } from 'node:stream';
import type { Message } from '../layer/types.js';

/**
 * Most replies reach a Thyme process as one layer message for many sockets (a
 * group send). FanOut encodes such a message's text once, however many sockets
 * it goes to, and corks every socket it writes to until the end of the current
 * turn of the event loop, so that all the frames a socket gets in one burst
 * leave in one write (one syscall) instead of one each.
 */
export class FanOut {
  // One entry is enough: a group message is written to its sockets one after the
  // other, and a reply for one socket never needs to be remembered.
  private lastMessage: Message | undefined;
  private lastBytes: Buffer | undefined;
  private readonly corked = new Set<Duplex>();
  private flushScheduled = false;

  /** The UTF-8 bytes of `text`, computed once per message object. */
  textBytes(message: Message, text: string): Buffer {
    if (message !== this.lastMessage) {
      this.lastMessage = message;
      this.lastBytes = Buffer.from(text, 'utf8');
    }
    return this.lastBytes!;
  }

  /** Holds `socket`'s writes until this turn of the event loop is over. */
  cork(socket: Duplex): void {
    if (this.corked.has(socket) || socket.destroyed) return;
    socket.cork();
    this.corked.add(socket);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(this.flush);
    }
  }

  private readonly flush = (): void => {
    this.flushScheduled = false;
    for (const socket of this.corked) socket.uncork();
    this.corked.clear();
  };
}
