/**
 * Every setting Gredis reads from the environment, with its default, in one place:
 * the commands use these values and their --help texts print them.
 * Flags override environment variables, which override these defaults.
 */
export const DEFAULTS = Object.freeze({
  databaseUrl: 'sqlite://./gredis.sqlite3',
  layerUrl: 'memory://',
  allowedHosts: ['localhost', '127.0.0.1', '[::1]'],
  notifyEnterLeave: true,
  bind: '127.0.0.1',
  port: 8000,
  verbosity: 1,
  pingInterval: 20,
  pingTimeout: 30,
  httpTimeout: 120,
  keepAliveTimeout: 5,
  websocketConnectTimeout: 5,
  websocketMaxMessageSize: 1024 * 1024,
  httpMaxBodySize: 10 * 1024 * 1024,
  outgoingBufferLimit: 1024 * 1024,
  /**
   * Seconds a WebSocket's outgoing buffer may stay over outgoingBufferLimit: time
   * for a client on a slow link to work through a burst (1 MiB at 1 Mbit/s takes
   * 8 s), well inside the keep-alive's patience for one that answers nothing.
   */
  slowClientTimeout: 10,
  websocketRate: 100,
  websocketBurst: 200,
  /** 0: no limit (the open-file limit, `ulimit -n`, is then the bound). */
  maxConnections: 0,
  /**
   * Seconds a stop (SIGTERM, SIGINT or SIGHUP) waits for work in flight: Thyme's for HTTP
   * responses, a worker's for its events. One value for both, below the
   * supervisor's own grace (docker stop's 10 s; Kubernetes' 30 s), so that what
   * is left is answered or handed over before a SIGKILL; a chat event takes
   * milliseconds.
   */
  stopTimeout: 5,
  /**
   * Seconds `gredis changepassword` goes on trying to close the user's chat
   * sockets while the channel layer does not take the close (retrying as the
   * workers do): a Redis failover or restart takes less.
   */
  closeWait: 60,
  app: 'multichat',
});

/** An environment variable with a value Gredis cannot use; the CLI exits 2 with the message. */
export class InvalidSetting extends RangeError {
  constructor(message: string) {
    super(message);
    this.name = 'InvalidSetting';
  }
}

export const ENV = Object.freeze({
  databaseUrl: 'DATABASE_URL',
  layerUrl: 'CHANNEL_LAYER_URL',
  secretKey: 'SECRET_KEY',
  allowedHosts: 'ALLOWED_HOSTS',
  notifyEnterLeave: 'MULTICHAT_NOTIFY_ENTER_LEAVE',
  chatBurst: 'MULTICHAT_RATE_BURST',
  chatPerSecond: 'MULTICHAT_RATE_PER_SECOND',
});

/** "true"/"1"/"yes"/"on" or "false"/"0"/"no"/"off"; anything else is an error naming the variable. */
export function booleanFromEnv(name: string, fallback: boolean): boolean {
  const value = env(name)?.toLowerCase();
  if (value === undefined) return fallback;
  if (['true', '1', 'yes', 'on'].includes(value)) return true;
  if (['false', '0', 'no', 'off'].includes(value)) return false;
  throw new InvalidSetting(`${name} must be true or false, got ${JSON.stringify(env(name))}`);
}

/**
 * A positive number; `whole` for a count (a token bucket's burst: one of 0.5 would
 * never hold a whole token, and every command would be refused).
 */
export function positiveNumberFromEnv(name: string, whole = false): number | undefined {
  const value = env(name);
  if (value === undefined) return undefined;
  const number = Number(value);
  if (!Number.isFinite(number) || number <= 0 || (whole && !Number.isInteger(number)))
    throw new InvalidSetting(
      `${name} must be a positive ${whole ? 'whole number' : 'number'}, got ${JSON.stringify(value)}`,
    );
  return number;
}

export function env(name: string): string | undefined {
  const value = process.env[name];
  return value === undefined || value.trim() === '' ? undefined : value.trim();
}

/**
 * What an ALLOWED_HOSTS entry can be, as in Django: `*`, a name (`.example.com`
 * for it and its subdomains), or an IPv6 address in brackets. The Host header's
 * port is never compared, so an entry with a port or a scheme matches nothing.
 */
const HOST_PATTERN = /^(\*|\.?[a-z0-9.-]+|\[[a-f0-9]*:[a-f0-9.:]+\])$/i;

/**
 * ALLOWED_HOSTS, comma-separated. Set but naming no host, or with an entry that can
 * match no Host header, is an error: every request (or that host's) would get 400.
 */
export function allowedHostsFromEnv(): string[] {
  const value = env(ENV.allowedHosts);
  if (value === undefined) return [...DEFAULTS.allowedHosts];
  const hosts = value
    .split(',')
    .map((host) => host.trim())
    .filter((host) => host !== '');
  if (hosts.length === 0)
    throw new InvalidSetting(`${ENV.allowedHosts} names no host: got ${JSON.stringify(value)}`);
  const bad = hosts.find((host) => !HOST_PATTERN.test(host));
  if (bad !== undefined)
    throw new InvalidSetting(
      `${ENV.allowedHosts} entry ${JSON.stringify(bad)} is not a host name: list names without scheme or port (chat.example.com; .example.com for it and its subdomains; [::1]; * for any)`,
    );
  return hosts;
}

export function layerUrlFromEnv(): string {
  return env(ENV.layerUrl) ?? DEFAULTS.layerUrl;
}

export function databaseUrlFromEnv(): string {
  return env(ENV.databaseUrl) ?? DEFAULTS.databaseUrl;
}

/**
 * Capacities of the shared event channels Thyme sends to. Every socket's events
 * queue there, so the layer's per-channel default (100) would refuse an ordinary
 * burst; these absorb bursts while still bounding what Redis holds.
 */
export const EVENT_CHANNEL_CAPACITY: Readonly<Record<string, number>> = Object.freeze({
  'http.request': 2000,
  'http.disconnect': 2000,
  'websocket.connect': 2000,
  'websocket.receive': 10000,
  'websocket.disconnect': 10000,
  // Every reply to one Thyme process shares its process key: room for bursts.
  'thyme.*': 1000,
});
