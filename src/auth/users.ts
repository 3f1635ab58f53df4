import type { Knex } from 'knex';
import type { Database } from '../db/connection.js';
import { BatchedLookup, type BatchedLookupSql } from '../db/batched-lookup.js';
import { isUniqueViolation } from '../db/errors.js';
import { committedIf, writeAlongside } from '../db/transactions.js';
import {
  orderedBy,
  sliceOf,
  whereListFilter,
  type ListFilter,
  type ListSlice,
} from '../db/search.js';
import {
  fromDbBoolean,
  fromDbInteger,
  fromDbNullableTimestamp,
  fromDbTimestamp,
  isRowId,
  toDbBoolean,
  toDbTimestamp,
  unstorableText,
} from '../db/values.js';
import {
  checkPassword,
  hardenRuntime,
  isUsablePassword,
  makePassword,
  makeUnusablePassword,
  needsRehash,
  passwordSummary,
  PBKDF2_ITERATIONS,
  type PasswordSummaryEntry,
} from './hashers.js';
import { codePointLength } from '../code-points.js';
import { isUsableSecret } from './secret.js';
import { EMAIL_MAX_LENGTH } from './validation.js';
import { SessionAuthHashes } from './session-auth-hash.js';

/**
 * A row of Django's `auth_user`, without the password hash (it leaves this module
 * only as a session auth hash, masked for the admin (passwordSummary), and in
 * ChatAccess's query, which checks one).
 */
export interface User {
  id: number;
  username: string;
  email: string;
  firstName: string;
  lastName: string;
  isStaff: boolean;
  isSuperuser: boolean;
  isActive: boolean;
  lastLogin: Date | null;
  dateJoined: Date;
}

/** A user just authenticated or given a password: what a login stores with the session. */
export interface LoginUser extends User {
  /** The session auth hash of the password just checked or set (see session-auth-hash.ts). */
  sessionAuthHash: string;
  /**
   * The login stored a new hash of the password (more iterations): the user's
   * other sessions ended with the old one, and their open sockets are to close.
   */
  rehashed?: boolean;
}

/**
 * The user of a session, if any. `stale`: the session's auth hash is not that of
 * the user's password now (changed since the login, by whatever means, or a
 * session stored without one): the session is logged out, and the caller, which
 * owns it, ends it (Django's get_user flushes it).
 */
export type SessionUser = { user: User; stale: false } | { user: undefined; stale: boolean };

export interface NewUser {
  username: string;
  email?: string;
  /** Hashed before storing; undefined stores an unusable password (no password login). */
  password?: string;
  firstName?: string;
  lastName?: string;
  isStaff?: boolean;
  isSuperuser?: boolean;
  isActive?: boolean;
}

export interface UserChanges {
  email?: string;
  firstName?: string;
  lastName?: string;
  isStaff?: boolean;
  isSuperuser?: boolean;
  isActive?: boolean;
}

export interface UserRepositoryOptions {
  /** PBKDF2 iterations for new hashes; defaults to PBKDF2_ITERATIONS (lower only in tests). */
  passwordIterations?: number;
  /**
   * SECRET_KEY (loadSecretKey), which keys session auth hashes as Django's does; the
   * same in every process. Required: a process keyed by anything else (once, the
   * empty string by default) makes hashes no other process accepts, or that anyone
   * who knows the password hash can forge.
   */
  secret: string;
}

export type UserErrorCode =
  | 'GREDIS_INVALID_USERNAME'
  | 'GREDIS_DUPLICATE_USERNAME'
  | 'GREDIS_INVALID_USER_FIELD'
  | 'GREDIS_USER_NOT_FOUND'
  | 'GREDIS_USER_SECRET_REQUIRED';

/** Django's username rule failed; `message` is Django's own wording. */
export class InvalidUsername extends TypeError {
  readonly code = 'GREDIS_INVALID_USERNAME' as const;
  constructor(
    readonly username: unknown,
    message: string,
  ) {
    super(message);
    this.name = 'InvalidUsername';
  }
}

