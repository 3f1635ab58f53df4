/**
 * The admin actions of Django 3.2's changelist, of which these lists have the
 * one Django gives every ModelAdmin, delete_selected (contrib/admin/actions.py):
 * how changelist_view and response_action read and answer a POST to a list,
 * the action bar (admin/actions.html) and the rows' checkboxes
 * (ModelAdmin.action_checkbox). How each kind of object is deleted, and its
 * confirmation page, are the admin's (admin-rooms.ts, admin-users.ts and,
 * shared, admin-parts.ts).
 */
import type { ColumnLookup } from '../../../db/search.js';
import { isRowId } from '../../../db/values.js';
import { html, type SafeHtml } from '../../../worker/http/html.js';
import type { Request } from '../../../worker/http/request.js';
import { Response } from '../../../worker/http/response.js';
import { counted, type ChangeList, type ListNouns, type ListSource } from './changelist.js';
import { leaveFlash } from './flash.js';
import { pythonInt } from './list-query.js';

/** helpers.ACTION_CHECKBOX_NAME: the rows' checkboxes, each a primary key. */
export const ACTION_CHECKBOX_NAME = '_selected_action';
/** The action's name, the value of the bar's choice. */
export const DELETE_SELECTED = 'delete_selected';

/** Django's warnings (messages.WARNING) for an action POSTed without what it needs. */
export const NOTHING_SELECTED =
  'Items must be selected in order to perform actions on them. No items have been changed.';
export const NO_ACTION = 'No action selected.';

/** What a POST to a list asks, as changelist_view reads it. */
export type ListAction =
  /** No action: the list shows, as for a GET. */
  | { kind: 'none' }
  /** Django's warning, and the list again, by a redirect to itself. */
  | { kind: 'refused'; message: string }
  /**
   * delete_selected on the rows `ids` names (among those the list's search
   * and lookups match), or on all of those (`selectAcross`); `confirmed` once
   * its confirmation page is answered (`post`).
   */
  | { kind: 'delete'; ids: number[]; selectAcross: boolean; confirmed: boolean };

/**
 * changelist_view: an action is run from the bar (its Go button sends `index`,
 * which bar) with rows ticked, or from a page that sends the ticked rows back
 * without `index` (the confirmation); from the bar with none ticked, Django's
 * warning. `_save` is list_editable's, which these lists have not.
 */
export function readListAction(request: Request): ListAction {
  if (request.method !== 'POST') return { kind: 'none' };
  const form = request.form();
  if (form.has('_save')) return { kind: 'none' };
  const selected = form.getAll(ACTION_CHECKBOX_NAME);
  if (selected.length === 0)
    return form.has('index') ? { kind: 'refused', message: NOTHING_SELECTED } : { kind: 'none' };
  return responseAction(form, selected);
}

/**
 * ModelAdmin.response_action: the action of the bar whose button was pressed
 * (`index` into the `action` values sent, as a Python list index; out of range,
 * the last one sent), which must be one of the list's; `select_across` as a
 * BooleanField reads it. Each is its last value, as QueryDict.get reads it: a
 * form sending `index` twice runs what Django would, no other action. A selected
 * value that is no number is dropped (Django's `pk__in` query fails on it with a
 * 500), and so is one no row can have: PostgreSQL refuses a number past its
 * integer in the query, where it matches no row.
 */
function responseAction(form: URLSearchParams, selected: readonly string[]): ListAction {
  const actions = form.getAll('action');
  const index = pythonInt(form.getAll('index').at(-1) ?? '0') ?? 0;
  const chosen = actions.at(index) ?? actions.at(-1);
  if (chosen !== DELETE_SELECTED) return { kind: 'refused', message: NO_ACTION };
  const across = form.getAll('select_across').at(-1) ?? '';
  return {
    kind: 'delete',
    ids: selected.flatMap((value) => {
      const id = pythonInt(value);
      return id !== undefined && isRowId(id) ? [id] : [];
    }),
    selectAcross: across !== '' && !['false', '0'].includes(across.toLowerCase()),
    confirmed: (form.getAll('post').at(-1) ?? '') !== '',
  };
}

/** What delete_selected needs of a list's kind of object. */
export interface DeleteSelected<T> {
  nouns: ListNouns;
  /** The list's rows, where the ticked ones are looked up. */
  source: ListSource<T>;
  /** delete_selected_confirmation.html for `objects`, which posts them back with `post=yes`. */
  confirm(objects: readonly T[]): Response;
  /**
   * Deletes `objects` (those still there), each logged as log_deletion logs it,
   * with what the single delete view does besides; how many it deleted, and
   * what could not follow (a close the layer did not take) as a warning.
   */
  remove(objects: readonly T[]): Promise<{ deleted: number; warning?: string }>;
}

