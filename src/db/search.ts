import type { Knex } from 'knex';

/** Which rows of a list to read: those matching every search term, a page of them. */
export interface ListSlice {
  /** Each must be found in one of the searched columns, ignoring case; none: every row. */
  terms?: readonly string[];
  offset?: number;
  limit?: number;
}

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

/** Applies a slice's offset and limit, if it has them. */
export function sliceOf<Builder extends Knex.QueryBuilder>(
  query: Builder,
  slice: ListSlice,
): Builder {
  if (slice.offset !== undefined) query.offset(slice.offset);
  if (slice.limit !== undefined) query.limit(slice.limit);
  return query;
}
