/**
 * How Django 3.2's ChangeList (django/contrib/admin/views/main.py) reads a list's
 * sort `?o=` and its field lookups (`?title__startswith=…`, `?is_staff__exact=1`),
 * for the models the admin lists here. Names of columns and lookups come only
 * from a model's own whitelist; values go to the database bound, never as SQL.
 */
import type { ColumnLookup, ColumnOrder, DateTransform, LookupValue } from '../../../db/search.js';
import { djangoDate, djangoDateTime, djangoTime, isDjangoYear } from './django-date-input.js';
import { SuspiciousOperation } from '../../../worker/http/request.js';
import { pythonStrip } from '../../../python-strip.js';

/** The names a list reads itself; every other name is a field lookup. */
export const ALL_VAR = 'all';
export const ORDER_VAR = 'o';
export const PAGE_VAR = 'p';
export const SEARCH_VAR = 'q';
export const ERROR_FLAG = 'e';

/**
 * ModelAdmin.action_checkbox, list_display's first column on a list with
 * actions: never sorted, though `?o=` counts it (so `o=1` is the first real column).
 */
export const ACTION_CHECKBOX = 'action_checkbox';

/**
 * Django's IGNORED_PARAMS: names ChangeList leaves out of its lookups (`ot`, a
 * sort's direction in older Djangos' links; `_popup` and `_to_field` of its
 * pop-up lists, which this admin does not have, so they change nothing here,
 * not even `o`, which a pop-up list, having no actions, counts from its first
 * real column; a `_to_field` it may not have is refused before, by the
 * admin's toFieldChecked).
 */
const IGNORED_PARAMS: ReadonlySet<string> = new Set([
  ALL_VAR,
  ORDER_VAR,
  'ot',
  SEARCH_VAR,
  '_popup',
  '_to_field',
]);

/**
 * How a field's values are read: as Django's IntegerField, CharField,
 * BooleanField or DateTimeField reads them.
 */
export type FieldKind = 'integer' | 'text' | 'boolean' | 'datetime';

/**
 * How a lookup's values are read: as its field's, or its transform's output
 * field's (a DateField's for `date`, a TimeField's for `time`).
 */
type ValueKind = FieldKind | 'date' | 'time';

/**
 * A lookup Django accepts (QuerySet.filter does not raise) whose query then
 * fails, which Django answers with a 500: a range of other than two values (its
 * value's characters, below), a year compared outside 1–9999 (its bounds are
 * datetimes). (An instant outside those years once in UTC fails on SQLite
 * only: search.ts's UnqueryableOnSqlite.)
 */
export class UnqueryableLookup extends Error {
  readonly code = 'GREDIS_UNQUERYABLE_LOOKUP' as const;
  constructor(name: string, reason: string) {
    super(`${name}: ${reason}, which Django's query fails on`);
    this.name = 'UnqueryableLookup';
  }
}

/** A model as its ModelAdmin lists it. */
export interface ListModel {
  /** The local fields a lookup may name, with their kinds (a secret such as a password is left out). */
  fields: Readonly<Record<string, FieldKind>>;
  /** list_display: the columns, in order, ACTION_CHECKBOX first; `?o=` names them by index, from 0. */
  columns: readonly string[];
  /** ModelAdmin.ordering: the queryset's own order, which Django adds after a requested sort too. */
  adminOrdering: readonly ColumnOrder[];
  /** Meta.ordering, the list's order without `?o=` when the admin has none. */
  metaOrdering: readonly ColumnOrder[];
  /** Fields unique and not null besides the primary key: sorting by one is already total. */
  unique: readonly string[];
  /** list_filter: boolean fields, each with its verbose name ("staff status"). */
  filters: readonly { field: string; title: string }[];
  /** ModelAdmin.lookup_allowed refusing a lookup outright (UserAdmin: anything on the password). */
  refused?: (name: string) => boolean;
}

/** QueryDict's last value of each name: ChangeList.params, without the page and error flag. */
export type ListParams = ReadonlyMap<string, string>;

/** What a list's query string asks for, once Django would have accepted it. */
export interface ListQuery {
  ordering: ColumnOrder[];
  /** get_ordering_field_columns: the sorted column indexes (in the order they sort) and directions. */
  sortedColumns: ReadonlyMap<number, 'asc' | 'desc'>;
  lookups: ColumnLookup[];
  /** Whether a list_filter's parameter is in the query (has_active_filters). */
  activeFilters: boolean;
  /** The lookups that are no list_filter's, which "Clear all filters" keeps. */
  otherLookups: ReadonlyMap<string, string>;
}

