import { codePointLength } from '../code-points.js';
import type { Database } from './connection.js';

/**
 * Conversions that make rows look the same on both databases. PostgreSQL (pg) already
 * returns booleans and Dates; SQLite returns 0/1 and whatever was stored. Timestamps
 * are stored in SQLite as Django does (sqliteTimestampText), so a Django project can
 * share the file and text comparison orders them correctly.
 */

/**
 * An instant in UTC, "YYYY-MM-DD HH:MM:SS.ffffff", as Django's SQLite backend
 * writes it and binds it to compare (adapt_datetimefield_value's str() of the
 * naive datetime): without the fraction when its microseconds are 0
 * ("2026-01-01 00:00:00"). One form for both, or a whole second stored
 * one way and compared the other would differ as text ("…00" < "…00.000000").
 */
export function sqliteTimestampText(utcToTheMicrosecond: string): string {
  return utcToTheMicrosecond.endsWith('.000000')
    ? utcToTheMicrosecond.slice(0, -'.000000'.length)
    : utcToTheMicrosecond;
}

/** The value to bind for a timestamp column. */
export function toDbTimestamp(db: Pick<Database, 'kind'>, date: Date): Date | string {
  if (db.kind === 'postgres') return date;
  const iso = date.toISOString(); // 2026-11-28T12:34:56.789Z
  return sqliteTimestampText(`${iso.slice(0, 10)} ${iso.slice(11, 23)}000`);
}

/** The value to bind for a boolean column. */
export function toDbBoolean(db: Pick<Database, 'kind'>, value: boolean): boolean | number {
  return db.kind === 'postgres' ? value : value ? 1 : 0;
}

const DJANGO_SQLITE_TIMESTAMP =
  /^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,6}))?(Z|[+-]\d{2}:?\d{2})?$/;

/** A timestamp column's value as a Date; throws TypeError for anything unreadable. */
export function fromDbTimestamp(value: unknown): Date {
  if (value instanceof Date) return value;
  // Rows written through knex's own Date binding on SQLite hold epoch milliseconds.
  if (typeof value === 'number' || typeof value === 'bigint') return new Date(Number(value));
  if (typeof value === 'string') {
    const match = DJANGO_SQLITE_TIMESTAMP.exec(value.trim());
    if (match) {
      const [, y, mo, d, h, mi, s, fraction = '', zone] = match;
      const ms = Number(fraction.padEnd(6, '0').slice(0, 3));
      const utc = Date.UTC(
        Number(y),
        Number(mo) - 1,
        Number(d),
        Number(h),
        Number(mi),
        Number(s),
        ms,
      );
      return new Date(utc - zoneOffsetMs(zone));
    }
  }
  throw new TypeError(`unreadable timestamp ${JSON.stringify(String(value))}`);
}

export function fromDbNullableTimestamp(value: unknown): Date | null {
  return value === null || value === undefined ? null : fromDbTimestamp(value);
}

/** Django on SQLite stores naive UTC; an explicit offset is honoured if present. */
function zoneOffsetMs(zone: string | undefined): number {
  if (!zone || zone === 'Z') return 0;
  const sign = zone.startsWith('-') ? -1 : 1;
  const digits = zone.slice(1).replace(':', '');
  return sign * (Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2))) * 60_000;
}

export function fromDbBoolean(value: unknown): boolean {
  return value === true || value === 1 || value === 1n || value === '1' || value === 't';
}

/** Integer columns (and PostgreSQL's bigint counts, which pg returns as strings). */
export function fromDbInteger(value: unknown): number {
  const number = typeof value === 'string' || typeof value === 'bigint' ? Number(value) : value;
  if (typeof number !== 'number' || !Number.isSafeInteger(number))
    throw new TypeError(`unreadable integer ${JSON.stringify(String(value))}`);
  return number;
}

/**
 * Whether `id` can be a row of an `increments` id column: a positive integer
 * within PostgreSQL's integer. A larger one names no row, and asking for it
 * there is an error ("out of range for type integer"), not an empty answer.
 */
export function isRowId(id: number): boolean {
  return Number.isSafeInteger(id) && id >= 1 && id <= 2 ** 31 - 1;
}

/** A lone UTF-16 surrogate cannot be stored as UTF-8 and would come back altered. */
const LONE_SURROGATE = /\p{Cs}/u;

/**
 * Why `value` cannot go into a text column of at most `maxLength` characters and
 * come back the same on both databases, or undefined when it can. PostgreSQL
 * rejects NUL in text and UTF-8 has no lone surrogates, so both are refused on
 * SQLite too. Lengths count characters (code points), as Django does.
 */
export function unstorableText(value: string, maxLength: number): string | undefined {
  if (value.includes('\0')) return 'must not contain NUL characters';
  if (LONE_SURROGATE.test(value)) return 'must not contain unpaired surrogates';
  const length = codePointLength(value);
  if (length > maxLength) return `at most ${maxLength} characters (it has ${length})`;
  return undefined;
}

/** The rows of a `knex.raw` result: pg returns `{ rows }`, better-sqlite3 the array itself. */
export function rowsOf(result: unknown): unknown[] {
  if (Array.isArray(result)) return result;
  const rows = (result as { rows?: unknown } | null)?.rows;
  return Array.isArray(rows) ? rows : [];
}
