import type { Knex } from 'knex';
import type { Database } from './connection.js';
import { toDbBoolean } from './values.js';

/** Which rows of a list count: those matching every search term and every lookup. */
export interface ListFilter {
  /** Each must be found in one of the searched columns, ignoring case; none: every row. */
  terms?: readonly string[];
  /** Django's field lookups (`?title__startswith=…`), already checked and typed. */
  lookups?: readonly ColumnLookup[];
}

/** Which rows of a list to read, in which order: a page of those of its filter. */
export interface ListSlice extends ListFilter {
  /** The sort, most significant first; none: the repository's own order. */
  ordering?: readonly ColumnOrder[];
  offset?: number;
  limit?: number;
}

/** One key of an ORDER BY. */
export interface ColumnOrder {
  column: string;
  descending: boolean;
}

/**
 * An instant as DateTimeField.get_prep_value makes it, in UTC to the microsecond,
 * as the columns hold it on SQLite: "2026-01-01 00:00:00.000000".
 */
export interface Timestamp {
  utc: string;
}

/** A lookup's value as its field prepared it: a number, a boolean, text or an instant. */
export type LookupValue = string | number | boolean | Timestamp;

/**
 * Django's transforms of a DateTimeField a lookup may go through (`?date_joined__year=2026`),
 * read in UTC, the project's TIME_ZONE: a number (`week_day` from Sunday, 1,
 * `iso_week_day` from Monday, 1; `week` and `iso_year` ISO 8601's), for
 * `date` the day as "YYYY-MM-DD", for `time` the time of day as "HH:MM:SS.ffffff".
 */
export type DateTransform =
  | 'year'
  | 'iso_year'
  | 'month'
  | 'day'
  | 'week'
  | 'week_day'
  | 'iso_week_day'
  | 'quarter'
  | 'hour'
  | 'minute'
  | 'second'
  | 'date'
  | 'time';

/**
 * One of Django's field lookups on a column, or on a transform of it. `column`
 * must come from the caller's list of the model's fields, never from the
 * request; values are always bound.
 */
export type ColumnLookup =
  | {
      column: string;
      transform?: DateTransform;
      lookup: 'exact' | 'gt' | 'gte' | 'lt' | 'lte';
      value: LookupValue;
    }
  | {
      column: string;
      transform?: undefined;
      lookup: 'iexact' | PatternLookup | `i${PatternLookup}` | 'regex' | 'iregex';
      value: string;
    }
  /** A range is BETWEEN its two values, which the caller has checked there are. */
  | {
      column: string;
      transform?: DateTransform;
      lookup: 'in' | 'range';
      value: readonly LookupValue[];
    }
  | { column: string; transform?: DateTransform; lookup: 'isnull'; value: boolean };

type PatternLookup = 'contains' | 'startswith' | 'endswith';

/** `text` as a LIKE pattern that matches only itself: its \, % and _ escaped by \. */
export function escapeLike(text: string): string {
  return text.replace(/[\\%_]/g, (c) => `\\${c}`);
}

/**
 * Narrows `query` to the rows in which each term is contained in one of `columns`,
 * ignoring case: Django's admin search (every term `icontains` some search field).
 * The same SQL on both databases: lower() on both sides, because PostgreSQL's LIKE
 * is case-sensitive; ESCAPE spelt out, because SQLite's LIKE has no default escape;
 * and the term cast to text, because PostgreSQL 14+ has lower() for ranges too and
 * will not guess which an untyped parameter is. lower() folds what the database's
 * folds: on SQLite only ASCII, as Django's icontains there.
 */
export function whereEveryTermIn<Builder extends Knex.QueryBuilder>(
  query: Builder,
  columns: readonly string[],
  terms: readonly string[],
): Builder {
  for (const term of terms) {
    const pattern = `%${escapeLike(term)}%`;
    query.where((anyColumn) => {
      for (const column of columns)
        anyColumn.orWhereRaw("lower(??) like lower(cast(? as text)) escape '\\'", [
          column,
          pattern,
        ]);
    });
  }
  return query;
}

const COMPARISONS = { exact: '=', gt: '>', gte: '>=', lt: '<', lte: '<=' } as const;

const PATTERNS: Record<PatternLookup, (escaped: string) => string> = {
  contains: (text) => `%${text}%`,
  startswith: (text) => `${text}%`,
  endswith: (text) => `%${text}`,
};

/** strftime() of a SQLite column (UTC text) as a number. */
const strftime = (format: string): string => `cast(strftime('${format}', ??) as integer)`;
/** EXTRACT of a PostgreSQL timestamptz once in UTC. */
const extract = (field: string): string => `extract(${field} from ?? at time zone 'UTC')`;
/**
 * The time of day of a SQLite column, always to the microsecond, so that text
 * compares as times do: time() drops the fraction, which is the text's from its
 * 21st character, padded, as a row Django wrote has none when it is zero.
 */
const sqliteTime = "(time(??) || '.' || substr(substr(??, 21) || '000000', 1, 6))";

/**
 * The SQL of Django's date transforms on each database (`??`, the column), in
 * UTC as Django's with TIME_ZONE = 'UTC': SQLite's columns hold UTC text, which
 * its date functions read (Django's Python functions there give the same
 * numbers); PostgreSQL's timestamptz is turned to UTC first, and its `second`
 * keeps the fraction, as Django's EXTRACT there does.
 */
