/**
 * What the admin's rooms and users pages share: the page frame and its crumbs,
 * notices after a save or a delete, the log entry of a change, the history
 * page, the delete confirmations and the list's action form.
 */
import type { Knex } from 'knex';
import { html, type HtmlValue } from '../../../worker/http/html.js';
import type { Request } from '../../../worker/http/request.js';
import { Response } from '../../../worker/http/response.js';
import type { AdminServices } from '../index.js';
import {
  csrfInput,
  errorCount,
  page,
  type Crumb,
  type Errors,
  type FlashLink,
  type FlashMessage,
} from './layout.js';
import { leaveFlash, takeFlash } from './flash.js';
import type { ChangeList, ListNouns } from './changelist.js';
import { actionBar, confirmedFields } from './changelist-actions.js';
import { CONFIRM_TITLE, deleteConfirmation } from './delete-confirmation.js';
import { truncateWords } from '../../../python-strip.js';
import type { NewLogEntry } from '../admin-log.js';

/** 303: the browser follows with a GET, so reloading the result never re-submits the form. */
/** The lists' paths: where a save, a delete or a crumb goes back to. */
export const ROOM_LIST = '/admin/rooms/';
export const USER_LIST = '/admin/users/';

export function redirectWith(
  request: Request,
  location: string,
  text: FlashMessage['text'],
  level: FlashMessage['level'] = 'success',
): Response {
  leaveFlash(request, [{ level, text }]);
  return Response.redirect(location, 303);
}

/**
 * A room or user page whose object is not there (deleted meanwhile: a stale link
 * or form, another admin's doing) leads to the dashboard with a warning, in the
 * words of Django's admin (_get_obj_does_not_exist_redirect), not to a 404 page;
 * Django starts it with the model's verbose_name as it is, lower case.
 */
export function missingObject(
  request: Request,
  kind: 'room' | 'user',
  id: string | undefined,
): Response {
  const text = `${kind} with ID “${id ?? ''}” doesn’t exist. Perhaps it was deleted?`;
  return redirectWith(request, '/admin/', text, 'warning');
}

/**
 * Django's notice after an add or a change (ModelAdmin.response_add and
 * response_change, on "Save"): the object's name links to its page, as it does
 * for whoever may change it, which is anyone who reaches these pages.
 */
export function savedNotice(
  kind: 'room' | 'user',
  object: FlashLink,
  done: 'added' | 'changed',
): (string | FlashLink)[] {
  return [`The ${kind} “`, object, `” was ${done} successfully.`];
}

/**
 * Django's submit row (submit_line.html) on an add or change form: Save first,
 * so that Enter in a field saves, then the two that stay on a form.
 */
export function saveButtons(): HtmlValue {
  return html`<button type="submit" class="primary" name="_save">Save</button>
    <button type="submit" name="_addanother">Save and add another</button>
    <button type="submit" name="_continue">Save and continue editing</button>`;
}

/** Django's notice after a delete (ModelAdmin.response_delete): the name as it was, no link. */
export function deletedNotice(kind: 'room' | 'user', name: string): string {
  return `The ${kind} “${name}” was deleted successfully.`;
}

/**
 * Django's log_addition, log_change and log_deletion: an entry by the request's
 * user, written in `trx`, the transaction of the change it records.
 */
export function logAction(
  services: AdminServices,
  request: Request,
  trx: Knex.Transaction,
  entry: Omit<NewLogEntry, 'userId'>,
): Promise<void> {
  return services.log.record(trx, { ...entry, userId: request.user!.id });
}

/** The labels of the fields whose values differ, in the form's order, as Django's changed_data. */
export function changedLabels<T>(
  before: T,
  after: T,
  labels: readonly (readonly [keyof T, string])[],
): string[] {
  return labels.flatMap(([key, label]) => (before[key] === after[key] ? [] : [label]));
}

/**
 * Django's history_view: the object's log, oldest first, under "Change history:
 * <object>". An object that is gone has no page, its entries notwithstanding:
 * Django redirects as from its other pages (missingObject).
 */
export function historyPage(
  request: Request,
  options: { list: Crumb; name: string; href: string; body: HtmlValue },
): Response {
  const { list, name, href } = options;
  return adminPage(
    request,
    { title: `Change history: ${name}`, crumbs: objectCrumbs(list, name, href, 'History') },
    html`<section class="card" aria-labelledby="history-heading">
      <h1 id="history-heading">Change history: ${name}</h1>
      ${options.body}
    </section>`,
  );
}

/**
 * Django's change_form_object_tools.html: a link to the object's history,
 * keeping the list's filters.
 */
export function objectTools(href: string): HtmlValue {
  return html`<ul class="object-tools">
    <li><a href="${href}" class="button historylink">History</a></li>
  </ul>`;
}

/** What Django's admin/base_site.html puts around a page's content. */
interface AdminHead {
  /** Django's title: the page's h1 (the body's to render), and its <title>. */
  title: string;
  /** Django's subtitle, the object's name on a change page: first in the <title>. */
  subtitle?: string;
  /** The breadcrumbs after Home; none on the dashboard, as on Django's index. */
  crumbs?: readonly Crumb[];
  /** Scripts from /static/ (a list's action checkboxes). */
  scripts?: string[];
}

