import { createHmac } from 'node:crypto';
import type { Knex } from 'knex';
import type { Database } from '../db/connection.js';
import { isUniqueViolation } from '../db/errors.js';
import { fromDbInteger, fromDbTimestamp, toDbTimestamp } from '../db/values.js';
import { randomString } from './random-string.js';
import { isUsableSecret } from './secret.js';

/** A session as the application sees it. `key` is the cookie value; only its hash is stored. */
export interface Session {
  key: string;
  userId: number | null;
  /** The session auth hash of the user's password at login (UserRepository); null if none. */
  authHash: string | null;
  data: Record<string, unknown>;
  expiresAt: Date;
}

export interface SessionStoreOptions {
  /** Lifetime from each create/save/rotate; Django's SESSION_COOKIE_AGE (two weeks). */
  maxAgeSeconds?: number;
  /** The clock (tests move it instead of sleeping). */
  now?: () => Date;
  /**
   * SECRET_KEY (loadSecretKey): keys are stored as HMAC-SHA256(secret, key), so
   * changing SECRET_KEY ends every session (as it does in Django). Required: a store
   * without it once stored a plain SHA-256, which no server (always keyed) finds.
   */
  secret: string;
}

export type SessionErrorCode =
  'GREDIS_SESSION_INTERRUPTED' | 'GREDIS_INVALID_SESSION_DATA' | 'GREDIS_SESSION_SECRET_REQUIRED';

/**
 * `save` found the session gone (logged out elsewhere, expired, or rotated): writing
 * it back would resurrect a session someone ended. Django calls this SessionInterrupted.
 */
export class SessionInterrupted extends Error {
  readonly code = 'GREDIS_SESSION_INTERRUPTED' as const;
  constructor() {
    super('the session was ended (logout, expiry or rotation) while this request used it');
    this.name = 'SessionInterrupted';
  }
}

/** Session data must be a plain object that JSON can carry. */
export class InvalidSessionData extends TypeError {
  readonly code = 'GREDIS_INVALID_SESSION_DATA' as const;
  constructor(reason: string, options?: { cause?: unknown }) {
    super(`invalid session data: ${reason}`, options);
    this.name = 'InvalidSessionData';
  }
}

/**
 * A SessionStore made without SECRET_KEY (or with an empty one): refused at once,
 * rather than storing key hashes the servers, which key theirs, never find.
 */
export class SessionSecretRequired extends TypeError {
  readonly code = 'GREDIS_SESSION_SECRET_REQUIRED' as const;
  constructor() {
    super('SessionStore needs the SECRET_KEY (loadSecretKey) to key stored session hashes');
    this.name = 'SessionSecretRequired';
  }
}

export const SESSION_MAX_AGE_SECONDS = 1_209_600;

/** 32 characters of [a-z0-9], like Django's session keys (~165 bits). */
export const SESSION_KEY_PATTERN = /^[a-z0-9]{32}$/;
const KEY_ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789';
const KEY_LENGTH = 32;

/**
 * What is stored instead of the key: a leaked table opens no session. The HMAC that
 * keyed stores always wrote, so rows stored before the secret was required still load.
 */
export function hashSessionKey(key: string, secret: string): string {
  return createHmac('sha256', secret).update(key).digest('hex');
}

function newSessionKey(): string {
  return randomString(KEY_ALPHABET, KEY_LENGTH);
}

function encodeData(data: unknown): string {
  if (typeof data !== 'object' || data === null || Array.isArray(data))
    throw new InvalidSessionData('must be a plain object');
  try {
    return JSON.stringify(data);
  } catch (error) {
    throw new InvalidSessionData((error as Error).message, { cause: error });
  }
}

function decodeData(text: unknown): Record<string, unknown> | undefined {
  if (typeof text !== 'string') return undefined;
  try {
    const value: unknown = JSON.parse(text);
    if (typeof value === 'object' && value !== null && !Array.isArray(value))
      return value as Record<string, unknown>;
  } catch {
    // A row we cannot read is treated as no session at all.
  }
  return undefined;
}

