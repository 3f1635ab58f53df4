/**
 * How Django 3.2's ChangeList (django/contrib/admin/views/main.py) reads a list's
 * sort `?o=` and its field lookups (`?title__startswith=…`, `?is_staff__exact=1`),
 * for the models the admin lists here. Names of columns and lookups come only
 * from a model's own whitelist; values go to the database bound, never as SQL.
 */
import type { ColumnLookup, ColumnOrder, LookupValue } from '../../../db/search.js';
import { SuspiciousOperation } from '../../../worker/http/request.js';
import { pythonStrip } from '../../../python-strip.js';

/** The names a list reads itself; every other name is a field lookup. */
export const ALL_VAR = 'all';
export const ORDER_VAR = 'o';
export const PAGE_VAR = 'p';
export const SEARCH_VAR = 'q';
export const ERROR_FLAG = 'e';

/**
 * Django's IGNORED_PARAMS: names ChangeList leaves out of its lookups (`ot`, a
 * sort's direction in older Djangos' links; `_popup` and `_to_field` of its
 * pop-up lists, which this admin does not have, so they change nothing here; a
 * `_to_field` it may not have is refused before, by the admin's toFieldChecked).
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
 * How a field's values are read: as Django's IntegerField, CharField or
 * BooleanField reads them. A DateTimeField's values are not read here, so a
 * date field takes only `isnull`.
 */
export type FieldKind = 'integer' | 'text' | 'boolean' | 'datetime';

/** A model as its ModelAdmin lists it. */
export interface ListModel {
  /** The local fields a lookup may name, with their kinds (a secret such as a password is left out). */
  fields: Readonly<Record<string, FieldKind>>;
  /** list_display: the columns, in order; `?o=` names them by index, from 0 (there is no action checkbox). */
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

/**
 * `name=value` as Django's QuerySet.filter(**{name: value}) takes it: a field,
 * then at most one lookup (`exact` without one), the value prepared as the field
 * prepares it (prepare_lookup_value splits `in` at commas and reads `isnull`
 * first). The textual lookups take the text as sent, on any field, as Django's.
 * Django's other lookups (range, regex, dates' transforms…) are not taken here.
 */
function fieldLookup(name: string, value: string, model: ListModel): ColumnLookup | undefined {
  const [column = '', lookup = 'exact', ...rest] = name.split('__');
  const kind = Object.hasOwn(model.fields, column) ? model.fields[column] : undefined;
  if (kind === undefined || rest.length > 0) return undefined;
  if (lookup === 'isnull')
    return { column, lookup, value: !['', 'false', '0'].includes(value.toLowerCase()) };
  // A NUL can be in no value stored, and PostgreSQL cannot even take one bound.
  if (kind === 'datetime' || value.includes('\0')) return undefined;
  if (lookup === 'in') {
    const values = value.split(',').map((item) => fieldValue(kind, item));
    return values.every((item) => item !== undefined)
      ? { column, lookup, value: values }
      : undefined;
  }
  if ((TEXTUAL as readonly string[]).includes(lookup))
    return { column, lookup: lookup as (typeof TEXTUAL)[number], value };
  if (!(COMPARED as readonly string[]).includes(lookup)) return undefined;
  const prepared = fieldValue(kind, value);
  return prepared === undefined
    ? undefined
    : { column, lookup: lookup as (typeof COMPARED)[number], value: prepared };
}

/**
 * IntegerField.get_prep_value (Python's int(), here only as far as a safe
 * integer) and BooleanField.to_python ("t", "True", "1"; "f", "False", "0").
 */
function fieldValue(kind: FieldKind, text: string): LookupValue | undefined {
  if (kind === 'text') return text;
  if (kind === 'integer') {
    const number = pythonInt(text);
    return number !== undefined && Number.isSafeInteger(number) ? number : undefined;
  }
  if (['t', 'True', '1'].includes(text)) return true;
  if (['f', 'False', '0'].includes(text)) return false;
  return undefined;
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
            index < model.columns.length ? [{ column: model.columns[index]!, descending }] : [],
          ),
          ...model.adminOrdering,
        ];
  const total = keys.some(({ column }) => column === 'id' || model.unique.includes(column));
  return total ? keys : [...keys, { column: 'id', descending: true }];
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
