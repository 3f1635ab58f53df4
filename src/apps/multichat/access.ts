import type { Database } from '../../db/connection.js';
import { PreparedQuery } from '../../db/prepared.js';
import { fromDbBoolean, fromDbInteger, toDbTimestamp } from '../../db/values.js';
import { MAX_ROOM_ID, type Room } from './rooms.js';

/** What every chat command needs to know, as of now. */
export interface Access {
  /** The user, if still active and still logged in with the socket's session. */
  user: { username: string; isStaff: boolean } | undefined;
  room: Room | undefined;
}

const ACCESS_SQL = `select u.username, u.is_active, u.is_staff,
  exists (select 1 from gredis_session s
          where s.session_key_hash = ? and s.user_id = u.id and s.expire_date > ?) as live,
  r.id as room_id, r.title, r.staff_only
from auth_user u left join chat_room r on r.id = ?
where u.id = ?`;

interface AccessRow {
  username: string;
  is_active: unknown;
  is_staff: unknown;
  live: unknown;
  room_id: unknown;
  title: string | null;
  staff_only: unknown;
}

/**
 * The checks multichat.md asks of every command (user still valid, room exists,
 * staff-only rooms), answered by one query: they run for every chat message, so
 * three round trips to the database would be the worker's largest cost. It is a
 * prepared statement, so PostgreSQL plans it once per connection.
 */
export class ChatAccess {
  private readonly query: PreparedQuery<AccessRow>;

  constructor(private readonly db: Database) {
    this.query = new PreparedQuery(db, 'gredis_chat_access', ACCESS_SQL);
  }

  /** `sessionKeyHash` is what SessionStore.hashOf gave for the socket's session key. */
  async check(userId: number, sessionKeyHash: string, roomId: number): Promise<Access> {
    // An id outside the column's range names no room (and would be an error in PostgreSQL).
    const room = roomId >= 1 && roomId <= MAX_ROOM_ID ? roomId : null;
    const [row] = await this.query.rows([
      sessionKeyHash,
      toDbTimestamp(this.db, new Date()),
      room,
      userId,
    ]);
    if (!row) return { user: undefined, room: undefined };
    const valid = fromDbBoolean(row.is_active) && fromDbBoolean(row.live);
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