/**
 * A POST to a list, as Django's changelist_view with its one action answers
 * it: undefined for none (the list shows); a warning and the list again when
 * nothing is ticked or no action chosen; the confirmation page of the rows
 * ticked (or, with `select_across`, of all those the search and lookups
 * match); once it is answered (`post`), they are deleted, "Successfully
 * deleted N rooms." and the list again. Django redirects to the list as it was
 * (its full path) with 302; so does this.
 */
export async function listAction<T>(
  request: Request,
  list: ChangeList<T>,
  options: DeleteSelected<T>,
): Promise<Response | undefined> {
  const action = readListAction(request);
  if (action.kind === 'none') return undefined;
  const back = (): Response => Response.redirect(request.fullPath, 302);
  if (action.kind === 'refused') {
    leaveFlash(request, [{ level: 'warning', text: action.message }]);
    return back();
  }
  const { matching } = list;
  const picked = action.selectAcross
    ? matching
    : { ...matching, lookups: [...(matching.lookups ?? []), idIn(action.ids)] };
  const objects =
    action.selectAcross || action.ids.length > 0 ? await options.source.list(picked) : [];
  if (!action.confirmed) return options.confirm(objects);
  const { deleted, warning } = await options.remove(objects);
  // Django's message_user after its delete_queryset: none when nothing was there.
  if (deleted > 0) {
    const text = `Successfully deleted ${counted(deleted, options.nouns)}.`;
    leaveFlash(request, [
      warning === undefined
        ? { level: 'success', text }
        : { level: 'warning', text: `${text}${warning}` },
    ]);
  }
  return back();
}

/** `pk__in`: the rows ticked, among those the list's search and lookups match. */
function idIn(ids: readonly number[]): ColumnLookup {
  return { column: 'id', lookup: 'in', value: [...ids] };
}

/** The confirmation form's hidden fields: the rows again, the action, and `post`. */
export function confirmedFields(ids: readonly number[]): [string, string][] {
  return [
    ...ids.map((id): [string, string] => [ACTION_CHECKBOX_NAME, String(id)]),
    ['action', DELETE_SELECTED],
    ['post', 'yes'],
  ];
}

/**
 * The action bar (admin/actions.html) at the top of the list's form: the
 * action's choice, the Go button (`index` 0, the one bar), the count of the
 * rows ticked on this page, and, where the search and lookups match more than
 * the page shows, "Select all N rooms" (`select_across`), which
 * admin-actions.js offers once every row of the page is ticked, as Django's
 * actions.js does.
 */
export function actionBar(list: ChangeList<unknown>, nouns: ListNouns): SafeHtml {
  const shown = list.items.length;
  const total = list.resultCount;
  return html`<div class="actions" data-actions-icnt="${shown}">
    <label
      >Action:
      <select name="action" required>
        <option value="" selected>---------</option>
        <option value="${DELETE_SELECTED}">Delete selected ${nouns.plural}</option>
      </select></label
    >
    <input type="hidden" name="select_across" value="0" class="select-across" />
    <button type="submit" class="button" title="Run the selected action" name="index" value="0">
      Go
    </button>
    <span class="action-counter" role="status">0 of ${shown} selected</span>
    ${
      total !== shown
        ? html`<span class="all" hidden>${total === 1 ? '' : 'All '}${total} selected</span>
            <span class="question" hidden
              ><button
                type="button"
                class="link-button"
                title="Click here to select the objects across all pages"
              >
                Select all ${counted(total, nouns)}
              </button></span
            >
            <span class="clear" hidden
              ><button type="button" class="link-button">Clear selection</button></span
            >`
        : ''
    }
  </div>`;
}

/** The action checkbox column's header: ticks every row of the page (admin-actions.js). */
export function actionToggleHeader(): SafeHtml {
  return html`<th scope="col" class="action-checkbox-column">
    <input
      type="checkbox"
      id="action-toggle"
      aria-label="Select all objects on this page for an action"
    />
  </th>`;
}

/** ModelAdmin.action_checkbox: a row's box, its value the primary key, named for screen readers. */
export function actionCheckbox(id: number, name: string): SafeHtml {
  return html`<td class="action-checkbox">
    <input
      type="checkbox"
      name="${ACTION_CHECKBOX_NAME}"
      value="${id}"
      class="action-select"
      aria-label="Select this object for an action - ${name}"
    />
  </td>`;
}
