import type { ChannelLayer, Message } from '../../src/index.js';

/**
 * A worker written against the layer API only (no app framework), driving Thyme
 * in its tests. Behaviour is chosen by path and by the text it receives.
 */
export class TestWorker {
  readonly events: { channel: string; message: Message }[] = [];
  private readonly abort = new AbortController();
  private readonly loops: Promise<void>[] = [];
  /** Replies to HTTP /gate wait for this to be opened. */
  gate: Promise<void> = Promise.resolve();
  connectDelayMs = 0;
  /** Floods still sending (see the "flood" command). */
  floodsRunning = 0;
  /** Trickles that have sent their last reply. */
  tricklesDone = 0;

  constructor(private readonly layer: ChannelLayer) {}

  start(): this {
    for (const channel of [
      'http.request',
      'http.disconnect',
      'websocket.connect',
      'websocket.receive',
      'websocket.disconnect',
    ]) {
      this.loops.push(this.loop(channel));
    }
    return this;
  }

  async stop(): Promise<void> {
    this.abort.abort();
    await Promise.allSettled(this.loops);
  }

  of(channel: string): Message[] {
    return this.events.filter((e) => e.channel === channel).map((e) => e.message);
  }

  private async loop(channel: string): Promise<void> {
    for (;;) {
      let message: Message;
      try {
        message = await this.layer.receive(channel, { signal: this.abort.signal });
      } catch {
        return;
      }
      this.events.push({ channel, message });
      void this.handle(channel, message).catch(() => undefined);
    }
  }

  private async handle(channel: string, message: Message): Promise<void> {
    const reply = message.reply_channel as string;
    const path = message.path as string;
    if (channel === 'websocket.connect') {
      if (this.connectDelayMs) await new Promise((r) => setTimeout(r, this.connectDelayMs));
      if (path === '/silent') return;
      if (path === '/reject') return this.layer.send(reply, { accept: false });
      if (path === '/close-on-connect') return this.layer.send(reply, { close: true });
      if (path === '/greet') return this.layer.send(reply, { accept: true, text: 'welcome' });
      // Data alone accepts (protocol.md); with `close`, it is delivered before the close.
      if (path === '/bytes-only') return this.layer.send(reply, { bytes: b('hi') });
      if (path === '/text-then-close') return this.layer.send(reply, { text: 'bye', close: 4001 });
      return this.layer.send(reply, { accept: true });
    }
    if (channel === 'websocket.receive') return this.onFrame(reply, message);
    if (channel === 'http.request') return this.onRequest(reply, message);
  }

  private async onFrame(reply: string, message: Message): Promise<void> {
    if (message.bytes !== undefined) return this.layer.send(reply, { bytes: message.bytes });
    const text = message.text as string;
    const [command, ...rest] = text.split(':');
    switch (command) {
      case 'join':
        return this.layer.groupAdd(rest[0]!, reply);
      case 'leave':
        return this.layer.groupDiscard(rest[0]!, reply);
      case 'broadcast':
        await this.layer.groupSend(rest[0]!, { text: rest.slice(1).join(':') });
        return;
      case 'close':
        return this.layer.send(reply, { close: Number(rest[0] ?? 1000) });
      case 'flood': {
        const [count, size] = rest.map(Number) as [number, number];
        const chunk = 'x'.repeat(size);
        this.floodsRunning++;
        try {
          for (let i = 0; i < count; i++) await this.layer.send(reply, { text: chunk });
        } catch {
          // the reply channel is gone or full: the flood is over
        } finally {
          this.floodsRunning--;
        }
        return;
      }
      case 'burst': {
        const [count, size] = rest.map(Number) as [number, number];
        return this.burst(reply, count, size);
      }
      case 'trickle': {
        // Replies a turn apart, so that Thyme writes each in a turn of its own.
        const [count, size] = rest.map(Number) as [number, number];
        const chunk = 'x'.repeat(size);
        this.floodsRunning++;
        try {
          for (let i = 0; i < count; i++) {
            await this.layer.send(reply, { text: chunk });
            await new Promise((resolve) => setImmediate(resolve));
          }
        } finally {
          this.floodsRunning--;
          this.tricklesDone++;
        }
        return;
      }
      case 'burst-then': {
        // A burst, then one more reply once the burst has been handed over: over
        // Redis the next read brings it, in memory the next turn of the event loop.
        const [count, size] = rest.map(Number) as [number, number];
        await this.burst(reply, count, size);
        await new Promise((resolve) => setImmediate(resolve));
        return this.layer.send(reply, { text: `${count}:then` });
      }
      case 'bad-reply':
        return this.layer.send(reply, { text: 42 } as unknown as Message);
      default:
        return this.layer.send(reply, { text });
    }
  }