/** The username belongs to another user (detected by the database's unique constraint). */
export class DuplicateUsername extends Error {
  readonly code = 'GREDIS_DUPLICATE_USERNAME' as const;
  constructor(readonly username: string) {
    super('That username is already taken.');
    this.name = 'DuplicateUsername';
  }
}

/** Another field (email, first or last name) is too long or not storable text. */
export class InvalidUserField extends TypeError {
  readonly code = 'GREDIS_INVALID_USER_FIELD' as const;
  constructor(
    readonly field: string,
    reason: string,
  ) {
    super(`invalid ${field}: ${reason}`);
    this.name = 'InvalidUserField';
  }
}

export class UserNotFound extends Error {
  readonly code = 'GREDIS_USER_NOT_FOUND' as const;
  constructor(readonly id: number) {
    super(`no user with id ${id}`);
    this.name = 'UserNotFound';
  }
}

/**
 * A UserRepository made without SECRET_KEY (or with an empty one): refused at once,
 * rather than signing session auth hashes with a key nobody else uses.
 */
export class UserSecretRequired extends TypeError {
  readonly code = 'GREDIS_USER_SECRET_REQUIRED' as const;
  constructor() {
    super('UserRepository needs the SECRET_KEY (loadSecretKey) to key session auth hashes');
    this.name = 'UserSecretRequired';
  }
}

export const USERNAME_MAX_LENGTH = 150;
const NAME_MAX_LENGTH = 150;

/** Django's UnicodeUsernameValidator: Python's \w (letters, digits, _) plus @ . + - */
const USERNAME_PATTERN = /^[\p{L}\p{N}_.@+-]+$/u;

/** A username as Django's UsernameField reads it (NFKC), or Django's max_length error. */
type NormalizedUsername = { normalized: string; tooLong?: undefined } | { tooLong: string };

/**
 * `username` (stripped) as Django's UsernameField reads it: a name of more than
 * 150 code points is refused as it is, counted as sent, without NFKC (Django
 * since 3.2.23, CVE-2023-46695: normalising megabytes is a denial of service);
 * a shorter one is normalised, then counted again, as NFKC may lengthen it
 * ("ﬀ" is "ff"). NFKC can also shorten a name (3 Hangul jamo compose into 1
 * syllable), but Django refuses it still, and so does this. Counted without an
 * array of code points: `[...name]` on the 10 MiB a login body may hold
 * allocates some 84 MB, and NFKC of it takes 100s of ms more, per request.
 */
function normalizeUsername(username: string): NormalizedUsername {
  const sent = codePointLength(username);
  if (sent > USERNAME_MAX_LENGTH) return { tooLong: usernameTooLong(sent) };
  const normalized = username.normalize('NFKC');
  const length = codePointLength(normalized);
  return length > USERNAME_MAX_LENGTH ? { tooLong: usernameTooLong(length) } : { normalized };
}

function usernameTooLong(length: number): string {
  return `Ensure this value has at most ${USERNAME_MAX_LENGTH} characters (it has ${length}).`;
}

const BLANK_USERNAME = 'This field cannot be blank.';
const INVALID_USERNAME =
  'Enter a valid username. This value may contain only letters, numbers, and @/./+/-/_ characters.';

/**
 * Checks a username as Django's user model does, after Django's NFKC normalisation;
 * returns the normalised name or throws InvalidUsername (message in Django's words).
 */
export function validateUsername(username: unknown): string {
  if (typeof username !== 'string') throw new InvalidUsername(username, 'A username is required.');
  const checked = normalizeUsername(username);
  if (checked.tooLong !== undefined) throw new InvalidUsername(username, checked.tooLong);
  const { normalized } = checked;
  if (normalized === '') throw new InvalidUsername(username, BLANK_USERNAME);
  if (!USERNAME_PATTERN.test(normalized)) throw new InvalidUsername(username, INVALID_USERNAME);
  return normalized;
}

/**
 * What the username model field's clean() says of a name as typed, not
 * normalised: how Django's createsuperuser checks it (so "™" is refused, though
 * its NFKC "TM" is a valid name, and 150 "ﬃ" pass, though NFKC makes them 450
 * characters). Blank, else every validator that fails (UnicodeUsernameValidator,
 * then max_length), joined by "; " as the command joins them; undefined when
 * it passes.
 */
