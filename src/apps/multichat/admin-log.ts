/**
 * The admin's record of what it added, changed and deleted, and by whom: Django's
 * LogEntry (django/contrib/admin/models.py) in `gredis_admin_log` (its migration
 * says how the table differs from Django's). Entries are written only by the
 * admin's views, each in the transaction of the change it describes, so a
 * change rolled back leaves none; the CLI and the chat write none, as Django's
 * admin logs nothing done outside it.
 */
import type { Knex } from 'knex';
import type { Database } from '../../db/connection.js';
import { fromDbInteger, fromDbTimestamp, toDbTimestamp } from '../../db/values.js';
import { storedChangeMessage, type ChangeMessagePart } from './change-message.js';

/** Django's action flags (ADDITION, CHANGE, DELETION), as stored. */
export const ADDITION = 1;
export const CHANGE = 2;
export const DELETION = 3;
export type ActionFlag = typeof ADDITION | typeof CHANGE | typeof DELETION;

/**
 * What an entry is about, by its model's natural key in Django's content types
 * (app label and model name): the MultiChat example's Room is `chat.room`
 * (table `chat_room`), Django's User `auth.user`.
 */
export type LoggedModel = 'chat.room' | 'auth.user';

/** Django's LogEntry.object_repr is a CharField(max_length=200): str(obj)[:200]. */
const OBJECT_REPR_MAX_LENGTH = 200;

export interface NewLogEntry {
  userId: number;
  model: LoggedModel;
  objectId: number;
  /** str(obj) as Django's admin passes it: a room's title, a user's username. */
  objectRepr: string;
  action: ActionFlag;
  /** None for a deletion, whose message Django leaves empty. */
  message?: readonly ChangeMessagePart[];
}

export interface LogEntry {
  id: number;
  actionTime: Date;
  userId: number;
  model: LoggedModel;
  objectId: string;
  objectRepr: string;
  action: ActionFlag;
  /** As stored: Django's JSON, or whatever text (show it with changeMessageText). */
  changeMessage: string;
}

/** An entry with the username and full name of whoever made it, for an object's history. */
export interface HistoryEntry extends LogEntry {
  username: string;
  /** Django's get_full_name(): first and last name, spaces around them stripped. */
  fullName: string;
}

interface LogRow {
  id: unknown;
  action_time: unknown;
  user_id: unknown;
  model: string;
  object_id: string;
  object_repr: string;
  action_flag: unknown;
  change_message: string;
}

const LOG_COLUMNS = [
  'gredis_admin_log.id',
  'action_time',
  'user_id',
  'model',
  'object_id',
  'object_repr',
  'action_flag',
  'change_message',
] as const;

/** Django's admin index shows its user's last 10 actions ({% get_admin_log 10 … %}). */
export const RECENT_ACTIONS_LIMIT = 10;

export class AdminLog {
  constructor(private readonly db: Database) {}

  /**
   * Writes an entry in `trx`, the transaction of the change it describes (Django's
   * log_addition, log_change and log_deletion, in its admin's atomic views).
   */
  async record(trx: Knex.Transaction, entry: NewLogEntry): Promise<void> {
    await trx('gredis_admin_log').insert({
      action_time: toDbTimestamp(this.db, new Date()),
      user_id: entry.userId,
      model: entry.model,
      object_id: String(entry.objectId),
      object_repr: Array.from(entry.objectRepr).slice(0, OBJECT_REPR_MAX_LENGTH).join(''),
      action_flag: entry.action,
      change_message: entry.message === undefined ? '' : storedChangeMessage(entry.message),
    });
  }

  /** The user's latest entries, newest first (Django's get_admin_log … for_user). */
  async recentFor(userId: number, limit = RECENT_ACTIONS_LIMIT): Promise<LogEntry[]> {
    const rows = await this.db
      .knex<LogRow>('gredis_admin_log')
      .select(...LOG_COLUMNS)
      .where('user_id', userId)
      .orderBy([
        { column: 'action_time', order: 'desc' },
        { column: 'id', order: 'desc' },
      ])
      .limit(limit);
    return rows.map(toLogEntry);
  }

  /** An object's entries, oldest first, with their users (Django's history_view). */
  async historyOf(model: LoggedModel, objectId: number): Promise<HistoryEntry[]> {
    const rows = (await this.db
      .knex('gredis_admin_log')
      .join('auth_user', 'auth_user.id', 'gredis_admin_log.user_id')
      .select(...LOG_COLUMNS, 'username', 'first_name', 'last_name')
      .where({ model, object_id: String(objectId) })
      .orderBy([
        { column: 'action_time', order: 'asc' },
        { column: 'gredis_admin_log.id', order: 'asc' },
      ])) as (LogRow & { username: string; first_name: string; last_name: string })[];
    return rows.map((row) => ({
      ...toLogEntry(row),
      username: row.username,
      fullName: `${row.first_name} ${row.last_name}`.trim(),
    }));
  }
}

function toLogEntry(row: LogRow): LogEntry {
  return {
    id: fromDbInteger(row.id),
    actionTime: fromDbTimestamp(row.action_time),
    userId: fromDbInteger(row.user_id),
    model: row.model as LoggedModel,
    objectId: row.object_id,
    objectRepr: row.object_repr,
    action: fromDbInteger(row.action_flag) as ActionFlag,
    changeMessage: row.change_message,
  };
}