/**
 * Python's int() of a string, or undefined where it raises ValueError: Python
 * whitespace around, a sign, digits with single underscores between them. Of
 * that whitespace, int() refuses U+001C–U+001F (ASCII, so never mapped to a
 * space, and not C's isspace()), and no number can contain them.
 * (Python also takes non-ASCII decimal digits; those read here as no number.)
 */
export function pythonInt(text: string): number | undefined {
  // eslint-disable-next-line no-control-regex -- those four are what int() refuses
  if (/[\u001c-\u001f]/.test(text)) return undefined;
  const stripped = pythonStrip(text);
  return /^[+-]?\d+(?:_\d+)*$/.test(stripped) ? Number(stripped.replaceAll('_', '')) : undefined;
}

/** ChangeList.params: each name's last value, but `p` and `e`. */
export function listParams(query: URLSearchParams): Map<string, string> {
  const params = new Map<string, string>();
  for (const name of new Set(query.keys()))
    if (name !== PAGE_VAR && name !== ERROR_FLAG) params.set(name, query.getAll(name).at(-1)!);
  return params;
}

/**
 * The sort and lookups `params` ask for, or 'incorrect' where Django raises
 * IncorrectLookupParameters (a name that is no field, a lookup it has not, a
 * value the field refuses). A lookup the model refuses is 400, as Django's
 * DisallowedModelAdminLookup (a SuspiciousOperation), checked first, as Django's.
 */
export function readListQuery(params: ListParams, model: ListModel): ListQuery | 'incorrect' {
  const names = [...params.keys()].filter((name) => !IGNORED_PARAMS.has(name));
  for (const name of names)
    if (model.refused?.(name))
      throw new SuspiciousOperation(
        'DisallowedModelAdminLookup',
        `Filtering by ${name} not allowed`,
      );
  const lookups: ColumnLookup[] = [];
  for (const name of names) {
    const lookup = fieldLookup(name, params.get(name)!, model);
    if (lookup === undefined) return 'incorrect';
    lookups.push(lookup);
  }
  // Only once every lookup is taken, as Django's fail only when the query runs.
  for (const [i, lookup] of lookups.entries()) {
    const reason = unqueryable(lookup);
    if (reason !== undefined) throw new UnqueryableLookup(names[i]!, reason);
  }
  const filterNames = new Set(
    model.filters.flatMap(({ field }) => [`${field}__exact`, `${field}__isnull`]),
  );
  return {
    ordering: ordering(params.get(ORDER_VAR), model),
    sortedColumns: sortedColumns(params.get(ORDER_VAR), model),
    lookups,
    activeFilters: names.some((name) => filterNames.has(name)),
    otherLookups: new Map(
      names.filter((name) => !filterNames.has(name)).map((name) => [name, params.get(name)!]),
    ),
  };
}

const COMPARED = ['exact', 'gt', 'gte', 'lt', 'lte'] as const;
const TEXTUAL = [
  'iexact',
  'contains',
  'icontains',
  'startswith',
  'istartswith',
  'endswith',
  'iendswith',
] as const;

/** The lookups that take their value as sent, a pattern or a text: Django's don't prepare it. */
const AS_SENT = [...TEXTUAL, 'regex', 'iregex'] as const;

type Transforms = Readonly<Partial<Record<DateTransform, ValueKind>>>;

/** A DateField's transforms (Django's DateField registers them), all numbers. */
const DATE_PARTS: Transforms = {
  year: 'integer',
  iso_year: 'integer',
  month: 'integer',
  day: 'integer',
  week: 'integer',
  week_day: 'integer',
  iso_week_day: 'integer',
  quarter: 'integer',
};

/** A TimeField's. */
const TIME_PARTS: Transforms = { hour: 'integer', minute: 'integer', second: 'integer' };

/**
 * The transforms Django has on each kind of value, with their output's kind: a
 * DateTimeField has a DateField's and a TimeField's, and `date` and `time`,
 * whose outputs have theirs in turn (`date_joined__date__year`). A number
 * (an IntegerField) has none.
 */
