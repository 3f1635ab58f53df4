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
 * An instant as DateTimeField.get_prep_value makes it, to the microsecond, in
 * the form each of Django's backends binds it in.
 */
export interface Timestamp {
  /**
   * In UTC as the columns hold it on SQLite, Django's form (values.ts's
   * sqliteTimestampText: "2026-01-01 00:00:00", "2026-01-01 00:00:00.500000"),
   * or undefined where its year in UTC is outside Python's 1–9999, which
   * Django's SQLite backend cannot write (make_naive overflows: its 500).
   */
  utc: string | undefined;
  /**
   * With the offset it was given in ("0001-01-01 00:00:00.000000+01:00";
   * "+00:00" without one), as Django's PostgreSQL backend sends the aware
   * datetime: PostgreSQL reads it as that instant, even one BC or past 9999 in UTC.
   */
  zoned: string;
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
  | TextLookup<'iexact' | PatternLookup | `i${PatternLookup}`>
  | TextLookup<'regex' | 'iregex'>
  /** A range is BETWEEN its two values, which the caller has checked there are. */
  | {
      column: string;
      transform?: DateTransform;
      lookup: 'in' | 'range';
      value: readonly LookupValue[];
    }
  | { column: string; transform?: DateTransform; lookup: 'isnull'; value: boolean };

/**
 * A lookup on the text of a column or of a transform's value, taking its value
 * as sent (Django's prepare_rhs = False), on any field, dates too.
 */
export interface TextLookup<Name extends TextLookupName = TextLookupName> {
  column: string;
  /** Whether the column is a DateTimeField's: its own text is then the instant's, in UTC. */
  timestamp?: boolean;
  transform?: DateTransform;
  lookup: Name;
  value: string;
}

type TextLookupName = 'iexact' | PatternLookup | `i${PatternLookup}` | 'regex' | 'iregex';

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
 * The microseconds of a SQLite column, six digits: its text's from the 21st
 * character, padded, as a row Django wrote has none when they are zero.
 */
const sqliteMicroseconds = "substr(substr(??, 21) || '000000', 1, 6)";
/**
 * The time of day of a SQLite column, always to the microsecond, so that text
 * compares as times do: time() drops the fraction.
 */
const sqliteTime = `(time(??) || '.' || ${sqliteMicroseconds})`;
/**
 * The time of day as Django's SQLite backend hands it to LIKE and REGEXP,
 * Python's time.isoformat(): "12:00:00", or "12:00:00.500000" when it has
 * microseconds.
 */
const sqliteTimeText =
  `(time(??) || case ${sqliteMicroseconds} when '000000' then '' ` +
  `else '.' || ${sqliteMicroseconds} end)`;
/**
 * A timestamptz as text in Django's sessions, whose TimeZone is UTC
 * ("2026-03-01 12:00:00.5+00"), whatever this session's TimeZone (the server's,
 * the role's, a URL's `options=-c TimeZone=…`), which `::text` would follow.
 * The same text for every instant Django can hold, years 1 to 9999 (one BC, or
 * infinity, written by hand, would read otherwise).
 */
const postgresUtcText = "((?? at time zone 'UTC')::text || '+00')";

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
 * A lookup Django takes and its query then fails on, on PostgreSQL only: the
 * text of `week_day` (`?date_joined__week_day__contains=1`), which Django's
 * backend writes `EXTRACT('dow' FROM …) + 1::text`, casting only the 1, and
 * PostgreSQL has no numeric + text. The page answers 500, as Django's; on
 * SQLite the same lookup works, as Django's there.
 */
export class UnqueryableOnPostgres extends Error {
  readonly code = 'GREDIS_UNQUERYABLE_ON_POSTGRES' as const;
  constructor(
    readonly lookup: string,
    reason: string,
  ) {
    super(`${lookup} on PostgreSQL: ${reason}, which Django's query fails on`);
    this.name = 'UnqueryableOnPostgres';
  }
}

/**
 * A lookup Django takes and its query then fails on, on SQLite only: an instant
 * outside years 1–9999 once in UTC (`?date_joined__gte=0001-01-01T00:00+01:00`),
 * which Django's SQLite backend cannot write as UTC text. The page answers 500,
 * as Django's; on PostgreSQL the same lookup works, as Django's there.
 */
export class UnqueryableOnSqlite extends Error {
  readonly code = 'GREDIS_UNQUERYABLE_ON_SQLITE' as const;
  constructor(readonly lookup: string) {
    super(
      `${lookup} on SQLite: an instant out of range once in UTC, which Django's query fails on`,
    );
    this.name = 'UnqueryableOnSqlite';
  }
}

/**
 * The side of a textual or regex lookup (`??`, the column), as Django's
 * backends write it (lookup_cast). On SQLite the value itself, which LIKE and
 * REGEXP read as text: a timestamp's stored text, a transform's number, day
 * ("2026-01-01") or time of day (sqliteTimeText). On PostgreSQL `::text` of
 * it: a boolean reads "true", `second` keeps its fraction ("59.999999"), a
 * timestamp reads as in Django's sessions (postgresUtcText).
 */
function textSide(db: Pick<Database, 'kind'>, lookup: TextLookup): string {
  const { transform } = lookup;
  if (db.kind === 'sqlite') {
    if (transform === undefined) return '??';
    return transform === 'time' ? sqliteTimeText : TRANSFORMS.sqlite[transform];
  }
  if (transform === 'week_day')
    throw new UnqueryableOnPostgres(
      `${lookup.column}__week_day__${lookup.lookup}`,
      'week_day as text',
    );
  if (transform === undefined) return lookup.timestamp ? postgresUtcText : 'cast(?? as text)';
  return `cast(${TRANSFORMS.postgres[transform]} as text)`;
}

/** `column` once for each `??` of `sql`: a side may name its column more than once. */
function columnsFor(sql: string, column: string): string[] {
  return sql
    .split('??')
    .slice(1)
    .map(() => column);
}

/**
 * Django's regex lookups on a side as text (textSide): PostgreSQL's own
 * operators; SQLite's REGEXP, the function registered on each connection
 * (sqlite-regexp.ts), told to ignore case as Django tells it, by Python's
 * leading `(?i)` (bound: knex would read the `?` of a literal as a placeholder).
 */
function whereRegex(
  query: Knex.QueryBuilder,
  db: Pick<Database, 'kind'>,
  lookup: TextLookup<'regex' | 'iregex'>,
): void {
  const side = textSide(db, lookup);
  const ignoringCase = lookup.lookup === 'iregex';
  const columns = columnsFor(side, lookup.column);
  if (db.kind === 'postgres')
    query.whereRaw(`${side} ${ignoringCase ? '~*' : '~'} cast(? as text)`, [
      ...columns,
      lookup.value,
    ]);
  else
    query.whereRaw(`${side} regexp ?`, [
      ...columns,
      ignoringCase ? `(?i)${lookup.value}` : lookup.value,
    ]);
}

/**
 * Django's `iexact` and pattern lookups on a side as text (textSide): LIKE (on
 * SQLite it ignores ASCII case even for `contains`, as Django documents), and
 * the `i…` lookups compare upper() of both sides, as Django's PostgreSQL backend.
 */
function wherePattern(
  query: Knex.QueryBuilder,
  db: Pick<Database, 'kind'>,
  lookup: TextLookup<Exclude<TextLookupName, 'regex' | 'iregex'>>,
): void {
  const side = textSide(db, lookup);
  const columns = columnsFor(side, lookup.column);
  if (lookup.lookup === 'iexact') {
    query.whereRaw(`upper(${side}) = upper(cast(? as text))`, [...columns, lookup.value]);
    return;
  }
  const insensitive = lookup.lookup.startsWith('i');
  const pattern = PATTERNS[lookup.lookup.slice(insensitive ? 1 : 0) as PatternLookup](
    escapeLike(lookup.value),
  );
  query.whereRaw(
    insensitive
      ? `upper(${side}) like upper(cast(? as text)) escape '\\'`
      : `${side} like cast(? as text) escape '\\'`,
    [...columns, pattern],
  );
}

/** A lookup that compares the column, or a transform of it, with its prepared values. */
type ValueLookup = Exclude<ColumnLookup, TextLookup>;

/**
 * A value lookup (exact, comparisons, in, range, isnull) on the column or its
 * transform, each value bound as its database stores it: a boolean as
 * toDbBoolean, an instant zoned on PostgreSQL and as UTC text on SQLite.
 */
function whereValue(
  query: Knex.QueryBuilder,
  db: Pick<Database, 'kind'>,
  lookup: ValueLookup,
): void {
  const bind = (value: LookupValue): string | number | boolean => {
    if (typeof value === 'boolean') return toDbBoolean(db, value);
    if (typeof value !== 'object') return value;
    if (db.kind === 'postgres') return value.zoned;
    if (value.utc === undefined)
      throw new UnqueryableOnSqlite(`${lookup.column}__${lookup.lookup}`);
    return value.utc;
  };
  const side = lookup.transform === undefined ? '??' : TRANSFORMS[db.kind][lookup.transform];
  const columns = columnsFor(side, lookup.column);
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
    default:
      query.whereRaw(`${side} ${COMPARISONS[lookup.lookup]} ?`, [...columns, bind(lookup.value)]);
  }
}

/**
 * Narrows `query` by Django's field lookups, with the SQL Django's backends use
 * for them, so each database answers as Django's does on it: the textual and
 * regex lookups on the column or transform as text (wherePattern, whereRegex),
 * the others on its value (whereValue). A year compared is the extracted year,
 * which selects what Django's bounds of the year do.
 */
export function whereLookups<Builder extends Knex.QueryBuilder>(
  query: Builder,
  db: Pick<Database, 'kind'>,
  lookups: readonly ColumnLookup[],
): Builder {
  for (const lookup of lookups) {
    switch (lookup.lookup) {
      case 'regex':
      case 'iregex':
        whereRegex(query, db, lookup);
        break;
      case 'iexact':
      case 'contains':
      case 'icontains':
      case 'startswith':
      case 'istartswith':
      case 'endswith':
      case 'iendswith':
        wherePattern(query, db, lookup);
        break;
      default:
        whereValue(query, db, lookup);
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