export function usernameFieldError(username: string): string | undefined {
  if (username === '') return BLANK_USERNAME;
  const errors: string[] = [];
  if (!USERNAME_PATTERN.test(username)) errors.push(INVALID_USERNAME);
  const length = codePointLength(username);
  if (length > USERNAME_MAX_LENGTH) errors.push(usernameTooLong(length));
  return errors.length > 0 ? errors.join('; ') : undefined;
}

/**
 * Django's max_length check of a username (stripped, not yet normalised: NFKC is
 * done here, and not at all for a name past 150 code points), in its words;
 * undefined when it fits.
 */
export function usernameLengthError(username: string): string | undefined {
  return normalizeUsername(username).tooLong;
}

/**
 * Text both databases store verbatim: PostgreSQL rejects NUL in text and UTF-8 has no
 * lone surrogates, so these are refused up front (as Django's forms refuse NUL) on
 * SQLite too, keeping the two backends identical.
 */
function storableText(field: string, value: unknown, maxLength: number): string {
  if (typeof value !== 'string') throw new InvalidUserField(field, 'must be a string');
  const reason = unstorableText(value, maxLength);
  if (reason) throw new InvalidUserField(field, reason);
  return value;
}

/** Django's normalize_email: the domain part is case-insensitive, so it is lowercased. */
function normalizeEmail(email: string): string {
  const at = email.lastIndexOf('@');
  return at === -1 ? email : email.slice(0, at + 1) + email.slice(at + 1).toLowerCase();
}

/** Whether a string can even be a stored username (so it is safe to query for). */
function queryable(value: unknown): value is string {
  return typeof value === 'string' && unstorableText(value, Infinity) === undefined;
}

interface UserRow {
  id: unknown;
  username: string;
  email: string;
  first_name: string;
  last_name: string;
  is_staff: unknown;
  is_superuser: unknown;
  is_active: unknown;
  last_login: unknown;
  date_joined: unknown;
}

interface UserRowWithPassword extends UserRow {
  password: string;
}

interface SessionUserRow extends UserRowWithPassword {
  session_auth_hash: string | null;
}

const USER_COLUMNS = [
  'id',
  'username',
  'email',
  'first_name',
  'last_name',
  'is_staff',
  'is_superuser',
  'is_active',
  'last_login',
  'date_joined',
] as const;

const USER_FROM_SESSION = `${USER_COLUMNS.map((c) => `u.${c}`).join(', ')},
  u.password, s.auth_hash as session_auth_hash
from gredis_session s join auth_user u on u.id = s.user_id`;

const FIND_BY_SESSION_SQL: BatchedLookupSql = {
  one: `select ${USER_FROM_SESSION} where s.session_key_hash = ? and s.expire_date > ?`,
  many: `select s.session_key_hash as lookup_key, ${USER_FROM_SESSION}
where s.session_key_hash = any(?) and s.expire_date > ?`,
};

function toUser(row: UserRow): User {
  return {
    id: fromDbInteger(row.id),
    username: row.username,
    email: row.email,
    firstName: row.first_name,
    lastName: row.last_name,
    isStaff: fromDbBoolean(row.is_staff),
    isSuperuser: fromDbBoolean(row.is_superuser),
    isActive: fromDbBoolean(row.is_active),
    lastLogin: fromDbNullableTimestamp(row.last_login),
    dateJoined: fromDbTimestamp(row.date_joined),
  };
}

/** What the admin's search looks in: Django's UserAdmin.search_fields. */
const USER_SEARCH_COLUMNS = ['username', 'first_name', 'last_name', 'email'] as const;

/** Users in Django's `auth_user` table. Every query is parameterised by knex. */
const BY_ID = [{ column: 'id', descending: false }] as const;

export class UserRepository {
  private readonly iterations: number;
  private readonly authHashes: SessionAuthHashes;
  private readonly bySession: BatchedLookup<SessionUserRow>;