const TRANSFORMS: Readonly<Partial<Record<ValueKind, Transforms>>> = {
  datetime: { ...DATE_PARTS, ...TIME_PARTS, date: 'date', time: 'time' },
  date: DATE_PARTS,
  time: TIME_PARTS,
};

/** The kind `name` turns a `kind` into, if it is one of its transforms. */
function transformed(kind: ValueKind, name: string): ValueKind | undefined {
  const transforms = TRANSFORMS[kind];
  return transforms && Object.hasOwn(transforms, name)
    ? transforms[name as DateTransform]
    : undefined;
}

/**
 * The transforms and lookup of a name's `path` (after its field), as Django's
 * Query.build_lookup reads them: every name but the last a transform of what
 * the one before gave; the last a lookup, or else one more transform, compared
 * `exact`. A chain here is `date` or `time` and one of its output's transforms,
 * which, read in UTC as they all are, gives what the same transform of the
 * instant does (the year of its day is its year), and reads as the same text
 * (PostgreSQL's `second` of a time and of a timestamp alike): the last
 * transform is the one to run.
 */
function readPath(
  kind: FieldKind,
  path: readonly string[],
): { transform?: DateTransform; output: ValueKind; lookup: string } | undefined {
  let output: ValueKind = kind;
  let transform: DateTransform | undefined;
  for (const [i, name] of path.entries()) {
    const next = transformed(output, name);
    if (next === undefined)
      return i === path.length - 1 ? { transform, output, lookup: name } : undefined;
    [transform, output] = [name as DateTransform, next];
  }
  return { transform, output, lookup: 'exact' };
}

/**
 * `name=value` as Django's QuerySet.filter(**{name: value}) takes it: a field,
 * on a date its transforms (readPath), then one lookup (`exact` without
 * one), the value prepared as the field (or the transform's output) prepares
 * it (prepare_lookup_value splits `in` at commas and reads `isnull` first;
 * `range` is left a string, whose characters Django's Range takes for its
 * values). The textual and regex lookups take the text as sent, on any field
 * and transform (`date_joined__regex`, `date_joined__year__contains`), matched
 * against its text on the database (search.ts's textSide), as Django's.
 */
function fieldLookup(name: string, value: string, model: ListModel): ColumnLookup | undefined {
  const [column = '', ...path] = name.split('__');
  const kind = Object.hasOwn(model.fields, column) ? model.fields[column] : undefined;
  if (kind === undefined) return undefined;
  const read = readPath(kind, path);
  if (read === undefined) return undefined;
  const { transform, output, lookup } = read;
  if (lookup === 'isnull')
    return { column, transform, lookup, value: !['', 'false', '0'].includes(value.toLowerCase()) };
  // A NUL can be in no value stored, and PostgreSQL cannot even take one bound.
  if (value.includes('\0')) return undefined;
  if (lookup === 'in' || lookup === 'range') {
    const values = (lookup === 'in' ? value.split(',') : Array.from(value)).map((item) =>
      fieldValue(output, item),
    );
    return values.every((item) => item !== undefined)
      ? { column, transform, lookup, value: values }
      : undefined;
  }
  if ((AS_SENT as readonly string[]).includes(lookup))
    return {
      column,
      timestamp: kind === 'datetime',
      transform,
      lookup: lookup as (typeof AS_SENT)[number],
      value,
    };
  if (!(COMPARED as readonly string[]).includes(lookup)) return undefined;
  const prepared = fieldValue(output, value);
  if (prepared === undefined) return undefined;
  // Django 3.2 registers YearLookup, which compares with the bounds of a
  // calendar year, on iso_year too: there these are the year's comparisons.
  const compared = transform === 'iso_year' ? 'year' : transform;
  return {
    column,
    transform: compared,
    lookup: lookup as (typeof COMPARED)[number],
    value: prepared,
  };
}

/** Why Django's query would fail on a lookup it took (see UnqueryableLookup), if it would. */
function unqueryable(lookup: ColumnLookup): string | undefined {
  if (lookup.lookup === 'isnull') return undefined;
  if (lookup.lookup === 'range' && lookup.value.length !== 2)
    return `a range of ${lookup.value.length} values`;
  // YearLookup: exact and the comparisons use the year's bounds, `in` and `range` do not.
  const [year] = [lookup.value].flat();
  return lookup.transform === 'year' &&
    (COMPARED as readonly string[]).includes(lookup.lookup) &&
    !isDjangoYear(year as number)
    ? `year ${String(year)} is out of range`
    : undefined;
}

