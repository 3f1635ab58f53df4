import type { Redis } from 'ioredis';
import { rawClient, RedisServer } from './redis-server.js';

/** The password of every ACL user a test makes: only loopback servers of the test see it. */
const PASSWORD = 'pw';

/** Names the users made in this process: distinct on a server that outlives one test. */
let made = 0;

/** An ACL user a test made, to connect as, and to grant or withdraw rules while it runs. */
export class AclUser {
  constructor(
    readonly name: string,
    readonly server: RedisServer,
    /** A connection as the default user: full rights, to inspect or change the server. */
    readonly admin: Redis,
  ) {}

  /** The server's URL, connecting as this user; `query` e.g. `?prefix=…`. */
  url(query = ''): string {
    return `redis://${this.name}:${PASSWORD}@127.0.0.1:${this.server.port}/0${query}`;
  }

  /** ACL SETUSER with more rules: `+bzmpop` grants, `-evalsha` withdraws. */
  async set(...rules: string[]): Promise<void> {
    await this.admin.acl('SETUSER', this.name, ...rules);
  }
}

/**
 * Runs `body` with a private redis-server (RedisServer.start), and always
 * stops it after, whether `body` passed or failed.
 */
export async function withPrivateRedis<T>(body: (server: RedisServer) => Promise<T>): Promise<T> {
  const server = await RedisServer.start();
  try {
    return await body(server);
  } finally {
    await server.stop();
  }
}

/**
 * Runs `body` with an ACL user, enabled, with PASSWORD and `rules` as ACL
 * SETUSER takes them (e.g. `['~*', '&*', '+@all', '-bzmpop']`: everything but
 * BZMPOP), made on `server`, or on a private redis-server of its own
 * (withPrivateRedis) when none is given. The user is deleted after, and the
 * private server stopped, whether `body` passed or failed: a user left on a
 * server other tests use would change what they see.
 */
export async function withAclUser<T>(
  rules: readonly string[],
  body: (user: AclUser) => Promise<T>,
  server?: RedisServer,
): Promise<T> {
  if (!server) return withPrivateRedis((own) => withAclUser(rules, body, own));
  const admin = rawClient(server.url);
  const user = new AclUser(`gredis-test-${process.pid}-${++made}`, server, admin);
  try {
    await admin.acl('SETUSER', user.name, 'on', `>${PASSWORD}`, ...rules);
    return await body(user);
  } finally {
    // The server may be gone (a test that stopped it): nothing is left to delete then.
    await admin.acl('DELUSER', user.name).catch(() => undefined);
    admin.disconnect();
  }
}

/** `text` as a literal in a Redis glob pattern: `*`, `?`, `[`, `]` and `\` escaped. */
function globLiteral(text: string): string {
  return text.replace(/[*?[\]\\]/g, (c) => `\\${c}`);
}

/** A glob pattern's bracket expression for any one character but `c`. */
function anyBut(c: string): string {
  return `[^${/[\]\\^-]/.test(c) ? `\\${c}` : c}]`;
}

/**
 * ACL key patterns (`~…`, for ACL SETUSER after `resetkeys`) for every key
 * that does not start with `prefix`: Redis has no pattern that denies keys, so
 * this allows, for each character of `prefix`, the keys that agree with it up
 * to there and then differ. Withdrawing one kind of key (a group's, say) from
 * a user that keeps every other: those calls are refused, NOPERM, all else works.
 * (Keys that are a proper beginning of `prefix` are left out too.)
 */
export function keysNotStartingWith(prefix: string): string[] {
  return [...prefix].map((c, i) => `~${globLiteral(prefix.slice(0, i))}${anyBut(c)}*`);
}