  /**
   * Every reply sent at once (`<i>:` and `size` bytes each): they reach Thyme
   * together, delivered in one turn of its event loop (one read of the layer).
   */
  private async burst(reply: string, count: number, size: number): Promise<void> {
    const chunk = 'x'.repeat(size);
    const sends = [];
    for (let i = 0; i < count; i++) sends.push(this.layer.send(reply, { text: `${i}:${chunk}` }));
    await Promise.all(sends);
  }

  private async onRequest(reply: string, message: Message): Promise<void> {
    const path = message.path as string;
    if (path === '/silent') return;
    if (path === '/chunked') {
      await this.layer.send(reply, {
        status: 200,
        headers: [[b('content-type'), b('text/plain')]],
        content: b('one,'),
        more_content: true,
      });
      await this.gate;
      await this.layer.send(reply, { content: b('two,'), more_content: true });
      await this.layer.send(reply, { content: b('three'), more_content: false });
      return;
    }
    if (path === '/big-chunked') {
      // More than the connection buffers, so that Thyme waits for the client to
      // drain it; the rest comes later, whatever the client did meanwhile.
      await this.layer.send(reply, {
        status: 200,
        headers: [[b('content-type'), b('application/octet-stream')]],
        content: Buffer.alloc(8 * 1024 * 1024),
        more_content: true,
      });
      await new Promise((resolve) => setTimeout(resolve, 500));
      await this.layer.send(reply, { content: b('tail'), more_content: true });
      await this.gate;
      await this.layer.send(reply, { content: b('end'), more_content: false });
      return;
    }
    if (path === '/empty-start') {
      // A stream whose start carries no body (as server-sent events may).
      await this.layer.send(reply, {
        status: 200,
        headers: [[b('content-type'), b('text/event-stream')]],
        more_content: true,
      });
      await this.gate;
      await this.layer.send(reply, { content: b('data: hi\n\n'), more_content: false });
      return;
    }
    if (path === '/echo') {
      const summary = {
        method: message.method,
        path: message.path,
        query: Buffer.from(message.query_string as Uint8Array).toString('latin1'),
        body: Buffer.from(message.body as Uint8Array).toString('utf8'),
        http_version: message.http_version,
        scheme: message.scheme,
        root_path: message.root_path,
        headers: (message.headers as Uint8Array[][]).map(([n, v]) => [
          Buffer.from(n!).toString(),
          Buffer.from(v!).toString(),
        ]),
        client: message.client,
        server: message.server,
        keys: Object.keys(message).sort(),
      };
      return this.layer.send(reply, {
        status: 200,
        headers: [
          [b('content-type'), b('application/json')],
          [b('x-dup'), b('1')],
          [b('x-dup'), b('2')],
        ],
        content: b(JSON.stringify(summary)),
      });
    }
    if (path === '/bad-header') {
      // Well-formed for the protocol, but no valid HTTP header (a line break in it).
      return this.layer.send(reply, {
        status: 200,
        headers: [[b('x-bad'), b('one\r\ntwo')]],
        content: b('never sent'),
      });
    }
    if (path === '/bad-reply')
      return this.layer.send(reply, { status: 'ok' } as unknown as Message);
    const framing = FRAMING[path];
    if (framing) {
      for (const part of framing) await this.layer.send(reply, part);
      return;
    }
    if (path === '/connection-close') {
      // The application closing its connection after this response.
      return this.layer.send(reply, {
        status: 200,
        headers: [[b('connection'), b('close')]],
        content: b('bye'),
      });
    }
    if (path === '/keep-alive') {
      // The application asking for the connection to be kept, with a timeout of its own.
      return this.layer.send(reply, {
        status: 200,
        headers: [
          [b('connection'), b('keep-alive')],
          [b('keep-alive'), b('timeout=99')],
          [b('content-length'), b('4')],
        ],
        content: b('kept'),
      });
    }
    if (path.startsWith('/status/')) {
      return this.layer.send(reply, {
        status: Number(path.slice(8)),
        headers: [],
        content: b('status'),
      });
    }
    return this.layer.send(reply, {
      status: 200,
      headers: [[b('content-type'), b('text/plain')]],
      content: b('hello'),
    });
  }
}