/** `notices`: about this request (a search refused), after those left by the last POST. */
export function adminPage(
  request: Request,
  head: AdminHead,
  body: HtmlValue,
  notices: readonly FlashMessage[] = [],
): Response {
  const messages = [...takeFlash(request), ...notices];
  return Response.html(
    page(request, {
      title: head.subtitle === undefined ? head.title : `${head.subtitle} | ${head.title}`,
      admin: true,
      breadcrumbs: head.crumbs && [{ text: 'Home', href: '/admin/' }, ...head.crumbs],
      scripts: head.scripts,
      body,
      messages,
    }),
  );
}

export const ROOMS_CRUMB: Crumb = { text: 'Rooms', href: ROOM_LIST };
export const USERS_CRUMB: Crumb = { text: 'Users', href: USER_LIST };

/**
 * Django's breadcrumbs of an object's pages: its name (truncatewords:"18") links
 * to its change page, but on that page itself.
 */
export function objectCrumbs(list: Crumb, name: string, href: string, here?: string): Crumb[] {
  const object = { text: truncateWords(name, 18), href };
  return here === undefined ? [list, { text: object.text }] : [list, object, { text: here }];
}

/** Path ids are positive integers; anything else is a page that does not exist. */
export function parseId(text: string | undefined): number | undefined {
  return text && /^[1-9]\d{0,15}$/.test(text) ? Number(text) : undefined;
}

/**
 * A checkbox as Django's CheckboxInput reads it: absent (unticked) is false, and
 * so are "false" in any case and an empty value; of a name sent twice, the last
 * counts. A script that POSTs is_superuser=false must not make a superuser.
 */
export function isChecked(form: URLSearchParams, name: string): boolean {
  const value = form.getAll(name).at(-1);
  return value !== undefined && value !== '' && value.toLowerCase() !== 'false';
}

/** Whether any field has an error. */
export function hasErrors(errors: Errors): boolean {
  return errorCount(errors) > 0;
}

/** "invalid email: at most 254 characters" → "At most 254 characters." */
export function reasonOf(message: string, prefix: RegExp): string {
  const reason = message.replace(prefix, '');
  return `${reason.charAt(0).toUpperCase()}${reason.slice(1)}${reason.endsWith('.') ? '' : '.'}`;
}

export function yesNo(value: boolean): HtmlValue {
  return value
    ? html`<span class="flag flag-yes">Yes</span>`
    : html`<span class="flag flag-no">No</span>`;
}

export function timestamp(date: Date | null): HtmlValue {
  if (!date) return html`<span class="muted">never</span>`;
  const iso = date.toISOString();
  return html`<time datetime="${iso}">${iso.slice(0, 16).replace('T', ' ')} UTC</time>`;
}

/**
 * Django's delete_confirmation.html for one object, from its Delete link: what
 * goes with it (here nothing else Django would list), and `consequence`, what
 * else deleting it does here.
 */
export function confirmDelete(
  request: Request,
  options: {
    kind: 'room' | 'user';
    name: string;
    /** The object's change page. */
    href: string;
    consequence: string;
    action: string;
    cancel: string;
    crumbs: readonly Crumb[];
  },
): Response {
  const { kind, name } = options;
  const kindTitle = capitalised(kind);
  return adminPage(
    request,
    { title: CONFIRM_TITLE, crumbs: options.crumbs },
    deleteConfirmation(request, {
      question: html`Are you sure you want to delete the ${kind} "${name}"?`,
      selected: false,
      summary: [{ kinds: `${kindTitle}s`, count: 1 }],
      objects: [{ kind: kindTitle, name, href: options.href }],
      consequence: options.consequence,
      action: options.action,
      cancel: options.cancel,
    }),
  );
}

/** Django's capfirst. */
export function capitalised(text: string): string {
  return `${text.charAt(0).toUpperCase()}${text.slice(1)}`;
}

/** The lists' action checkboxes' script (Django's actions.js). */
export const ACTIONS_SCRIPT = '/static/admin-actions.js';

/**
 * A list's form (change_list.html's #changelist-form): the action bar, then
 * the table whose rows it acts on, posted back to the list as it is shown.
 */
export function changelistForm(
  request: Request,
  list: ChangeList<unknown>,
  nouns: ListNouns,
  table: HtmlValue,
): HtmlValue {
  return html`<form id="changelist-form" method="post" novalidate>
    ${csrfInput(request)} ${actionBar(list, nouns)} ${table}
  </form>`;
}

/**
 * Django's delete_selected_confirmation.html for the objects ticked: posted
 * back to the list (whose search and lookups the URL keeps) with their ids,
 * the action and `post=yes`.
 */
export function confirmDeleteSelected<T extends { id: number }>(
  request: Request,
  objects: readonly T[],
  options: {
    nouns: ListNouns;
    crumb: Crumb;
    describe(object: T): { name: string; href: string };
    consequence: string;
  },
): Response {
  const { nouns } = options;
  const kind = capitalised(nouns.singular);
  // model_ngettext: the singular for one object, else the plural.
  const objectsName = objects.length === 1 ? nouns.singular : nouns.plural;
  return adminPage(
    request,
    { title: CONFIRM_TITLE, crumbs: [options.crumb, { text: 'Delete multiple objects' }] },
    deleteConfirmation(request, {
      question: html`Are you sure you want to delete the selected ${objectsName}?`,
      selected: true,
      summary: [{ kinds: capitalised(nouns.plural), count: objects.length }],
      objects: objects.map((object) => ({ kind, ...options.describe(object) })),
      consequence: options.consequence,
      action: request.fullPath,
      cancel: request.fullPath,
      hidden: confirmedFields(objects.map(({ id }) => id)),
    }),
  );
}
