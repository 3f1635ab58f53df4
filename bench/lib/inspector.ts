/**
 * Forcing a full garbage collection in another Node process, through its inspector
 * (the process runs with --inspect=127.0.0.1:0). Memory per connection is read
 * after one, so that garbage left by the handshakes does not count as what an idle
 * connection holds; the servers need no IPC or test hook for it.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { GredisProcess } from '../../test/helpers/processes.js';
import { InspectorSession } from './inspector-session.js';

/** Node's inspector flag for a server whose memory is measured: any free loopback port. */
export const INSPECT_FLAG = '--inspect=127.0.0.1:0';

/** The inspector's WebSocket address, from the "Debugger listening on" line Node prints on stderr. */
export async function inspectorUrl(proc: GredisProcess, timeoutMs = 10_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    for (const line of proc.stderr) {
      const match = /Debugger listening on (ws:\/\/\S+)/.exec(line);
      if (match) return match[1]!;
    }
    if (Date.now() > deadline) {
      throw new Error(`no inspector address on stderr: ${proc.stderr.join('\n')}`);
    }
    await sleep(50);
  }
}

export interface HeapUsage {
  /** V8 heap in use, bytes. */
  usedSize: number;
  /** V8 heap committed, bytes. */
  totalSize: number;
}

/** Runs a full GC in the process behind `url`, then reports its V8 heap. */
export async function collectGarbage(url: string): Promise<HeapUsage> {
  const session = await InspectorSession.open(url);
  try {
    // Twice: objects with finalizers or weak references survive one collection.
    await session.call('HeapProfiler.collectGarbage');
    await session.call('HeapProfiler.collectGarbage');
    return await session.call<HeapUsage>('Runtime.getHeapUsage');
  } finally {
    session.close();
  }
}