  constructor(
    private readonly db: Database,
    options: UserRepositoryOptions,
  ) {
    if (!isUsableSecret(options?.secret)) throw new UserSecretRequired();
    this.iterations = options.passwordIterations ?? PBKDF2_ITERATIONS;
    this.authHashes = new SessionAuthHashes(options.secret);
    this.bySession = new BatchedLookup(db, 'gredis_user_by_session', FIND_BY_SESSION_SQL, () => [
      toDbTimestamp(db, new Date()),
    ]);
  }

  private get table() {
    return this.db.knex<UserRowWithPassword>('auth_user');
  }

  async findById(id: number): Promise<User | undefined> {
    return isRowId(id) ? this.findOne('id', id) : undefined;
  }

  /**
   * The user whose unique `column` holds `value`. Callers check first that the
   * column can hold it (isRowId, queryable): PostgreSQL errs on an id out of
   * range or a NUL in text, where no row can match.
   */
  private async findOne(
    column: 'id' | 'username',
    value: number | string,
  ): Promise<User | undefined> {
    const row = await this.table
      .select(...USER_COLUMNS)
      .where(column, value)
      .first();
    return row ? toUser(row) : undefined;
  }

  /**
   * The active user a live session (by its stored key hash, see SessionStore.hashOf)
   * belongs to, if the session's auth hash still matches their password, in one
   * query: what a WebSocket handshake needs, cheaply. It runs for every
   * handshake, so it is prepared, and on PostgreSQL the handshakes of one moment
   * share it (BatchedLookup).
   */
  async findBySession(sessionKeyHash: string): Promise<SessionUser> {
    const row = await this.bySession.get(sessionKeyHash, [
      sessionKeyHash,
      toDbTimestamp(this.db, new Date()),
    ]);
    if (!row) return { user: undefined, stale: false };
    return this.sessionUser(row, row.session_auth_hash);
  }

  /**
   * The user of a session already loaded (its `userId` and `authHash`): as
   * findBySession, for a page, whose session middleware has read the session.
   */
  async findForSession(id: number, authHash: string | null): Promise<SessionUser> {
    const row = isRowId(id)
      ? await this.table
          .select(...USER_COLUMNS, 'password')
          .where('id', id)
          .first()
      : undefined;
    if (!row) return { user: undefined, stale: false };
    return this.sessionUser(row, authHash);
  }

  /** Whether a session's stored auth hash is that of this password hash (ChatAccess's check). */
  sessionAuthHashMatches(stored: unknown, passwordHash: unknown): boolean {
    return this.authHashes.matches(stored, passwordHash);
  }

  /**
   * The session auth hash of the user's password as stored now (undefined: no such
   * user), for a session made outside a login (fixtures, tools).
   */
  async sessionAuthHash(id: number): Promise<string | undefined> {
    if (!isRowId(id)) return undefined;
    const row = await this.table.select('password').where('id', id).first();
    return row ? this.authHashes.of(row.password) : undefined;
  }

  /**
   * What the admin may show of the user's password (undefined: no such user):
   * Django's summary, the salt and hash masked, so the hash itself stays here.
   */
  async passwordSummary(id: number): Promise<PasswordSummaryEntry[] | undefined> {
    if (!isRowId(id)) return undefined;
    const row = await this.table.select('password').where('id', id).first();
    return row ? passwordSummary(row.password) : undefined;
  }

  private sessionUser(row: UserRowWithPassword, stored: unknown): SessionUser {
    const user = toUser(row);
    // An inactive user is nobody before the hash is looked at, as in Django (whose
    // backend finds no such user): the session stays, for a reactivation.
    if (!user.isActive) return { user: undefined, stale: false };
    if (!this.sessionAuthHashMatches(stored, row.password)) return { user: undefined, stale: true };
    return { user, stale: false };
  }

  /** Exact (case-sensitive, unnormalised) lookup, as Django's get_by_natural_key. */
  async findByUsername(username: string): Promise<User | undefined> {
    return queryable(username) ? this.findOne('username', username) : undefined;
  }

