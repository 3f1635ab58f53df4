/**
 * Ctrl-C to a gredis command while it waits on a server that took its
 * connection and never answers (a stopped host's kernel does that): the command
 * must end at once, not when its connection attempt gives up.
 */
import * as assert from 'uvu/assert';
import type { RunningGredis } from './cli.js';
import { startSilentServer } from './silent-server.js';
import { sleep, waitFor } from './wait.js';

export interface SilentWait {
  /** What the silent server stands for ("the database"), for the message if it is never reached. */
  reaching: string;
  /** The command's exit code on Ctrl-C. */
  code: number;
  /** How soon it must end after the Ctrl-C: well before its own timeout would end it. */
  withinMs: number;
  /**
   * How long to let it wait once it has connected, before the Ctrl-C: to reach
   * a wait that starts later than the connection (past a lookup, say).
   */
  waitMs?: number;
}

/**
 * Starts `start(port)`'s command against a silent server on `port`, waits until
 * it has connected there, then presses Ctrl-C: asserts it exits with
 * `wait.code` within `wait.withinMs`. Resolves with the command's output and
 * the silent server's port, for the caller's own checks; the command is killed
 * and the server closed either way.
 */
export async function interruptWhileConnecting(
  start: (port: number) => RunningGredis,
  { reaching, code, withinMs, waitMs }: SilentWait,
): Promise<{ stdout: string; stderr: string; port: number }> {
  const silent = await startSilentServer();
  const run = start(silent.port);
  try {
    await waitFor(() => silent.connections.length > 0, 10_000, `the command to reach ${reaching}`);
    if (waitMs !== undefined) await sleep(waitMs);
    assert.equal(await run.interrupt(withinMs, 'the command to end'), { code, signal: null });
    return { stdout: run.stdout(), stderr: run.stderr(), port: silent.port };
  } finally {
    run.child.kill('SIGKILL');
    silent.close();
  }
}
