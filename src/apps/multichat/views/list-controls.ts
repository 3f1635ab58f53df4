/**
 * A list's sortable column headers and its filter sidebar, as Django 3.2's
 * admin draws them (templatetags/admin_list.py's result_headers with
 * change_list_results.html; admin_list_filter with filter.html), with the text
 * its icons only show in a title given to screen readers too.
 */
import { html, type SafeHtml } from '../../../worker/http/html.js';
import {
  ORDER_VAR,
  isSortable,
  listQueryString,
  type ListModel,
  type ListParams,
} from './list-query.js';

/** What the headers and the sidebar need of a list. */
export interface ListControlsState {
  params: ListParams;
  model: ListModel;
  sortedColumns: ReadonlyMap<number, 'asc' | 'desc'>;
  activeFilters: boolean;
  otherLookups: ReadonlyMap<string, string>;
}

/** make_qs_param: an index in `o`, `-` before it for descending. */
function orderParam(direction: 'asc' | 'desc', index: number): string {
  return `${direction === 'desc' ? '-' : ''}${index}`;
}

/**
 * The header of column `index` (`label` its text): a link that makes it the
 * first sort (ascending, or the other way if it already sorts), and, while it
 * sorts, links to take it out of the sort and to turn it round, and its place
 * among several sorted columns: after the name (Django floats them right before
 * it), so they are read in the order seen and never cover a long name. The
 * column sorting first is the table's aria-sort, as ARIA wants one at a time.
 */
export function sortableHeader(
  list: ListControlsState,
  index: number,
  label: string,
  /** A column a phone leaves out (the table's `optional` cells). */
  options: { optional?: boolean } = {},
): SafeHtml {
  const sorted = list.sortedColumns;
  const direction = sorted.get(index);
  const next = direction === 'asc' ? 'desc' : 'asc';
  const primary: string[] = [];
  const toggle: string[] = [];
  const remove: string[] = [];
  for (const [column, order] of sorted) {
    if (column === index) {
      primary.unshift(orderParam(next, column));
      toggle.push(orderParam(next, column));
    } else {
      const param = orderParam(order, column);
      primary.push(param);
      toggle.push(param);
      remove.push(param);
    }
  }
  if (direction === undefined) primary.unshift(orderParam(next, index));
  const link = (order: string[]): string =>
    listQueryString(list.params, { [ORDER_VAR]: order.join('.') });
  const column = list.model.columns[index]!;
  const priority = [...sorted.keys()].indexOf(index) + 1;
  const sortedCount = [...sorted.keys()].filter((i) => isSortable(list.model, i)).length;
  const classes = [
    'sortable',
    `column-${column}`,
    ...(direction ? ['sorted', `${direction}ending`] : []),
    ...(options.optional ? ['optional'] : []),
  ];
  const ariaSort = priority === 1 ? (direction === 'asc' ? 'ascending' : 'descending') : undefined;
  return html`<th
    scope="col"
    class="${classes.join(' ')}"
    ${ariaSort ? html` aria-sort="${ariaSort}"` : ''}
  >
    <div class="text"><a href="${link(primary)}">${label}</a></div>
    ${
      direction
        ? html`<div class="sortoptions">
            <a class="sortremove" href="${link(remove)}" title="Remove from sorting"
              ><span class="visually-hidden">Remove ${label} from sorting</span></a
            >
            ${
              sortedCount > 1
                ? html`<span class="sortpriority" title="Sorting priority: ${priority}"
                    ><span class="visually-hidden">Sorting priority: </span>${priority}</span
                  >`
                : ''
            }
            <a class="toggle ${direction}ending" href="${link(toggle)}" title="Toggle sorting"
              ><span class="visually-hidden"
                >Sorted ${direction}ending; sort ${label} ${next}ending</span
              ></a
            >
          </div>`
        : ''
    }
  </th>`;
}

/**
 * The filter sidebar (change_list.html's #changelist-filter): for each of the
 * model's list_filter, "By <its name>" with All, Yes and No, the one in force
 * marked (BooleanFieldListFilter.choices: selected while `__isnull` is not
 * also given); and "Clear all filters" while one is in force, which keeps the
 * other lookups.
 */
export function filterSidebar(list: ListControlsState): SafeHtml {
  if (list.model.filters.length === 0) return html``;
  const lookupNames = [...list.params.keys()].filter(
    (name) => list.otherLookups.has(name) || isFilterName(list.model, name),
  );
  const clear = listQueryString(
    new Map([...list.params].filter(([name]) => !lookupNames.includes(name))),
    Object.fromEntries(list.otherLookups),
  );
  return html`<nav id="changelist-filter" aria-labelledby="changelist-filter-heading">
    <h2 id="changelist-filter-heading">Filter</h2>
    ${
      list.activeFilters
        ? html`<h3 id="changelist-filter-clear">
            <a href="${clear}"><span aria-hidden="true">✖ </span>Clear all filters</a>
          </h3>`
        : ''
    }
    ${list.model.filters.map(({ field, title }) => {
      const exact = `${field}__exact`;
      const isNull = `${field}__isnull`;
      const value = list.params.get(exact);
      const choices: [string | undefined, string][] = [
        [undefined, 'All'],
        ['1', 'Yes'],
        ['0', 'No'],
      ];
      return html`<h3 id="filter-${field}">By ${title}</h3>
        <ul aria-labelledby="filter-${field}">
          ${choices.map(([choice, display]) => {
            const selected = value === choice && !list.params.get(isNull);
            return html`<li${selected ? html` class="selected"` : ''}>
              <a
                href="${listQueryString(list.params, { [exact]: choice }, [isNull])}"
                title="${display}"
                ${selected ? html`aria-current="true"` : ''}
                >${display}</a
              >
            </li>`;
          })}
        </ul>`;
    })}
  </nav>`;
}

function isFilterName(model: ListModel, name: string): boolean {
  return model.filters.some(
    ({ field }) => name === `${field}__exact` || name === `${field}__isnull`,
  );
}