  /**
   * Creates a user. Throws InvalidUsername, InvalidUserField, or DuplicateUsername
   * (from the unique constraint, so two concurrent creates cannot both succeed).
   */
  async create(
    input: NewUser,
    alongside?: (trx: Knex.Transaction, user: User) => Promise<unknown>,
  ): Promise<User> {
    const username = validateUsername(input.username);
    const email = normalizeEmail(storableText('email', input.email ?? '', EMAIL_MAX_LENGTH));
    const firstName = storableText('first name', input.firstName ?? '', NAME_MAX_LENGTH);
    const lastName = storableText('last name', input.lastName ?? '', NAME_MAX_LENGTH);
    const password =
      input.password === undefined
        ? makeUnusablePassword()
        : await makePassword(input.password, this.iterations);
    const db = this.db;
    const insert = async (knex: Knex): Promise<User> => {
      const [row] = await knex<UserRowWithPassword>('auth_user')
        .insert({
          password,
          last_login: null,
          is_superuser: toDbBoolean(db, input.isSuperuser ?? false),
          username,
          first_name: firstName,
          last_name: lastName,
          email,
          is_staff: toDbBoolean(db, input.isStaff ?? false),
          is_active: toDbBoolean(db, input.isActive ?? true),
          date_joined: toDbTimestamp(db, new Date()),
        })
        .returning(USER_COLUMNS);
      return toUser(row as UserRow);
    };
    try {
      return await writeAlongside(db, insert, alongside);
    } catch (error) {
      if (isUniqueViolation(error)) throw new DuplicateUsername(username);
      throw error;
    }
  }

  /**
   * Every user (or those of `slice`: usernames or emails containing its terms,
   * matching its lookups, a page of them, in its order), by default oldest first.
   */
  async list(slice: ListSlice = {}): Promise<User[]> {
    const query = this.filtered(this.table.select(...USER_COLUMNS), slice);
    const rows = await sliceOf(orderedBy(query, slice.ordering ?? BY_ID), slice);
    return rows.map((row) => toUser(row));
  }

  /** How many users there are, or how many `filter` leaves. */
  async count(filter: ListFilter = {}): Promise<number> {
    const [row] = await this.filtered(this.table.count({ count: '*' }), filter);
    return fromDbInteger(row?.count);
  }

  private filtered<Builder extends Knex.QueryBuilder>(query: Builder, filter: ListFilter): Builder {
    return whereListFilter(query, this.db, USER_SEARCH_COLUMNS, filter);
  }

  /**
   * Changes profile fields and flags; throws UserNotFound or InvalidUserField.
   * `alongside` runs after the UPDATE in its transaction, as in setPassword, with
   * the user as saved: a deactivation and the end of the user's sessions (or the
   * admin's log entry of the change) are both done or neither.
   */
  async update(
    id: number,
    changes: UserChanges,
    alongside?: (trx: Knex.Transaction, user: User) => Promise<unknown>,
  ): Promise<User> {
    const values: Record<string, unknown> = {};
    if (changes.email !== undefined)
      values.email = normalizeEmail(storableText('email', changes.email, EMAIL_MAX_LENGTH));
    if (changes.firstName !== undefined)
      values.first_name = storableText('first name', changes.firstName, NAME_MAX_LENGTH);
    if (changes.lastName !== undefined)
      values.last_name = storableText('last name', changes.lastName, NAME_MAX_LENGTH);
    for (const [key, column] of [
      ['isStaff', 'is_staff'],
      ['isSuperuser', 'is_superuser'],
      ['isActive', 'is_active'],
    ] as const) {
      const flag = changes[key];
      if (flag !== undefined) values[column] = toDbBoolean(this.db, flag === true);
    }
    if (!alongside) {
      await this.updateRow(id, values);
      const user = await this.findById(id);
      if (!user) throw new UserNotFound(id);
      return user;
    }
    let saved: User | undefined;
    await this.updateRow(id, values, async (trx) => {
      const row = await trx<UserRow>('auth_user')
        .select(...USER_COLUMNS)
        .where('id', id)
        .first();
      if (!row) throw new UserNotFound(id);
      saved = toUser(row as UserRow);
      await alongside(trx, saved);
    });
    return saved!;
  }

