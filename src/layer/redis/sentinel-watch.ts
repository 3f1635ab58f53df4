import { Redis } from 'ioredis';
import type { Logger } from '../../logger.js';

/** Where Sentinel says a master now is. */
export interface MasterAddress {
  host: string;
  port: number;
}

/** Sentinel's channel for a master's move: "<name> <old host> <old port> <new host> <new port>". */
const SWITCH_MASTER = '+switch-master';

/**
 * Hears the Sentinels announce that one master moved (a failover) and says so,
 * once per move: a process that only waits in blocked reads sends nothing, so
 * nothing else would tell it that its master was replaced, and a master made a
 * replica keeps its clients' connections (their writes then fail as READONLY).
 *
 * One subscription per Sentinel for a layer host, whatever its number of
 * connections, and only this master's moves count. ioredis's own detector
 * (failoverDetector) opens one per connection and per Sentinel, and drops every
 * connection when any master those Sentinels watch is failed over: one set of
 * Sentinels usually watches several, and each of their failovers cut the
 * layer's reads, a message popped as its connection went down being lost.
 */
export class SentinelWatch {
  private readonly subscribers: Redis[];
  /** The last move said, as "host:port": each Sentinel announces it. */
  private lastMove = '';

  constructor(
    sentinels: readonly MasterAddress[],
    private readonly masterName: string,
    private readonly onMove: (address: MasterAddress) => void,
    logger: Logger,
  ) {
    this.subscribers = sentinels.map(({ host, port }) => {
      const subscriber = new Redis({
        host,
        port,
        // A Sentinel that is down is looked for again, forever, and resubscribed.
        retryStrategy: (attempt) => Math.min(100 * 2 ** Math.min(attempt, 5), 2000),
        maxRetriesPerRequest: null,
        connectionName: 'gredis-sentinel-watch',
      });
      // A listed Sentinel that is down is said once (a wrong address must show),
      // not at every retry; again once it has been reached and lost.
      let reported = false;
      subscriber.on('error', (error: Error) => {
        const sentinel = `${host}:${port}`;
        if (reported) return logger.debug({ sentinel, err: error }, 'Sentinel connection error');
        reported = true;
        logger.warn(
          { sentinel, code: (error as NodeJS.ErrnoException).code },
          `cannot reach the Sentinel ${sentinel} (${error.message}); retrying`,
        );
      });
      subscriber.on('ready', () => {
        if (reported) logger.warn({ sentinel: `${host}:${port}` }, 'reached the Sentinel');
        reported = false;
      });
      subscriber.on('message', (channel: string, text: string) => {
        if (channel === SWITCH_MASTER) this.heard(text);
      });
      subscriber.subscribe(SWITCH_MASTER).catch(() => undefined);
      return subscriber;
    });
  }

  close(): void {
    for (const subscriber of this.subscribers) subscriber.disconnect();
  }

  private heard(text: string): void {
    const [name, , , host, port] = text.split(' ');
    if (name !== this.masterName || !host || !port) return;
    const move = `${host}:${port}`;
    if (move === this.lastMove) return;
    this.lastMove = move;
    this.onMove({ host, port: Number(port) });
  }
}
