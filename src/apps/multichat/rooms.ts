import type { Knex } from 'knex';
import type { Database } from '../../db/connection.js';
import { committedIf, writeAlongside } from '../../db/transactions.js';
import {
  fromDbBoolean,
  fromDbInteger,
  isRowId,
  toDbBoolean,
  unstorableText,
} from '../../db/values.js';
import {
  orderedBy,
  sliceOf,
  whereListFilter,
  type ListFilter,
  type ListSlice,
} from '../../db/search.js';
import { pythonStrip } from '../../python-strip.js';

export interface Room {
  id: number;
  title: string;
  staffOnly: boolean;
}

export const ROOM_TITLE_MAX_LENGTH = 255;

/** A room title that cannot be stored. */
export class InvalidRoomTitle extends TypeError {
  readonly code = 'GREDIS_INVALID_ROOM_TITLE' as const;
  constructor(reason: string) {
    super(`invalid room title: ${reason}`);
    this.name = 'InvalidRoomTitle';
  }
}

interface RoomRow {
  id: unknown;
  title: string;
  staff_only: unknown;
}

/** Rooms in `chat_room`. */
export class RoomRepository {
  constructor(private readonly db: Database) {}

  private get table() {
    return this.db.knex<RoomRow>('chat_room');
  }

  /**
   * Every room (or those of `slice`: titles containing its terms, matching its
   * lookups, a page of them, in its order), ordered by default by title
   * case-insensitively, the same on both databases whatever their collation
   * (then by title and id, for a stable order, which paging needs).
   */
  async list(slice: ListSlice = {}): Promise<Room[]> {
    const query = this.filtered(this.table.select('id', 'title', 'staff_only'), slice);
    if (slice.ordering) orderedBy(query, slice.ordering);
    else query.orderByRaw('lower(title), title, id');
    const rows = await sliceOf(query, slice);
    return rows.map(toRoom);
  }

  /** How many rooms there are, or how many `filter` leaves. */
  async count(filter: ListFilter = {}): Promise<number> {
    const [row] = await this.filtered(this.table.count({ count: '*' }), filter);
    return fromDbInteger(row?.count);
  }

  private filtered<Builder extends Knex.QueryBuilder>(query: Builder, filter: ListFilter): Builder {
    return whereListFilter(query, this.db, ['title'], filter);
  }

  async find(id: number): Promise<Room | undefined> {
    if (!isRowId(id)) return undefined;
    const row = await this.table.select('id', 'title', 'staff_only').where('id', id).first();
    return row ? toRoom(row) : undefined;
  }

  /**
   * `alongside` runs after the INSERT, in its transaction, with the room made
   * (the admin's log entry: both are stored, or neither).
   */
  async create(
    title: string,
    staffOnly = false,
    alongside?: (trx: Knex.Transaction, room: Room) => Promise<unknown>,
  ): Promise<Room> {
    const clean = validateTitle(title);
    const insert = async (knex: Knex): Promise<Room> => {
      const [row] = await knex<RoomRow>('chat_room')
        .insert({ title: clean, staff_only: toDbBoolean(this.db, staffOnly) } as Partial<RoomRow>)
        .returning(['id', 'title', 'staff_only']);
      return toRoom(row as RoomRow);
    };
    return writeAlongside(this.db, insert, alongside);
  }

  /** Undefined if there is no such room; `alongside` as in create, with the room saved. */
  async update(
    id: number,
    title: string,
    staffOnly: boolean,
    alongside?: (trx: Knex.Transaction, room: Room) => Promise<unknown>,
  ): Promise<Room | undefined> {
    const clean = validateTitle(title);
    const write = async (knex: Knex): Promise<Room | undefined> => {
      const count = await knex<RoomRow>('chat_room')
        .where('id', id)
        .update({ title: clean, staff_only: toDbBoolean(this.db, staffOnly) } as Partial<RoomRow>);
      return count > 0 ? { id, title: clean, staffOnly } : undefined;
    };
    // Nothing saved, nothing to go with it.
    const withSaved =
      alongside &&
      ((trx: Knex.Transaction, room: Room | undefined) => room && alongside(trx, room));
    return writeAlongside(this.db, write, withSaved);
  }

  /**
   * False if there was no such room. `before` runs first, in the DELETE's
   * transaction (the admin's log entry, written before as Django's is), and is
   * rolled back with it when there was none.
   */
  async delete(id: number, before?: (trx: Knex.Transaction) => Promise<unknown>): Promise<boolean> {
    if (!before) return (await this.table.where('id', id).delete()) > 0;
    return committedIf(this.db, async (trx) => {
      await before(trx);
      return (await trx('chat_room').where('id', id).delete()) > 0;
    });
  }
}

function validateTitle(title: string): string {
  // As Django's admin form (CharField strip=True) cleans it.
  const clean = pythonStrip(title);
  if (clean === '') throw new InvalidRoomTitle('a title is required');
  const reason = unstorableText(clean, ROOM_TITLE_MAX_LENGTH);
  if (reason) throw new InvalidRoomTitle(reason);
  return clean;
}

function toRoom(row: RoomRow): Room {
  return { id: fromDbInteger(row.id), title: row.title, staffOnly: fromDbBoolean(row.staff_only) };
}
