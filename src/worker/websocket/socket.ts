import type { Message } from '../../layer/types.js';
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

  close(code = 1000): void {
    if (this.gone || this.decision === 'rejected') return;
    if (this.decision === 'pending') return this.reject();
    this.outbox.send(this.channel, { close: code });
  }

  send(text: string): void {
    if (this.writable()) this.outbox.send(this.channel, { text });
  }

  sendJson(value: unknown): void {
    this.send(JSON.stringify(value));
  }

  sendBytes(bytes: Uint8Array): void {
    if (this.writable()) this.outbox.send(this.channel, { bytes });
  }

  groupAdd(group: string): void {
    this.outbox.groupAdd(group, this.channel);
  }

  groupDiscard(group: string): void {
    this.outbox.groupDiscard(group, this.channel);
  }

  groupSendJson(group: string, value: unknown): void {
    this.outbox.groupSend(group, { text: JSON.stringify(value) });
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
