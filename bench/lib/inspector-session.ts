/**
 * A session on another Node process's inspector (the process runs with
 * --inspect=127.0.0.1:0; see inspector.ts for finding its address): call any
 * DevTools protocol method, e.g. Profiler.start / Profiler.stop to sample the CPU
 * of a server during just the timed part of a benchmark, from outside, with no
 * hook in the server.
 */
import { WebSocket } from 'ws';

export class InspectorSession {
  private nextId = 1;
  private readonly pending = new Map<
    number,
    { resolve: (value: unknown) => void; reject: (error: Error) => void }
  >();

  private constructor(private readonly ws: WebSocket) {
    ws.on('message', (data: Buffer) => {
      const reply = JSON.parse(data.toString('utf8')) as {
        id?: number;
        result?: unknown;
        error?: { message: string };
      };
      if (reply.id === undefined) return; // an event
      const waiter = this.pending.get(reply.id);
      this.pending.delete(reply.id);
      if (reply.error) waiter?.reject(new Error(`inspector: ${reply.error.message}`));
      else waiter?.resolve(reply.result);
    });
    ws.on('close', () => {
      for (const waiter of this.pending.values()) waiter.reject(new Error('inspector closed'));
      this.pending.clear();
    });
  }

  static open(url: string): Promise<InspectorSession> {
    // Profiles can be tens of MB: no payload limit, no compression.
    const ws = new WebSocket(url, { perMessageDeflate: false, maxPayload: 0 });
    return new Promise((resolve, reject) => {
      ws.once('open', () => {
        ws.off('error', reject);
        ws.on('error', () => {});
        resolve(new InspectorSession(ws));
      });
      ws.once('error', reject);
    });
  }

  call<T = unknown>(method: string, params: Record<string, unknown> = {}): Promise<T> {
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (value: unknown) => void, reject });
      this.ws.send(JSON.stringify({ id, method, params }));
    });
  }

  close(): void {
    this.ws.close();
  }
}
