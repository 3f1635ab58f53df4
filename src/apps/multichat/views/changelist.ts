/**
 * The admin's lists as Django 3.2's changelist (django/contrib/admin/views/main.py)
 * shows them: PER_PAGE objects a page, chosen by `?p=N` (1-based), narrowed by the
 * search `?q=` and field lookups, sorted by `?o=` (list-query.ts), with the count,
 * page links that keep all of those, and Django's answer to a page number past
 * the end or a lookup it does not take.
 */
import type { ListFilter, ListSlice } from '../../../db/search.js';
import { html, type SafeHtml } from '../../../worker/http/html.js';
import type { Request } from '../../../worker/http/request.js';
import { Response } from '../../../worker/http/response.js';
import { PYTHON_SPACE_CLASS } from '../../../python-strip.js';
import { leaveFlash } from './flash.js';
import { page, type FlashMessage } from './layout.js';
import type { ListControlsState } from './list-controls.js';
import {
  ALL_VAR,
  ERROR_FLAG,
  ORDER_VAR,
  PAGE_VAR,
  SEARCH_VAR,
  listParams,
  listQueryString,
  pythonInt,
  readListQuery,
  type ListModel,
} from './list-query.js';

/** ModelAdmin.list_per_page. */
export const PER_PAGE = 100;
/** ModelAdmin.list_max_show_all: up to this many, a list offers to show them all at once. */
export const MAX_SHOW_ALL = 200;

const FILTERS_VAR = '_changelist_filters';
/** The names of a list's own that its links keep. */
const LIST_VARS: ReadonlySet<string> = new Set([ALL_VAR, ORDER_VAR, PAGE_VAR, SEARCH_VAR]);

/** What a list is read from: a repository's count and list. */
export interface ListSource<T> {
  count(filter: ListFilter): Promise<number>;
  list(slice: ListSlice): Promise<T[]>;
}

/** One page of a list, as the changelist template sees it. */
export interface ChangeList<T> extends ListControlsState {
  /** The search as typed ('' for none, or for one refused). */
  query: string;
  page: number;
  pageCount: number;
  /** Whether `all` was in the URL: every result on one page, if there are at most MAX_SHOW_ALL. */
  showAll: boolean;
  /** Whether the results are split into pages (Django's pagination_required). */
  paged: boolean;
  /** Whether to offer "Show all": more than one page, but at most MAX_SHOW_ALL. */
  offerShowAll: boolean;
  items: T[];
  /** How many match the search and the lookups (all of them without either). */
  resultCount: number;
  /** How many there are, search and lookups or not. */
  fullCount: number;
  /** The search form's errors, shown as notices. */
  messages: FlashMessage[];
  /** Every page's rows, in order (ChangeList.get_queryset): what an action picks from. */
  matching: ListSlice;
}

/** Nouns for a list's texts: "1 room", "250 rooms", "Search rooms by title". */
export interface ListNouns {
  singular: string;
  plural: string;
  /** What the search looks in, for its label. */
  searchedBy: string;
}

/** django.utils.text.smart_split: words, and quoted phrases that may hold spaces. */
const SMART_SPLIT = new RegExp(
  `(?:[^${PYTHON_SPACE_CLASS}'"]*(?:(?:"(?:[^"\\\\]|\\\\[^\\n])*"|'(?:[^'\\\\]|\\\\[^\\n])*')[^${PYTHON_SPACE_CLASS}'"]*)+)|[^${PYTHON_SPACE_CLASS}]+`,
  'g',
);

/**
 * The terms of a search, as ModelAdmin.get_search_results splits it: by spaces,
 * except inside quotes; a term quoted whole loses its quotes (and the
 * backslashes of \" and \\ in it), so "a b" finds the phrase.
 */
export function searchTerms(query: string): string[] {
  return Array.from(query.matchAll(SMART_SPLIT), ([bit]) => {
    const quote = bit[0]!;
    if ((quote !== '"' && quote !== "'") || !bit.endsWith(quote)) return bit;
    return bit.slice(1, -1).replaceAll(`\\${quote}`, quote).replaceAll('\\\\', '\\');
  });
}

/**
 * Paginator.get_elided_page_range(number, on_each_side=3, on_ends=2): every page
 * of a short list; of a long one, the ends and the pages around `current`, with
 * '…' for those left out.
 */