interface SessionRow {
  session_key_hash: string;
  user_id: unknown;
  auth_hash: string | null;
  data: string;
  expire_date: unknown;
}

/** Sessions in `gredis_session`, keyed by the HMAC-SHA256 (SECRET_KEY) of the session key. */
export class SessionStore {
  readonly maxAgeSeconds: number;
  private readonly now: () => Date;
  private readonly secret: string;

  constructor(
    private readonly db: Database,
    options: SessionStoreOptions,
  ) {
    if (!isUsableSecret(options?.secret)) throw new SessionSecretRequired();
    const maxAge = options.maxAgeSeconds ?? SESSION_MAX_AGE_SECONDS;
    if (!Number.isFinite(maxAge) || maxAge <= 0)
      throw new RangeError('maxAgeSeconds must be a positive number');
    this.maxAgeSeconds = maxAge;
    this.now = options.now ?? (() => new Date());
    this.secret = options.secret;
  }

  private get table() {
    return this.db.knex<SessionRow>('gredis_session');
  }

  private hash(key: string): string {
    return hashSessionKey(key, this.secret);
  }

  /** What the table stores for a session key (to join on it), or undefined for a malformed key. */
  hashOf(key: string): string | undefined {
    return typeof key === 'string' && SESSION_KEY_PATTERN.test(key) ? this.hash(key) : undefined;
  }

  private freshExpiry(): Date {
    return new Date(this.now().getTime() + this.maxAgeSeconds * 1000);
  }

  /** A new session with a fresh random key; a logged-in one carries its user's `authHash`. */
  async create(
    userId: number | null,
    data: Record<string, unknown> = {},
    authHash: string | null = null,
  ): Promise<Session> {
    const encoded = encodeData(data);
    const expiresAt = this.freshExpiry();
    // A collision of 165 random bits will not happen; the retry documents that it is handled.
    for (let attempt = 0; ; attempt++) {
      const key = newSessionKey();
      try {
        await this.table.insert({
          session_key_hash: this.hash(key),
          user_id: userId,
          auth_hash: authHash,
          data: encoded,
          expire_date: toDbTimestamp(this.db, expiresAt),
        });
        return { key, userId, authHash, data: { ...data }, expiresAt };
      } catch (error) {
        if (!isUniqueViolation(error) || attempt >= 2) throw error;
      }
    }
  }

  /**
   * The live session for a cookie value, or undefined when the key is malformed (checked
   * before any query), unknown, expired (the row is deleted) or unreadable.
   */
  async load(key: string): Promise<Session | undefined> {
    if (typeof key !== 'string' || !SESSION_KEY_PATTERN.test(key)) return undefined;
    const hash = this.hash(key);
    const row = await this.table.where('session_key_hash', hash).first();
    if (!row) return undefined;
    const expiresAt = fromDbTimestamp(row.expire_date);
    if (expiresAt.getTime() <= this.now().getTime()) {
      await this.table.where('session_key_hash', hash).delete();
      return undefined;
    }
    const data = decodeData(row.data);
    if (!data) return undefined;
    const userId = row.user_id === null ? null : fromDbInteger(row.user_id);
    return { key, userId, authHash: row.auth_hash ?? null, data, expiresAt };
  }

  /**
   * Writes data and user back and extends the expiry to a full maxAge (setting
   * `session.expiresAt`), as Django's save does. Throws SessionInterrupted if the
   * session no longer exists or has expired, rather than bringing it back.
   */
  async save(session: Session): Promise<void> {
    if (!SESSION_KEY_PATTERN.test(session.key)) throw new SessionInterrupted();
    const encoded = encodeData(session.data);
    const expiresAt = this.freshExpiry();
    const count = await this.table
      .where('session_key_hash', this.hash(session.key))
      .andWhere('expire_date', '>', toDbTimestamp(this.db, this.now()))
      .update({
        user_id: session.userId,
        data: encoded,
        expire_date: toDbTimestamp(this.db, expiresAt),
      });
    if (count === 0) throw new SessionInterrupted();
    session.expiresAt = expiresAt;
  }