  /**
   * Stores a new hash of `raw` (undefined: an unusable password) and returns its
   * session auth hash: the sessions made before no longer match it, and one who
   * changes their own password logs in again with this one to stay in (Django's
   * update_session_auth_hash). Callers should still end the user's sessions, so
   * that their rows and chat sockets go at once: in `alongside`, which runs after
   * the UPDATE in its transaction, both are done or neither (a password changed
   * while the old one's sessions stay, or the reverse, is neither what was asked
   * nor what was refused).
   */
  async setPassword(
    id: number,
    raw: string | undefined,
    alongside?: (trx: Knex.Transaction) => Promise<unknown>,
  ): Promise<string> {
    // Hashed first: no connection held, nor transaction open, for its 100s of ms.
    const password =
      raw === undefined ? makeUnusablePassword() : await makePassword(raw, this.iterations);
    await this.updateRow(id, { password }, alongside);
    return this.authHashes.of(password);
  }

  /**
   * Writes `values` to user `id`'s row (UserNotFound when there is none; nothing
   * written when `values` is empty), then runs `alongside` in the same transaction.
   */
  private async updateRow(
    id: number,
    values: Record<string, unknown>,
    alongside?: (trx: Knex.Transaction) => Promise<unknown>,
  ): Promise<void> {
    const write = async (knex: Knex): Promise<void> => {
      if (Object.keys(values).length === 0) return;
      const count = await knex('auth_user').where('id', id).update(values);
      if (count === 0) throw new UserNotFound(id);
    };
    await writeAlongside(this.db, write, alongside);
  }

  /**
   * The active user with this username and password, else undefined. Costs one hash
   * whether or not the user exists, so response times do not reveal usernames; a
   * correct password stored with fewer iterations is rehashed at today's cost. The
   * user carries the session auth hash of the password checked (or rehashed), not
   * of one read later: a password changed meanwhile must not bless this login.
   */
  async authenticate(username: string, raw: string): Promise<LoginUser | undefined> {
    const name = typeof username === 'string' ? username.normalize('NFKC') : undefined;
    const row = queryable(name)
      ? await this.table
          .select(...USER_COLUMNS, 'password')
          .where('username', name)
          .first()
      : undefined;
    // No user, or nothing to check against (an unusable password): the same hash
    // anyway, as Django does since CVE-2024-39329, so the time tells nothing.
    if (!row || typeof raw !== 'string' || !isUsablePassword(row.password)) {
      await makePassword(typeof raw === 'string' ? raw : '', this.iterations);
      return undefined;
    }
    // Checked before is_active (as Django does) so inactive accounts cost the same time.
    if (!(await checkPassword(raw, row.password))) {
      await hardenRuntime(raw, row.password, this.iterations);
      return undefined;
    }
    const user = toUser(row);
    // A rehash changes the stored hash, so the user's other sessions end with it, as
    // in Django (where check_password saves the upgraded hash the same way). It is
    // done for an inactive user too, whose login is then refused: Django's
    // check_password rehashes before ModelBackend looks at is_active, so their
    // sessions stay logged out after a reactivation.
    const rehashed = needsRehash(row.password, this.iterations);
    const authHash = rehashed
      ? await this.setPassword(user.id, raw)
      : this.authHashes.of(row.password);
    if (!user.isActive) return undefined;
    return { ...user, sessionAuthHash: authHash, rehashed };
  }

  /** Records a login now (Django's update_last_login). */
  async touchLastLogin(id: number): Promise<void> {
    const count = await this.table
      .where('id', id)
      .update({ last_login: toDbTimestamp(this.db, new Date()) });
    if (count === 0) throw new UserNotFound(id);
  }

  /**
   * Deletes the user (and, by cascade, their sessions); false if there was none.
   * `before` runs first, in the DELETE's transaction, rolled back with it when
   * there was none (the admin's log entry, written before as Django's is: one
   * by the user deleted goes with them, as their entries do).
   */
  async delete(id: number, before?: (trx: Knex.Transaction) => Promise<unknown>): Promise<boolean> {
    if (!Number.isSafeInteger(id) || id < 1) return false;
    if (!before) return (await this.table.where('id', id).delete()) > 0;
    return committedIf(this.db, async (trx) => {
      await before(trx);
      return (await trx('auth_user').where('id', id).delete()) > 0;
    });
  }
}
