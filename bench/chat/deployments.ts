/**
 * The chat deployments the benchmark measures, each started fresh and stopped
 * after its measurements:
 *
 * - `gredis`: MultiChat distributed: 2 × `gredis runworker multichat` and
 *   2 × `gredis thyme multichat` on Redis (the layer) and PostgreSQL;
 * - `socketio`: 2 Socket.IO server processes with @socket.io/redis-adapter on the
 *   same Redis (bench/chat/socketio-server.ts);
 * - `embedded`: one `gredis thyme multichat` on the in-process layer and a SQLite
 *   file, running its worker itself;
 * - `channels` (opt-in): the original stack, 2 Daphne processes serving Django
 *   Channels 4 consumers (bench/python/multichat_django/) with channels_redis on
 *   the same Redis and Django's ORM on PostgreSQL.
 */
import type { ChatKind } from './protocol.js';
import type { ServerRegistry, Started } from './processes.js';

export type SystemKey = 'gredis' | 'socketio' | 'embedded' | 'channels';

export const SYSTEM_LABELS: Record<SystemKey, string> = {
  gredis: 'Gredis distributed',
  socketio: 'Socket.IO + Redis',
  embedded: 'Gredis embedded',
  channels: 'Django Channels',
};

/** A process whose CPU time (and RSS) counts towards its deployment. */
export interface ServerProcess {
  role: string;
  pid: number;
  /** How it was started (its logs; its inspector if a Node process); none for redis-server. */
  started?: Started;
}

export interface Deployment {
  key: SystemKey;
  kind: ChatKind;
  /** Where clients connect: one URL per process that accepts them. */
  urls: string[];
  servers: ServerProcess[];
}

/** Settings every MultiChat process gets (see the README for why). */
export function chatEnv(secretKey: string): Record<string, string> {
  return {
    SECRET_KEY: secretKey,
    // The per-socket flood limit (30 burst, 10/s) must not throttle the senders.
    MULTICHAT_RATE_BURST: '1000000',
    MULTICHAT_RATE_PER_SECOND: '1000000',
    // The Socket.IO chat sends no enter/leave notices: neither does MultiChat here.
    MULTICHAT_NOTIFY_ENTER_LEAVE: 'false',
  };
}

const listening = (line: Record<string, unknown>): boolean => line.msg === 'Thyme listening';

export async function startDistributed(
  registry: ServerRegistry,
  options: {
    layerUrl: string;
    databaseUrl: string;
    secretKey: string;
    redisPid: number;
    thymes: number;
    workers: number;
    workerArgs: string[];
  },
): Promise<Deployment> {
  const env = chatEnv(options.secretKey);
  const common = ['--layer', options.layerUrl, '--database', options.databaseUrl];
  const workers = await Promise.all(
    Array.from({ length: options.workers }, () =>
      registry.gredis(
        'worker',
        ['runworker', 'multichat', ...options.workerArgs, ...common],
        env,
        (line) => line.msg === 'worker for multichat running',
      ),
    ),
  );
  const thymes = await Promise.all(
    Array.from({ length: options.thymes }, () =>
      registry.gredis('Thyme', ['thyme', 'multichat', '--port', '0', ...common], env, listening),
    ),
  );
  return {
    key: 'gredis',
    kind: 'gredis',
    urls: thymes.map((t) => `ws://127.0.0.1:${t.ready.port as number}/chat/stream/`),
    servers: [
      ...thymes.map((t) => ({ role: 'Thyme', pid: t.pid, started: t })),
      ...workers.map((w) => ({ role: 'worker', pid: w.pid, started: w })),
      { role: 'redis-server', pid: options.redisPid },
    ],
  };
}

export async function startSocketIo(
  registry: ServerRegistry,
  options: {
    redisUrl: string;
    key: string;
    sessionsFile: string;
    redisPid: number;
    servers: number;
  },
): Promise<Deployment> {
  const servers = await Promise.all(
    Array.from({ length: options.servers }, () =>
      registry.script(
        'Socket.IO server',
        'socketio-server',
        ['--redis', options.redisUrl, '--key', options.key, '--sessions', options.sessionsFile],
        (line) => line.msg === 'socket.io listening',
      ),
    ),
  );
  return {
    key: 'socketio',
    kind: 'socketio',
    urls: servers.map((s) => `http://127.0.0.1:${s.ready.port as number}`),
    servers: [
      ...servers.map((s) => ({ role: 'Socket.IO server', pid: s.pid, started: s })),
      { role: 'redis-server', pid: options.redisPid },
    ],
  };
}

export async function startEmbedded(
  registry: ServerRegistry,
  options: { databaseUrl: string; secretKey: string },
): Promise<Deployment> {
  const thyme = await registry.gredis(
    'Thyme+worker',
    [
      'thyme',
      'multichat',
      '--port',
      '0',
      '--layer',
      'memory://',
      '--database',
      options.databaseUrl,
    ],
    chatEnv(options.secretKey),
    listening,
  );
  return {
    key: 'embedded',
    kind: 'gredis',
    urls: [`ws://127.0.0.1:${thyme.ready.port as number}/chat/stream/`],
    servers: [{ role: 'Thyme+worker', pid: thyme.pid, started: thyme }],
  };
}

/** Daphne's line once it listens; `-p 0` picks a free port, which the line gives. */
const DAPHNE_LISTENING = /^Listening on TCP address [^\s]+:(\d+)$/;

export async function startChannels(
  registry: ServerRegistry,
  options: { env: Record<string, string>; redisPid: number; servers: number },
): Promise<Deployment> {
  const daphnes = await Promise.all(
    Array.from({ length: options.servers }, () =>
      registry.python(
        'Daphne',
        'multichat_django.serve',
        // -v 0: no access log (a line per connection; the Node servers write none).
        ['-v', '0', '-b', '127.0.0.1', '-p', '0', 'multichat_django.asgi:application'],
        options.env,
        (line) => DAPHNE_LISTENING.test(String(line.text)),
      ),
    ),
  );
  return {
    key: 'channels',
    kind: 'gredis',
    urls: daphnes.map(
      (d) => `ws://127.0.0.1:${DAPHNE_LISTENING.exec(String(d.ready.text))![1]}/chat/stream/`,
    ),
    servers: [
      ...daphnes.map((d) => ({ role: 'Daphne', pid: d.pid, started: d })),
      { role: 'redis-server', pid: options.redisPid },
    ],
  };
}