  /**
   * Moves the session to a new key (same data; `userId` and `authHash` default to the
   * session's) and deletes the old key, in one transaction. Call at login so a key
   * planted before login (session fixation) is worthless after it.
   */
  async rotate(
    session: Session,
    userId: number | null = session.userId,
    authHash: string | null = session.authHash,
  ): Promise<Session> {
    const encoded = encodeData(session.data);
    const expiresAt = this.freshExpiry();
    const key = newSessionKey();
    await this.db.knex.transaction(async (trx) => {
      await trx<SessionRow>('gredis_session')
        .where('session_key_hash', this.hash(session.key))
        .delete();
      await trx<SessionRow>('gredis_session').insert({
        session_key_hash: this.hash(key),
        user_id: userId,
        auth_hash: authHash,
        data: encoded,
        expire_date: toDbTimestamp(this.db, expiresAt),
      });
    });
    return { key, userId, authHash, data: { ...session.data }, expiresAt };
  }

  /** Ends one session (logout); unknown or malformed keys are ignored. */
  async delete(key: string): Promise<void> {
    if (typeof key !== 'string' || !SESSION_KEY_PATTERN.test(key)) return;
    await this.table.where('session_key_hash', this.hash(key)).delete();
  }

  /**
   * Ends every session of a user (e.g. after a password change); returns how
   * many. `knex`: a transaction to do it in (UserRepository.setPassword's `alongside`).
   */
  async deleteForUser(userId: number, knex: Knex = this.db.knex): Promise<number> {
    return knex<SessionRow>('gredis_session').where('user_id', userId).delete();
  }

  /** Deletes expired rows (Django's clear_expired); returns how many. */
  async clearExpired(): Promise<number> {
    return clearExpiredSessions(this.db, this.now());
  }
}

/**
 * Rows deleted per statement by clearExpiredSessions: each DELETE is its own
 * transaction, so the row locks a login or logout of an expired session would
 * wait for (PostgreSQL), or SQLite's write lock every write waits for, are
 * held for one batch, a few milliseconds, not for the whole backlog.
 */
export const CLEAR_EXPIRED_BATCH = 1000;

/**
 * Deletes the sessions expired at `now`, in batches (`gredis clearsessions`,
 * while the servers run); returns how many. Needs no SECRET_KEY: no key is
 * hashed. Rows expiring during the run are left for the next one, so it ends.
 * `onBatch` hears how many rows each DELETE deleted, once it has (committed:
 * they stand whatever stops the rest); `batchSize`: tests.
 */
export async function clearExpiredSessions(
  db: Database,
  now: Date,
  {
    batchSize = CLEAR_EXPIRED_BATCH,
    onBatch,
  }: { batchSize?: number; onBatch?: (deleted: number) => void } = {},
): Promise<number> {
  const expired = toDbTimestamp(db, now);
  let total = 0;
  for (;;) {
    // The keys first, then the rows by key: a DELETE … IN (SELECT … LIMIT)
    // is planned by PostgreSQL as a join over the whole table, each batch.
    // Oldest first, through the expire_date index, which the deleted rows
    // leave the table's start full of.
    const keys = await db
      .knex<SessionRow>('gredis_session')
      .where('expire_date', '<=', expired)
      .orderBy('expire_date')
      .limit(batchSize)
      .pluck('session_key_hash');
    // The expiry again: a row a server saved since it was read is left be.
    if (keys.length > 0) {
      const deleted = await db
        .knex<SessionRow>('gredis_session')
        .whereIn('session_key_hash', keys)
        .andWhere('expire_date', '<=', expired)
        .delete();
      total += deleted;
      onBatch?.(deleted);
    }
    // A batch short of batchSize is the last; one whose rows a server's load or
    // logout deleted first is not, so the keys found decide.
    if (keys.length < batchSize) return total;
  }
}
