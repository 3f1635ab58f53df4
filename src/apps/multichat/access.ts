import type { UserRepository } from '../../auth/users.js';
import type { Database } from '../../db/connection.js';
import { BatchedLookup, type BatchedLookupSql } from '../../db/batched-lookup.js';
import { fromDbBoolean, fromDbInteger, isRowId, toDbTimestamp } from '../../db/values.js';
import type { Room } from './rooms.js';

/** What every chat command needs to know, as of now. */
export interface Access {
  /**
   * The user, if still active and still logged in with the socket's session, whose
   * auth hash still matches their password (not changed since, wherever).
   */
  user: { username: string; isStaff: boolean } | undefined;
  room: Room | undefined;
}

// The session is found by its primary key, so the join adds at most one row.
const ACCESS_SQL: BatchedLookupSql = {
  one: `select u.username, u.is_active, u.is_staff, u.password,
  s.session_key_hash is not null as live, s.auth_hash as session_auth_hash,
  r.id as room_id, r.title, r.staff_only
from auth_user u
left join gredis_session s
  on s.session_key_hash = ? and s.user_id = u.id and s.expire_date > ?
left join chat_room r on r.id = ?
where u.id = ?`,
  // The same for many keys at once (PostgreSQL); a key is "user hash room" (see check).
  many: `select q.lookup_key, u.username, u.is_active, u.is_staff, u.password,
  l.live, l.session_auth_hash,
  r.id as room_id, r.title, r.staff_only
from (select k as lookup_key,
        split_part(k, ' ', 1)::bigint as user_id,
        split_part(k, ' ', 2) as session_key_hash,
        nullif(split_part(k, ' ', 3), '')::bigint as room_id
      from unnest(?::text[]) as k) q
join auth_user u on u.id = q.user_id
left join chat_room r on r.id = q.room_id
left join lateral (select true as live, s.auth_hash as session_auth_hash from gredis_session s
                   where s.session_key_hash = q.session_key_hash and s.user_id = u.id
                     and s.expire_date > ?
                   limit 1) l on true`,
};

const HEX = /^[0-9a-f]+$/;

interface AccessRow {
  username: string;
  is_active: unknown;
  is_staff: unknown;
  password: string;
  live: unknown;
  session_auth_hash: string | null;
  room_id: unknown;
  title: string | null;
  staff_only: unknown;
}

/**
 * The checks multichat.md asks of every command (user still valid, room exists,
 * staff-only rooms), answered by one query: they run for every chat message, so
 * three round trips to the database would be the worker's largest cost. It is a
 * prepared statement, so PostgreSQL plans it once per connection, and on
 * PostgreSQL the commands a worker runs at the same moment share it.
 */
export class ChatAccess {
  private readonly query: BatchedLookup<AccessRow>;

  /** `users` checks the session auth hash (it holds the secret that keys it). */
  constructor(
    private readonly db: Database,
    private readonly users: UserRepository,
  ) {
    this.query = new BatchedLookup(db, 'gredis_chat_access', ACCESS_SQL, () => [
      toDbTimestamp(db, new Date()),
    ]);
  }

  /** `sessionKeyHash` is what SessionStore.hashOf gave for the socket's session key. */
  async check(userId: number, sessionKeyHash: string, roomId: number): Promise<Access> {
    const room = isRowId(roomId) ? roomId : null;
    // Hashes are hex (SessionStore.hashOf), so a key's three parts cannot run together.
    if (!Number.isSafeInteger(userId) || !HEX.test(sessionKeyHash))
      return { user: undefined, room: undefined };
    const row = await this.query.get(`${userId} ${sessionKeyHash} ${room ?? ''}`, [
      sessionKeyHash,
      toDbTimestamp(this.db, new Date()),
      room,
      userId,
    ]);
    if (!row) return { user: undefined, room: undefined };
    const valid =
      fromDbBoolean(row.is_active) &&
      fromDbBoolean(row.live) &&
      this.users.sessionAuthHashMatches(row.session_auth_hash, row.password);
    return {
      user: valid ? { username: row.username, isStaff: fromDbBoolean(row.is_staff) } : undefined,
      room:
        row.room_id === null || row.room_id === undefined
          ? undefined
          : {
              id: fromDbInteger(row.room_id),
              title: row.title!,
              staffOnly: fromDbBoolean(row.staff_only),
            },
    };
  }
}
