import { randomUUID } from 'node:crypto';
import type { Logger } from '../../logger.js';
import type { RedisHost } from './host.js';

/**
 * Returns the marker's value, setting it to ARGV[1] first when it is missing. One
 * script, so that processes reconnecting together agree on one value.
 */
const READ_OR_SET = `
local v = redis.call('GET', KEYS[1])
if v then return v end
redis.call('SET', KEYS[1], ARGV[1])
return ARGV[1]
`;

/** The server's run_id (INFO server): a new one means a new server process. */
async function runIdOf(host: RedisHost): Promise<string> {
  const info = await host.client.info('server');
  const match = /^run_id:(\w+)/m.exec(info);
  if (!match) throw new Error('INFO server has no run_id');
  return match[1]!;
}

/**
 * Notices a Redis server that came back without its data (a restart without
 * persistence): groups, lanes and connection states are gone, and nothing else
 * would say so: sockets would stay open, in no group, their state unknown to
 * the workers.
 *
 * At every (re)connection, and only then (nothing while connected), a process
 * reads the server's run_id and a marker key holding a random epoch, created by
 * the first process to find it missing. Data is lost when both changed since
 * this process last looked: a new server process (run_id), and a marker that was
 * recreated (epoch), however many processes reconnected first. Either alone is
 * not a loss: a restart that kept its data (AOF, RDB, a failover to a replica)
 * keeps the marker, and a marker deleted or evicted from a running server (a
 * flush, maxmemory) left the rest alone.
 */
export function watchStorage(
  host: RedisHost,
  key: string,
  onLost: (host: string) => void,
  logger: Logger,
): void {
  let last: { runId: string; epoch: string } | undefined;
  const check = async (): Promise<void> => {
    let runId: string;
    let epoch: string;
    try {
      runId = await runIdOf(host);
      epoch = String(await host.client.eval(READ_OR_SET, 1, key, randomUUID()));
    } catch (error) {
      // Gone again, or refused (OOM, READONLY): the next connection checks.
      logger.warn(
        { host: host.label, err: error },
        'could not check the channel layer host for lost data',
      );
      return;
    }
    const lost = last !== undefined && runId !== last.runId && epoch !== last.epoch;
    last = { runId, epoch };
    if (!lost) return;
    logger.warn(
      { host: host.label },
      'the channel layer host came back without its data (groups and connection states are gone)',
    );
    onLost(host.label);
  };
  host.client.on('ready', () => void check());
}