export function elidedPageRange(current: number, pageCount: number): (number | '…')[] {
  const [onEachSide, onEnds] = [3, 2];
  const range = (from: number, to: number): number[] =>
    Array.from({ length: Math.max(0, to - from + 1) }, (_, i) => from + i);
  if (pageCount <= (onEachSide + onEnds) * 2) return range(1, pageCount);
  const before: (number | '…')[] =
    current > 1 + onEachSide + onEnds + 1
      ? [...range(1, onEnds), '…', ...range(current - onEachSide, current)]
      : range(1, current);
  const after: (number | '…')[] =
    current < pageCount - onEachSide - onEnds - 1
      ? [
          ...range(current + 1, current + onEachSide),
          '…',
          ...range(pageCount - onEnds + 1, pageCount),
        ]
      : range(current + 1, pageCount);
  return [...before, ...after];
}

/**
 * ModelAdmin.changelist_view's answer to IncorrectLookupParameters: a redirect to
 * the list's first page with `?e=1` and nothing else, the search and the page
 * number dropped with whatever was wrong, as Django drops them; or, if that
 * already failed, its "Database error" page. `messages`, about the search (a NUL
 * in it), are shown on the page redirected to, as Django's, which the search
 * form had added to the request's messages before the lookup failed.
 */
function incorrectLookup(request: Request, messages: readonly FlashMessage[]): Response {
  if (request.query.has(ERROR_FLAG)) return databaseErrorPage(request);
  leaveFlash(request, messages);
  return Response.redirect(`${request.path}?${ERROR_FLAG}=1`, 302);
}

/**
 * The page of `source` the request asks for, sorted and narrowed as its query
 * string says (list-query.ts), or Django's answer (incorrectLookup) when there is
 * no such page or the query string names a lookup Django would refuse
 * (`?bogus=1`). A page number that is no number means page 1, and a list that
 * fits in one page ignores it, as in Django.
 */
export async function loadChangeList<T>(
  request: Request,
  source: ListSource<T>,
  model: ListModel,
): Promise<ChangeList<T> | Response> {
  const messages: FlashMessage[] = [];
  const params = listParams(request.query);
  let query = params.get(SEARCH_VAR) ?? '';
  // The search form's CharField (strip=False) refuses only a NUL, which no
  // database column can hold: the list shows unsearched, with Django's error
  // (messages.error). Checked first, as ChangeList checks its search form before
  // the lookups: a redirect for those still says why the search was dropped.
  if (query.includes('\0')) {
    messages.push({ level: 'error', text: 'Null characters are not allowed.' });
    query = '';
  }
  const read = readListQuery(params, model);
  if (read === 'incorrect') return incorrectLookup(request, messages);
  const filter = { terms: searchTerms(query), lookups: read.lookups };
  const requested = pythonInt(request.query.getAll(PAGE_VAR).at(-1) ?? '1') ?? 1;
  const resultCount = await source.count(filter);
  const narrowed = filter.terms.length > 0 || filter.lookups.length > 0;
  const fullCount = narrowed ? await source.count({}) : resultCount;
  const pageCount = Math.max(1, Math.ceil(resultCount / PER_PAGE));
  const multiPage = resultCount > PER_PAGE;
  const showAll = params.has(ALL_VAR);
  const canShowAll = resultCount <= MAX_SHOW_ALL;
  const paged = multiPage && !(showAll && canShowAll);
  if (paged && (requested < 1 || requested > pageCount)) return incorrectLookup(request, messages);
  const current = paged ? requested : 1;
  const slice = { ...filter, ordering: read.ordering };
  const items = await source.list(
    paged ? { ...slice, offset: (current - 1) * PER_PAGE, limit: PER_PAGE } : slice,
  );
  return {
    query,
    params,
    model,
    sortedColumns: read.sortedColumns,
    activeFilters: read.activeFilters,
    otherLookups: read.otherLookups,
    page: current,
    pageCount,
    showAll,
    paged,
    offerShowAll: multiPage && canShowAll && !showAll,
    items,
    resultCount,
    fullCount,
    messages,
    matching: slice,
  };
}

/** Makes a link keep the list's page, sort, search and filters; see keepListFilters. */
export type KeepFilters = (url: string) => string;

