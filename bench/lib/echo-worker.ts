import { setMaxListeners } from 'node:events';
import type { ChannelLayer, Message } from '../../src/index.js';
import { CHANNELS } from '../../src/protocol.js';

/**
 * The smallest WebSocket application, written against the layer API only (the
 * worker framework is not the subject here): accept every socket, send each frame
 * back to its reply channel, drain websocket.disconnect so it never fills up.
 * Unlike test/helpers/test-worker.ts it keeps no record of what it saw, so its
 * memory stays flat under load.
 */
export class EchoWorker {
  /** Frames echoed; replies that failed (a reply channel full, the layer gone). */
  echoed = 0;
  failures = 0;
  private readonly abort = new AbortController();
  private readonly loops: Promise<void>[] = [];

  /**
   * `receivers`: concurrent receive loops on websocket.receive. On the Redis layer
   * a plain channel's read pops at most as many messages as there are waiting
   * receives, so one loop would cost one round trip per frame.
   */
  constructor(
    private readonly layer: ChannelLayer,
    private readonly receivers = 1,
    /** Told of each failed reply (a lost echo stalls a client: say why). */
    private readonly onFailure: (error: unknown) => void = () => {},
  ) {}

  start(): this {
    // Every receive loop listens to the one signal: not a leak.
    setMaxListeners(Infinity, this.abort.signal);
    this.loops.push(this.loop(CHANNELS.websocketConnect, (m) => this.reply(m, { accept: true })));
    for (let i = 0; i < this.receivers; i++) {
      this.loops.push(this.loop(CHANNELS.websocketReceive, (m) => this.echo(m)));
    }
    this.loops.push(this.loop(CHANNELS.websocketDisconnect, () => {}));
    return this;
  }

  /** Ends the receive loops; the layer is the caller's to close. */
  async stop(): Promise<void> {
    this.abort.abort();
    await Promise.allSettled(this.loops);
  }

  private async loop(channel: string, handle: (message: Message) => void): Promise<void> {
    for (;;) {
      let message: Message;
      try {
        message = await this.layer.receive(channel, { signal: this.abort.signal });
      } catch {
        return; // stopped, or the layer closed
      }
      handle(message);
    }
  }

  private echo(message: Message): void {
    this.echoed++;
    if (message.bytes !== undefined) this.reply(message, { bytes: message.bytes });
    else this.reply(message, { text: message.text ?? '' });
  }

  /** Not awaited: the loop goes back to receiving while the reply is on its way. */
  private reply(event: Message, reply: Message): void {
    const channel = event.reply_channel;
    if (typeof channel !== 'string') {
      this.failures++;
      this.onFailure(new Error(`no reply_channel in ${JSON.stringify(event)}`));
      return;
    }
    this.layer.send(channel, reply).catch((error: unknown) => {
      this.failures++;
      this.onFailure(error);
    });
  }
}