const TRANSFORMS: Record<Database['kind'], Record<DateTransform, string>> = {
  sqlite: {
    year: strftime('%Y'),
    iso_year: strftime('%G'),
    month: strftime('%m'),
    day: strftime('%d'),
    week: strftime('%V'),
    week_day: `(${strftime('%w')} + 1)`,
    iso_week_day: strftime('%u'),
    quarter: `((${strftime('%m')} + 2) / 3)`,
    hour: strftime('%H'),
    minute: strftime('%M'),
    second: strftime('%S'),
    date: 'date(??)',
    time: sqliteTime,
  },
  postgres: {
    year: extract('year'),
    iso_year: extract('isoyear'),
    month: extract('month'),
    day: extract('day'),
    week: extract('week'),
    week_day: `(${extract('dow')} + 1)`,
    iso_week_day: extract('isodow'),
    quarter: extract('quarter'),
    hour: extract('hour'),
    minute: extract('minute'),
    second: extract('second'),
    date: "(?? at time zone 'UTC')::date",
    time: "(?? at time zone 'UTC')::time",
  },
};

/**
 * Django's regex lookups: PostgreSQL's own operators on the column as text (a
 * boolean "true" there, 1 on SQLite, as Django's); SQLite's REGEXP, the function registered on each connection (sqlite-regexp.ts),
 * told to ignore case as Django tells it, by Python's leading `(?i)` (bound:
 * knex would read the `?` of a literal as a placeholder).
 */
function whereRegex(
  query: Knex.QueryBuilder,
  db: Pick<Database, 'kind'>,
  column: string,
  pattern: string,
  ignoringCase: boolean,
): void {
  if (db.kind === 'postgres')
    query.whereRaw(`cast(?? as text) ${ignoringCase ? '~*' : '~'} cast(? as text)`, [
      column,
      pattern,
    ]);
  else query.whereRaw('?? regexp ?', [column, ignoringCase ? `(?i)${pattern}` : pattern]);
}

/**
 * Narrows `query` by Django's field lookups, with the SQL Django's backends use
 * for them, so each database answers as Django's does on it: the patterns are
 * LIKE on the column as text (on SQLite, LIKE ignores ASCII case even for
 * `contains`, as Django documents; on PostgreSQL a boolean reads "true"), and
 * the `i…` lookups compare upper() of both sides, as Django's PostgreSQL backend.
 * A year compared is the extracted year, which selects what Django's bounds of
 * the year do.
 */
export function whereLookups<Builder extends Knex.QueryBuilder>(
  query: Builder,
  db: Pick<Database, 'kind'>,
  lookups: readonly ColumnLookup[],
): Builder {
  const bind = (value: LookupValue): string | number | boolean => {
    if (typeof value === 'boolean') return toDbBoolean(db, value);
    if (typeof value === 'object') return db.kind === 'postgres' ? `${value.utc}+00` : value.utc;
    return value;
  };
  for (const lookup of lookups) {
    const { column } = lookup;
    const side = lookup.transform === undefined ? '??' : TRANSFORMS[db.kind][lookup.transform];
    // A transform may name its column more than once (SQLite's `time`).
    const columns = side
      .split('??')
      .slice(1)
      .map(() => column);
    switch (lookup.lookup) {
      case 'isnull':
        query.whereRaw(`${side} is ${lookup.value ? '' : 'not '}null`, columns);
        break;
      case 'in':
        query.whereRaw(`${side} in (${lookup.value.map(() => '?').join(', ')})`, [
          ...columns,
          ...lookup.value.map(bind),
        ]);
        break;
      case 'range':
        query.whereRaw(`${side} between ? and ?`, [...columns, ...lookup.value.map(bind)]);
        break;
      case 'iexact':
        query.whereRaw('upper(cast(?? as text)) = upper(cast(? as text))', [column, lookup.value]);
        break;
      case 'regex':
      case 'iregex':
        whereRegex(query, db, column, lookup.value, lookup.lookup === 'iregex');
        break;
      case 'exact':
      case 'gt':
      case 'gte':
      case 'lt':
      case 'lte':
        query.whereRaw(`${side} ${COMPARISONS[lookup.lookup]} ?`, [...columns, bind(lookup.value)]);
        break;
      default: {
        const insensitive = lookup.lookup.startsWith('i');
        const pattern = PATTERNS[lookup.lookup.slice(insensitive ? 1 : 0) as PatternLookup](
          escapeLike(lookup.value),
        );
        query.whereRaw(
          insensitive
            ? "upper(cast(?? as text)) like upper(cast(? as text)) escape '\\'"
            : "cast(?? as text) like cast(? as text) escape '\\'",
          [column, pattern],
        );
      }
    }
  }
  return query;
}

/** Narrows `query` to the rows `filter` leaves: its terms found in `searched`, its lookups met. */
export function whereListFilter<Builder extends Knex.QueryBuilder>(
  query: Builder,
  db: Pick<Database, 'kind'>,
  searched: readonly string[],
  filter: ListFilter,
): Builder {
  whereEveryTermIn(query, searched, filter.terms ?? []);
  return whereLookups(query, db, filter.lookups ?? []);
}

/** Applies a slice's ordering, if it has one. */
export function orderedBy<Builder extends Knex.QueryBuilder>(
  query: Builder,
  ordering: readonly ColumnOrder[],
): Builder {
  for (const { column, descending } of ordering) query.orderBy(column, descending ? 'desc' : 'asc');
  return query;
}

/** Applies a slice's offset and limit, if it has them. */
export function sliceOf<Builder extends Knex.QueryBuilder>(
  query: Builder,
  slice: ListSlice,
): Builder {
  if (slice.offset !== undefined) query.offset(slice.offset);
  if (slice.limit !== undefined) query.limit(slice.limit);
  return query;
}
