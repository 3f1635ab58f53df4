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

/** A lookup's value as its field prepared it: a number, a boolean or text. */
export type LookupValue = string | number | boolean;

/**
 * One of Django's field lookups on a column. `column` must come from the caller's
 * list of the model's fields, never from the request; values are always bound.
 */
export type ColumnLookup =
  | { column: string; lookup: 'exact' | 'gt' | 'gte' | 'lt' | 'lte'; value: LookupValue }
  | {
      column: string;
      lookup: 'iexact' | PatternLookup | `i${PatternLookup}`;
      value: string;
    }
  | { column: string; lookup: 'in'; value: readonly LookupValue[] }
  | { column: string; lookup: 'isnull'; value: boolean };

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

/**
 * Narrows `query` by Django's field lookups, with the SQL Django's backends use
 * for them, so each database answers as Django's does on it: the patterns are
 * LIKE on the column as text (on SQLite, LIKE ignores ASCII case even for
 * `contains`, as Django documents; on PostgreSQL a boolean reads "true"), and
 * the `i…` lookups compare upper() of both sides, as Django's PostgreSQL backend.
 */
export function whereLookups<Builder extends Knex.QueryBuilder>(
  query: Builder,
  db: Pick<Database, 'kind'>,
  lookups: readonly ColumnLookup[],
): Builder {
  const bind = (value: LookupValue): string | number | boolean =>
    typeof value === 'boolean' ? toDbBoolean(db, value) : value;
  for (const lookup of lookups) {
    const { column } = lookup;
    switch (lookup.lookup) {
      case 'isnull':
        if (lookup.value) query.whereNull(column);
        else query.whereNotNull(column);
        break;
      case 'in':
        query.whereIn(column, lookup.value.map(bind));
        break;
      case 'iexact':
        query.whereRaw('upper(cast(?? as text)) = upper(cast(? as text))', [column, lookup.value]);
        break;
      case 'exact':
      case 'gt':
      case 'gte':
      case 'lt':
      case 'lte':
        query.where(column, COMPARISONS[lookup.lookup], bind(lookup.value));
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
