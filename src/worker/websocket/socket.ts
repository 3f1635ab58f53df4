import { assertGroupName, assertMessage } from '../../layer/index.js';
import type { Message } from '../../layer/types.js';
import { isCloseCode, parseWebSocketReply, SERVER_CLOSE_CODES } from '../../protocol.js';
import type { SocketUser } from '../app.js';
import type { SocketContext } from './consumer.js';
import { Outbox, type ApplyEffects } from './outbox.js';

/** What is fixed at connect and kept in the lane state for the socket's life. */
export interface Scope {
  path: string;
  query: string;
  user: SocketUser | null;
}

/** The SocketContext handed to consumers for one event. */
export class Socket implements SocketContext {
  readonly outbox: Outbox;
  /** 'accepted' once accept was sent (or it was already open before this event). */
  decision: 'pending' | 'accepted' | 'rejected';
  private parsedQuery: URLSearchParams | undefined;

  constructor(
    /** What `flush` applies the effects with. */
    apply: ApplyEffects,
    readonly channel: string,
    readonly scope: Scope,
    public state: Message,
    open: boolean,
    /** The socket is gone (disconnect event): nothing can be sent to it any more. */
    private readonly gone = false,
  ) {
    this.outbox = new Outbox(apply);
    this.decision = open ? 'accepted' : 'pending';
  }

  /**
   * Parsed when a handler first reads it: a Socket is made for each event, from
   * the scope its lane saved (plain data, for whichever worker runs the event),
   * and most events' handlers never read it.
   */
  get query(): URLSearchParams {
    return (this.parsedQuery ??= new URLSearchParams(this.scope.query));
  }

  get path(): string {
    return this.scope.path;
  }

  get user(): SocketUser | null {
    return this.scope.user;
  }

  accept(): void {
    if (this.decision !== 'pending') return;
    this.decision = 'accepted';
    this.outbox.send(this.channel, { accept: true });
  }

  reject(): void {
    if (this.decision !== 'pending') return;
    this.decision = 'rejected';
    this.outbox.send(this.channel, { accept: false });
  }

  /*
   * Each method checks what it is given, as the layer and Thyme would, and
   * throws at once: the handler's stack then names the line at fault, the
   * socket is closed with 1011 as for any handler that throws, and what the
   * handler asked for before still goes out. Found only when the turn's
   * effects are applied, the same mistake (a group name with a space, a close
   * code no server may send) would drop the effects after it with no stack
   * of the handler's, or have Thyme close the socket, leaving its client
   * without what was sent before.
   */

  close(code = 1000): void {
    if (!isCloseCode(code))
      throw new RangeError(
        `close code ${String(code)} is not one a server may send (${SERVER_CLOSE_CODES})`,
      );
    if (this.gone || this.decision === 'rejected') return;
    if (this.decision === 'pending') return this.reject();
    this.outbox.send(this.channel, { close: code });
  }

  send(text: string): void {
    const reply = checkedReply({ text });
    if (this.writable()) this.outbox.send(this.channel, reply);
  }

  sendJson(value: unknown): void {
    this.send(jsonOf(value));
  }

  sendBytes(bytes: Uint8Array): void {
    const reply = checkedReply({ bytes });
    if (this.writable()) this.outbox.send(this.channel, reply);
  }

  groupAdd(group: string): void {
    assertGroupName(group);
    this.outbox.groupAdd(group, this.channel);
  }

  groupDiscard(group: string): void {
    assertGroupName(group);
    this.outbox.groupDiscard(group, this.channel);
  }

  groupSendJson(group: string, value: unknown): void {
    assertGroupName(group);
    // No reply check: JSON text is always a well-formed string (lone surrogates
    // come out escaped), which both the layer and Thyme take.
    this.outbox.groupSend(group, { text: jsonOf(value) });
  }

  flush(): Promise<void> {
    return this.outbox.drain();
  }

  /** Sending before deciding accepts, as in Channels. */
  private writable(): boolean {
    if (this.gone || this.decision === 'rejected') return false;
    if (this.decision === 'pending') this.accept();
    return true;
  }
}

/** A reply as the layer carries it and Thyme takes it, else the error either would raise. */
function checkedReply(reply: Message): Message {
  assertMessage(reply);
  parseWebSocketReply(reply);
  return reply;
}

/** `value` as JSON text; a value with none (undefined, a function) is a TypeError, not an empty frame. */
function jsonOf(value: unknown): string {
  const text = JSON.stringify(value) as string | undefined;
  if (text === undefined) throw new TypeError(`${typeof value} has no JSON form to send`);
  return text;
}
