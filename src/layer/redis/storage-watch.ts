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

/**
 * Notices a Redis server that came back without its data (a restart without
 * persistence, a flush): groups, lanes and connection states are gone, and
 * nothing else would say so: sockets would stay open, in no group, their
 * state unknown to the workers.
 *
 * A marker key holds a random epoch, created by the first process to find it
 * missing. Each process remembers the epoch it saw; at every reconnection it
 * reads the marker again (one script, only then: nothing while connected), and
 * a different or recreated value means the data it relied on is gone, however
 * many processes reconnected first. A server that kept its data (AOF, a
 * failover to a replica) keeps the marker and raises nothing.
 */
export function watchStorage(
  host: RedisHost,
  key: string,
  onLost: (host: string) => void,
  logger: Logger,
): void {
  let epoch: string | undefined;
  const check = async (): Promise<void> => {
    let seen: string;
    try {
      seen = String(await host.client.eval(READ_OR_SET, 1, key, randomUUID()));
    } catch (error) {
      // Gone again already: the next 'ready' checks.
      logger.debug({ host: host.label, err: error }, 'could not read the storage marker');
      return;
    }
    const lost = epoch !== undefined && seen !== epoch;
    epoch = seen;
    if (!lost) return;
    logger.warn(
      { host: host.label },
      'the channel layer host came back without its data (groups and connection states are gone)',
    );
    onLost(host.label);
  };
  host.client.on('ready', () => void check());
}