/**
 * IntegerField.get_prep_value (Python's int(), here only as far as a safe
 * integer), BooleanField.to_python ("t", "True", "1"; "f", "False", "0"), and
 * DateTimeField's and DateField's to_python (django-date-input.ts).
 */
function fieldValue(kind: ValueKind, text: string): LookupValue | undefined {
  switch (kind) {
    case 'text':
      return text;
    case 'integer': {
      const number = pythonInt(text);
      return number !== undefined && Number.isSafeInteger(number) ? number : undefined;
    }
    case 'datetime':
      return djangoDateTime(text);
    case 'date':
      return djangoDate(text);
    case 'time':
      return djangoTime(text);
    case 'boolean':
      if (['t', 'True', '1'].includes(text)) return true;
      if (['f', 'False', '0'].includes(text)) return false;
      return undefined;
  }
}

/** Each `.`-separated item of `o`: str.rpartition('-'), then int() of the index. */
function orderItems(order: string): { index: number; descending: boolean }[] {
  return order.split('.').flatMap((item) => {
    const dash = item.lastIndexOf('-');
    const index = pythonInt(item.slice(dash + 1));
    return index === undefined || !Number.isSafeInteger(index)
      ? []
      : [{ index, descending: dash >= 0 }];
  });
}

/**
 * ChangeList.get_ordering: the columns `o` names (an index past the columns, or
 * no number, skipped), then the admin's ordering; without `o`, the default. Made
 * total as _get_deterministic_ordering makes it, so pages never overlap: unless a
 * key is the primary key or unique, the newest first (`-pk`) breaks ties.
 */
function ordering(order: string | undefined, model: ListModel): ColumnOrder[] {
  const keys: ColumnOrder[] =
    order === undefined
      ? [...defaultOrdering(model), ...model.adminOrdering]
      : [
          ...orderItems(order).flatMap(({ index, descending }) =>
            isSortable(model, index) ? [{ column: model.columns[index]!, descending }] : [],
          ),
          ...model.adminOrdering,
        ];
  const total = keys.some(({ column }) => column === 'id' || model.unique.includes(column));
  return total ? keys : [...keys, { column: 'id', descending: true }];
}

/** Whether column `index` sorts: one of list_display's, but the action checkbox (no admin_order_field). */
export function isSortable(model: ListModel, index: number): boolean {
  return index < model.columns.length && model.columns[index] !== ACTION_CHECKBOX;
}

/** ChangeList._get_default_ordering: the admin's ordering, or else the model's. */
function defaultOrdering(model: ListModel): readonly ColumnOrder[] {
  return model.adminOrdering.length > 0 ? model.adminOrdering : model.metaOrdering;
}

/**
 * ChangeList.get_ordering_field_columns: with `o`, every index it names that is a
 * number, in range or not, the last direction given winning but the first place
 * kept (a dict's); without, the columns of the default ordering.
 */
function sortedColumns(order: string | undefined, model: ListModel): Map<number, 'asc' | 'desc'> {
  const sorted = new Map<number, 'asc' | 'desc'>();
  if (order === undefined) {
    for (const { column, descending } of defaultOrdering(model)) {
      const index = model.columns.indexOf(column);
      if (index >= 0) sorted.set(index, descending ? 'desc' : 'asc');
    }
  } else {
    for (const { index, descending } of orderItems(order))
      sorted.set(index, descending ? 'desc' : 'asc');
  }
  return sorted;
}

/**
 * ChangeList.get_query_string: the list's parameters with `changes` (undefined
 * removes one) and without every name starting with one of `remove`, sorted by
 * name, as Django's links are.
 */
export function listQueryString(
  params: ListParams,
  changes: Readonly<Record<string, string | undefined>> = {},
  remove: readonly string[] = [],
): string {
  const kept = new Map([...params].filter(([name]) => !remove.some((r) => name.startsWith(r))));
  for (const [name, value] of Object.entries(changes))
    if (value === undefined) kept.delete(name);
    else kept.set(name, value);
  const sorted = [...kept].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `?${new URLSearchParams(sorted).toString()}`;
}