function b(text: string): Buffer {
  return Buffer.from(text);
}

/**
 * Responses whose headers frame the body other than it is sent: a connection
 * that passed them on as they are would take their surplus for the next response.
 */
const FRAMING: Record<string, Message[]> = {
  '/framing/longer': [
    { status: 200, headers: [[b('content-length'), b('5')]], content: b('hello and more') },
  ],
  '/framing/shorter': [
    { status: 200, headers: [[b('content-length'), b('50')]], content: b('hello') },
  ],
  '/framing/streamed-longer': [
    {
      status: 200,
      headers: [[b('content-length'), b('5')]],
      content: b('hel'),
      more_content: true,
    },
    { content: b('lo and more'), more_content: false },
  ],
  // Content-Lengths that no client reads as Node counts them ("+5" is 5 bytes to
  // Node), or two that disagree.
  '/framing/plus-length': [
    { status: 200, headers: [[b('content-length'), b('+5')]], content: b('hello') },
  ],
  '/framing/list-length': [
    { status: 200, headers: [[b('content-length'), b('5, 5')]], content: b('hello') },
  ],
  '/framing/two-lengths': [
    {
      status: 200,
      headers: [
        [b('content-length'), b('5')],
        [b('content-length'), b('50')],
      ],
      content: b('hello'),
    },
  ],
  // The same length twice: one framing, sent once.
  '/framing/same-length': [
    {
      status: 200,
      headers: [
        [b('content-length'), b('5')],
        [b('Content-Length'), b('05')],
      ],
      content: b('hello'),
    },
  ],
  // A 204 has no Content-Length, whatever the worker sends.
  '/framing/no-content': [
    { status: 204, headers: [[b('content-length'), b('6')]], content: b('status') },
  ],
  // A 205 has no content: its Content-Length must say 0, whatever the worker's says.
  '/framing/reset-content': [
    { status: 205, headers: [[b('content-length'), b('6')]], content: b('status') },
  ],
  '/framing/gzip': [
    { status: 200, headers: [[b('transfer-encoding'), b('gzip')]], content: b('and more') },
  ],
  '/framing/both': [
    {
      status: 200,
      headers: [
        [b('content-length'), b('5')],
        [b('transfer-encoding'), b('chunked')],
      ],
      content: b('hello'),
    },
  ],
  // Its second chunk breaks the protocol (text, not bytes): found only once the
  // response is under way.
  '/framing/bad-chunk': [
    { status: 200, headers: [], content: b('one,'), more_content: true },
    { content: 'two', more_content: false },
  ],
  '/framing/chunked': [
    {
      status: 200,
      headers: [[b('transfer-encoding'), b('chunked')]],
      content: b('hel'),
      more_content: true,
    },
    { content: b('lo'), more_content: false },
  ],
};