/**
 * ModelAdmin.get_preserved_filters and add_preserved_filters: links from a list,
 * and on from the pages they lead to, keep the list's query (its `all`, `o`, `p`
 * and `q`, and lookups on its model's fields; on the list as they are, carried
 * as `_changelist_filters` anywhere else), so that Cancel, and the redirect after
 * a save or a delete, lead back to where the user was. Re-encoded, sorted by
 * name as Django's list links are, and nothing else kept, so nothing else
 * reaches a link or a Location; a lookup that is wrong there gets the list's `?e=1`.
 */
export function keepListFilters(request: Request, listPath: string, model: ListModel): KeepFilters {
  const source =
    request.path === listPath
      ? request.query
      : new URLSearchParams(request.query.getAll(FILTERS_VAR).at(-1) ?? '');
  const names = [...new Set(source.keys())].filter(
    (name) => LIST_VARS.has(name) || Object.hasOwn(model.fields, name.split('__')[0]!),
  );
  const kept = new URLSearchParams(
    names.sort().map((name) => [name, source.getAll(name).at(-1)!] as [string, string]),
  );
  const filters = kept.toString();
  if (filters === '') return (url) => url;
  const carried = new URLSearchParams({ [FILTERS_VAR]: filters }).toString();
  return (url) => `${url}?${url === listPath ? filters : carried}`;
}

/** Django's admin/invalid_setup.html, which it answers with 200. */
function databaseErrorPage(request: Request): Response {
  return Response.html(
    page(request, {
      title: 'Database error',
      admin: true,
      body: html`<section class="card error-page">
        <h1>Database error</h1>
        <p>
          Something’s wrong with your database installation. Make sure the appropriate database
          tables have been created, and make sure the database is readable by the appropriate user.
        </p>
      </section>`,
    }),
  );
}

/** "1 room", "250 rooms". */
export function counted(count: number, nouns: ListNouns): string {
  return `${count} ${count === 1 ? nouns.singular : nouns.plural}`;
}

/**
 * The search box (admin/search_form.html): a GET form, so a search is a link; a
 * new search starts at page 1, in the same sort and filters. With a search or
 * lookups, how many they found of how many, and a link back to the whole list.
 */
export function searchForm(list: ChangeList<unknown>, nouns: ListNouns): SafeHtml {
  return html`<form method="get" class="changelist-search" role="search">
    <label for="searchbar">Search ${nouns.plural} by ${nouns.searchedBy}</label>
    <input type="search" id="searchbar" name="${SEARCH_VAR}" value="${list.query}" />
    <button type="submit">Search</button>
    ${[...list.params]
      .filter(([name]) => name !== SEARCH_VAR)
      .map(([name, value]) => html`<input type="hidden" name="${name}" value="${value}" />`)}
    ${
      list.resultCount !== list.fullCount
        ? html`<span class="muted search-count"
            >${list.resultCount} ${list.resultCount === 1 ? 'result' : 'results'} (<a href="?"
              >${list.fullCount} total</a
            >)</span
          >`
        : ''
    }
  </form>`;
}

/**
 * The page links and the count (admin/pagination.html): a navigation landmark of
 * its own, the current page marked as such, shown only when the list is split
 * into pages; and "Show all" where it is and there are at most MAX_SHOW_ALL.
 */
export function paginator(list: ChangeList<unknown>, nouns: ListNouns): SafeHtml {
  const links = list.paged
    ? html`<nav class="paginator" aria-label="Pages of ${nouns.plural}">
        <ul>
          ${elidedPageRange(list.page, list.pageCount).map((item) =>
            item === '…'
              ? html`<li><span class="ellipsis">…</span></li>`
              : item === list.page
                ? html`<li>
                    <span class="this-page" aria-current="page"
                      ><span class="visually-hidden">Page </span>${item}</span
                    >
                  </li>`
                : html`<li>
                    <a href="${listQueryString(list.params, { [PAGE_VAR]: String(item) })}"
                      ><span class="visually-hidden">Page </span>${item}</a
                    >
                  </li>`,
          )}
        </ul>
      </nav>`
    : '';
  return html`${links}
    <p class="result-count">
      ${counted(list.resultCount, nouns)}
      ${list.offerShowAll ? html`<a href="${listQueryString(list.params, { [ALL_VAR]: '' })}">Show all</a>` : ''}
    </p>`;
}
