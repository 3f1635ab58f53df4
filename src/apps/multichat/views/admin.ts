/**
 * The admin (multichat.md): rooms for staff, users for superusers. Server-rendered
 * forms that POST with CSRF, are validated here, and redirect with a one-shot
 * notice kept in the session (post/redirect/get, so a reload never re-submits).
 */
import type { Knex } from 'knex';
import {
  DuplicateUsername,
  InvalidUserField,
  InvalidUsername,
  USERNAME_MAX_LENGTH,
  validateUsername,
  type User,
} from '../../../auth/users.js';
import { CLOSE_LOGGED_OUT } from '../../../auth/socket-groups.js';
import type { PasswordSummaryEntry } from '../../../auth/hashers.js';
import {
  EMAIL_MAX_LENGTH,
  emailProblem,
  passwordProblems,
  type PasswordOwner,
} from '../../../auth/validation.js';
import { login, logout, staffRequired } from '../../../worker/http/auth.js';
import { html, type HtmlValue } from '../../../worker/http/html.js';
import { SuspiciousOperation, type Request } from '../../../worker/http/request.js';
import { Response } from '../../../worker/http/response.js';
import { NotFound, type Router, type View } from '../../../worker/http/router.js';
import { CLOSE_ACCESS_CHANGED, roomDeletedFrame, roomGroup } from '../chat-protocol.js';
import type { AdminServices } from '../index.js';
import { InvalidRoomTitle, ROOM_TITLE_MAX_LENGTH, type Room } from '../rooms.js';
import {
  checkbox,
  csrfInput,
  errorCount,
  field,
  formError,
  page,
  type Crumb,
  type Errors,
  type FlashLink,
  type FlashMessage,
} from './layout.js';
import { errorPage } from './pages.js';
import { leaveFlash, takeFlash } from './flash.js';
import {
  closeAfterChange,
  closeRoomAfterChange,
  sentAfterCommit,
  unsentClose,
  unsentCloseNotice,
  unsentRoomClose,
  unsentRoomNotice,
  type UserSocketsClose,
} from './after-change-close.js';
import {
  counted,
  keepListFilters,
  loadChangeList,
  paginator,
  searchForm,
  type ChangeList,
  type KeepFilters,
  type ListNouns,
} from './changelist.js';
import {
  actionBar,
  actionCheckbox,
  actionToggleHeader,
  confirmedFields,
  listAction,
  type DeleteSelected,
} from './changelist-actions.js';
import { CONFIRM_TITLE, deleteConfirmation } from './delete-confirmation.js';
import { filterSidebar, sortableHeader } from './list-controls.js';
import { ROOM_LIST_MODEL, USER_LIST_MODEL } from './list-models.js';
import { pythonStrip, truncateWords } from '../../../python-strip.js';
import { ADDITION, CHANGE, DELETION, type LoggedModel, type NewLogEntry } from '../admin-log.js';
import { changeMessage, type ChangeMessagePart } from '../change-message.js';
import { historyTable, recentActions } from './history.js';

const ROOM_LIST = '/admin/rooms/';
const USER_LIST = '/admin/users/';

export function addAdminRoutes(router: Router, services: AdminServices): void {
  // Django's admin_view first (anonymous → login), then its view: the change and
  // delete views check `_to_field` before the permission (toFieldChecked); the
  // list, and UserAdmin's add view, after it. Staff who are not superusers get
  // 403 on every users page.
  const staff = (view: View): View => staffRequired(toFieldChecked(view));
  const superuserOnly =
    (view: View): View =>
    (request, params) =>
      request.user?.isSuperuser ? view(request, params) : errorPage(403, request);
  const superuser = (view: View): View => staff(superuserOnly(view));
  const superuserFirst = (view: View): View => staffRequired(superuserOnly(toFieldChecked(view)));
  const both = ['GET', 'POST'];
  router
    .add('/admin/', staffRequired(dashboard(services)), ['GET'])
    .add('/admin/rooms/', staff(roomList(services)), both)
    .add('/admin/rooms/new/', staff(roomCreate(services)), both)
    .add('/admin/rooms/:id/', staff(roomEdit(services)), both)
    .add('/admin/rooms/:id/delete/', staff(roomDelete(services)), both)
    // ModelAdmin.history_view reads no `_to_field`.
    .add('/admin/rooms/:id/history/', staffRequired(roomHistory(services)), ['GET'])
    .add('/admin/users/', superuserFirst(userList(services)), both)
    .add('/admin/users/new/', superuserFirst(userCreate(services)), both)
    .add('/admin/users/:id/', superuser(userEdit(services)), both)
    // UserAdmin.user_change_password reads no `_to_field`.
    .add('/admin/users/:id/password/', staffRequired(superuserOnly(userPassword(services))), both)
    .add('/admin/users/:id/delete/', superuser(userDelete(services)), both)
    .add('/admin/users/:id/history/', staffRequired(superuserOnly(userHistory(services))), ['GET'])
    // Django 3.2's final_catch_all_view: a page under /admin/ that does not exist
    // is 404 to staff only; everyone else is sent to log in, as from a page that
    // does, so that nobody signed out can tell which admin pages exist.
    .fallback(
      '/admin/',
      staffRequired((request) => {
        throw new NotFound(request.path);
      }),
    );
}

/** The primary key's name, the only field of a room or a user an admin may reference. */
const REFERENCED_FIELD = 'id';

/**
 * Django's lists and its add, change and delete views refuse a `_to_field` (the
 * field by which a pop-up sends its choice back to a form's foreign key) that
 * no admin may reference: DisallowedModelAdminToField, a SuspiciousOperation,
 * so 400, and logged as Django logs it. ModelAdmin.to_field_allowed allows the primary key, and a field that a
 * registered model's foreign key or many-to-many targets; nothing targets a room
 * or a user here, so only `id`. A form's POST names it before the URL does
 * (request.POST.get(TO_FIELD_VAR, request.GET.get(TO_FIELD_VAR))); empty is none.
 */
function toFieldChecked(view: View): View {
  return (request, params) => {
    const form = request.method === 'POST' ? request.form() : undefined;
    const source = form?.has('_to_field') ? form : request.query;
    const toField = source.getAll('_to_field').at(-1);
    if (toField && toField !== REFERENCED_FIELD)
      throw new SuspiciousOperation(
        'DisallowedModelAdminToField',
        `The field ${toField} cannot be referenced.`,
      );
    return view(request, params);
  };
}

// ——— shared ———

/** 303: the browser follows with a GET, so reloading the result never re-submits the form. */
function redirectWith(
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
function missingObject(request: Request, kind: 'room' | 'user', id: string | undefined): Response {
  const text = `${kind} with ID “${id ?? ''}” doesn’t exist. Perhaps it was deleted?`;
  return redirectWith(request, '/admin/', text, 'warning');
}

/**
 * Django's notice after an add or a change (ModelAdmin.response_add and
 * response_change, on "Save"): the object's name links to its page, as it does
 * for whoever may change it, which is anyone who reaches these pages.
 */
function savedNotice(
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
function saveButtons(): HtmlValue {
  return html`<button type="submit" class="primary" name="_save">Save</button>
    <button type="submit" name="_addanother">Save and add another</button>
    <button type="submit" name="_continue">Save and continue editing</button>`;
}

/**
 * Where a saved add or change form leads, as ModelAdmin.response_add and
 * response_change send it: "Save and continue editing" (`_continue`, read first)
 * to the object's page, "Save and add another" to an empty add form, each notice
 * saying so; "Save" back to the list, unless `saveContinues` (UserAdmin's add,
 * whose Save continues to the new user's page). Every way keeps the list's filters.
 */
function afterSave(
  request: Request,
  options: {
    kind: 'room' | 'user';
    object: FlashLink;
    done: 'added' | 'changed';
    list: string;
    add: string;
    saveContinues?: boolean;
  },
): Response {
  const { kind, object, list } = options;
  const form = request.form();
  const keep = keepListFilters(request, list, kind === 'room' ? ROOM_LIST_MODEL : USER_LIST_MODEL);
  const notice = savedNotice(kind, object, options.done);
  const another = form.has('_addanother');
  if (form.has('_continue') || (options.saveContinues && !another))
    return redirectWith(request, keep(object.href), [...notice, ' You may edit it again below.']);
  if (another)
    return redirectWith(request, keep(options.add), [
      ...notice,
      ` You may add another ${kind} below.`,
    ]);
  return redirectWith(request, keep(list), notice);
}

/** Django's notice after a delete (ModelAdmin.response_delete): the name as it was, no link. */
function deletedNotice(kind: 'room' | 'user', name: string): string {
  return `The ${kind} “${name}” was deleted successfully.`;
}

/**
 * Django's log_addition, log_change and log_deletion: an entry by the request's
 * user, written in `trx`, the transaction of the change it records.
 */
function logAction(
  services: AdminServices,
  request: Request,
  trx: Knex.Transaction,
  entry: Omit<NewLogEntry, 'userId'>,
): Promise<void> {
  return services.log.record(trx, { ...entry, userId: request.user!.id });
}

/** The labels of the fields whose values differ, in the form's order, as Django's changed_data. */
function changedLabels<T>(
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
function historyPage(
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
function objectTools(href: string): HtmlValue {
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
function adminPage(
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

const ROOMS_CRUMB: Crumb = { text: 'Rooms', href: ROOM_LIST };
const USERS_CRUMB: Crumb = { text: 'Users', href: USER_LIST };

/**
 * Django's breadcrumbs of an object's pages: its name (truncatewords:"18") links
 * to its change page, but on that page itself.
 */
function objectCrumbs(list: Crumb, name: string, href: string, here?: string): Crumb[] {
  const object = { text: truncateWords(name, 18), href };
  return here === undefined ? [list, { text: object.text }] : [list, object, { text: here }];
}

/** Path ids are positive integers; anything else is a page that does not exist. */
function parseId(text: string | undefined): number | undefined {
  return text && /^[1-9]\d{0,15}$/.test(text) ? Number(text) : undefined;
}

/**
 * A checkbox as Django's CheckboxInput reads it: absent (unticked) is false, and
 * so are "false" in any case and an empty value; of a name sent twice, the last
 * counts. A script that POSTs is_superuser=false must not make a superuser.
 */
function isChecked(form: URLSearchParams, name: string): boolean {
  const value = form.getAll(name).at(-1);
  return value !== undefined && value !== '' && value.toLowerCase() !== 'false';
}

/** Whether any field has an error. */
function hasErrors(errors: Errors): boolean {
  return errorCount(errors) > 0;
}

/** "invalid email: at most 254 characters" → "At most 254 characters." */
function reasonOf(message: string, prefix: RegExp): string {
  const reason = message.replace(prefix, '');
  return `${reason.charAt(0).toUpperCase()}${reason.slice(1)}${reason.endsWith('.') ? '' : '.'}`;
}

function yesNo(value: boolean): HtmlValue {
  return value
    ? html`<span class="flag flag-yes">Yes</span>`
    : html`<span class="flag flag-no">No</span>`;
}

function timestamp(date: Date | null): HtmlValue {
  if (!date) return html`<span class="muted">never</span>`;
  const iso = date.toISOString();
  return html`<time datetime="${iso}">${iso.slice(0, 16).replace('T', ' ')} UTC</time>`;
}

/**
 * Django's delete_confirmation.html for one object, from its Delete link: what
 * goes with it (here nothing else Django would list), and `consequence`, what
 * else deleting it does here.
 */
function confirmDelete(
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
function capitalised(text: string): string {
  return `${text.charAt(0).toUpperCase()}${text.slice(1)}`;
}

/** The lists' action checkboxes' script (Django's actions.js). */
const ACTIONS_SCRIPT = '/static/admin-actions.js';

/**
 * A list's form (change_list.html's #changelist-form): the action bar, then
 * the table whose rows it acts on, posted back to the list as it is shown.
 */
function changelistForm(
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
function confirmDeleteSelected<T extends { id: number }>(
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

// ——— dashboard ———

/** The two lists' nouns, for their counts here and on their pages, and their search labels. */
const ROOM_NOUNS: ListNouns = { singular: 'room', plural: 'rooms', searchedBy: 'title' };
const USER_NOUNS: ListNouns = {
  singular: 'user',
  plural: 'users',
  searchedBy: 'username, first name, last name or email',
};

/** What there is, with a way to each list; the lists themselves are paged. */
function dashboard(services: AdminServices): View {
  return async (request) => {
    const rooms = await services.rooms.count();
    const users = request.user?.isSuperuser ? await services.users.count() : undefined;
    const mine = await services.log.recentFor(request.user!.id);
    return adminPage(
      request,
      { title: 'Site administration' },
      html`<h1>Site administration</h1>
        <section class="admin-section" aria-labelledby="dash-rooms">
          <div class="page-heading">
            <h2 id="dash-rooms">Rooms</h2>
            <a class="button primary" href="/admin/rooms/new/">Add room</a>
          </div>
          <p>
            ${
              rooms === 0
                ? html`No rooms yet. <a href="/admin/rooms/new/">Add the first one</a>.`
                : html`${counted(rooms, ROOM_NOUNS)}. <a href="/admin/rooms/">Manage rooms</a>`
            }
          </p>
        </section>
        ${
          users !== undefined
            ? html`<section class="admin-section" aria-labelledby="dash-users">
                <div class="page-heading">
                  <h2 id="dash-users">Users</h2>
                  <a class="button primary" href="/admin/users/new/">Add user</a>
                </div>
                <p>
                  ${counted(users, USER_NOUNS)}.
                  <a href="/admin/users/">Manage users</a>
                </p>
              </section>`
            : ''
        }
        ${recentActions(mine)}`,
    );
  };
}

// ——— rooms ———

function roomList(services: AdminServices): View {
  return async (request) => {
    const list = await loadChangeList(request, services.rooms, ROOM_LIST_MODEL);
    if (list instanceof Response) return list;
    const acted = await listAction(request, list, deleteSelectedRooms(services, request));
    if (acted) return acted;
    const keep = keepListFilters(request, ROOM_LIST, ROOM_LIST_MODEL);
    const title = 'Select room to change';
    return adminPage(
      request,
      { title, crumbs: [{ text: 'Rooms' }], scripts: [ACTIONS_SCRIPT] },
      html`<div class="page-heading">
          <h1>${title}</h1>
          <a class="button primary" href="${keep('/admin/rooms/new/')}">Add room</a>
        </div>
        ${
          list.fullCount === 0
            ? html`<p class="empty">
                No rooms yet. <a href="/admin/rooms/new/">Add the first one</a>.
              </p>`
            : html`${searchForm(list, ROOM_NOUNS)}
                <div class="changelist">
                  <div class="changelist-main">
                    ${changelistForm(request, list, ROOM_NOUNS, roomsTable(list, keep))}
                    ${paginator(list, ROOM_NOUNS)}
                  </div>
                  ${filterSidebar(list)}
                </div>`
        }`,
      list.messages,
    );
  };
}

/**
 * Rooms with id, title and staff-only under headers that sort by them, each
 * linking to its edit and delete pages.
 */
function roomsTable(list: ChangeList<Room>, keep: KeepFilters): HtmlValue {
  return list.items.length === 0
    ? ''
    : html`<div class="table-wrap">
        <table class="admin-table">
          <caption class="visually-hidden">
            Rooms
          </caption>
          <thead>
            <tr>
              ${actionToggleHeader()} ${sortableHeader(list, 1, 'ID')}
              ${sortableHeader(list, 2, 'Title')} ${sortableHeader(list, 3, 'Staff only')}
              <th scope="col"><span class="visually-hidden">Actions</span></th>
            </tr>
          </thead>
          <tbody>
            ${list.items.map(
              (room) =>
                html`<tr data-room-id="${room.id}">
                  ${actionCheckbox(room.id, room.title)}
                  <td class="num">${room.id}</td>
                  <th scope="row">
                    <a href="${keep(`/admin/rooms/${room.id}/`)}">${room.title}</a>
                  </th>
                  <td>${yesNo(room.staffOnly)}</td>
                  <td class="actions">
                    <a href="${keep(`/admin/rooms/${room.id}/`)}"
                      >Edit<span class="visually-hidden"> ${room.title}</span></a
                    >
                    <a href="${keep(`/admin/rooms/${room.id}/delete/`)}" class="danger-link"
                      >Delete<span class="visually-hidden"> ${room.title}</span></a
                    >
                  </td>
                </tr>`,
            )}
          </tbody>
        </table>
      </div>`;
}

interface RoomValues {
  title: string;
  staffOnly: boolean;
}

function readRoomForm(request: Request): RoomValues {
  const form = request.form();
  return { title: form.get('title') ?? '', staffOnly: isChecked(form, 'staff_only') };
}

/** Django's change_form.html: "Add room", or "Change room" over the room's title. */
function roomForm(
  request: Request,
  options: { action: string; values: RoomValues; errors: Errors; room?: Room },
): Response {
  const { values, errors, room } = options;
  const keep = keepListFilters(request, ROOM_LIST, ROOM_LIST_MODEL);
  const title = room ? 'Change room' : 'Add room';
  const crumbs = room
    ? objectCrumbs(ROOMS_CRUMB, room.title, `/admin/rooms/${room.id}/`)
    : [ROOMS_CRUMB, { text: title }];
  return adminPage(
    request,
    room ? { title, subtitle: room.title, crumbs } : { title, crumbs },
    html`<section class="card form-card" aria-labelledby="form-heading">
      <h1 id="form-heading">${title}</h1>
      ${
        room
          ? html`<h2 class="subtitle">${room.title}</h2>
              ${objectTools(keep(`/admin/rooms/${room.id}/history/`))}`
          : ''
      }
      ${formError(errors)}
      <form method="post" action="${keep(options.action)}" class="admin-form">
        ${csrfInput(request)}
        ${field({ name: 'title', label: 'Title', value: values.title, error: errors.title, required: true, autofocus: !room, maxChars: ROOM_TITLE_MAX_LENGTH })}
        ${checkbox({ name: 'staff_only', label: 'Staff only', checked: values.staffOnly, help: 'Only staff users can join a staff-only room.' })}
        <p class="form-actions">
          ${saveButtons()}
          <a class="button" href="${keep(ROOM_LIST)}">Cancel</a>
          ${room ? html`<a class="danger-link" href="${keep(`/admin/rooms/${room.id}/delete/`)}">Delete</a>` : ''}
        </p>
      </form>
    </section>`,
  );
}

function roomCreate(services: AdminServices): View {
  return async (request) => {
    const action = '/admin/rooms/new/';
    if (request.method !== 'POST') {
      return roomForm(request, {
        action,
        values: { title: '', staffOnly: false },
        errors: {},
      });
    }
    const values = readRoomForm(request);
    try {
      const room = await services.rooms.create(values.title, values.staffOnly, (trx, made) =>
        logAction(services, request, trx, {
          ...roomObject(made),
          action: ADDITION,
          message: changeMessage(true),
        }),
      );
      return afterSave(request, {
        kind: 'room',
        object: { href: `/admin/rooms/${room.id}/`, text: room.title },
        done: 'added',
        list: ROOM_LIST,
        add: action,
      });
    } catch (error) {
      if (!(error instanceof InvalidRoomTitle)) throw error;
      const errors = { title: reasonOf(error.message, /^invalid room title:\s*/) };
      return roomForm(request, { action, values, errors });
    }
  };
}

function roomEdit(services: AdminServices): View {
  return async (request, params) => {
    const id = parseId(params.id);
    const room = id === undefined ? undefined : await services.rooms.find(id);
    if (!room) return missingObject(request, 'room', params.id);
    const action = `/admin/rooms/${room.id}/`;
    if (request.method !== 'POST') {
      return roomForm(request, { action, values: room, errors: {}, room });
    }
    const values = readRoomForm(request);
    try {
      const saved = await services.rooms.update(
        room.id,
        values.title,
        values.staffOnly,
        (trx, after) =>
          logAction(services, request, trx, {
            ...roomObject(after),
            action: CHANGE,
            message: changeMessage(false, changedLabels(room, after, ROOM_LABELS)),
          }),
      );
      if (!saved) return missingObject(request, 'room', params.id);
      const object = { href: action, text: saved.title };
      // Its members joined when anyone could: they join again, and only staff get
      // in. So does a save that finds it staff-only with that close still owed.
      const closing = saved.staffOnly && (!room.staffOnly || unsentRoomClose(request, room.id));
      if (closing && !(await closeRoomAfterChange(services, request, room.id))) {
        // The change stands; its page is where saving again sends the close.
        const here = keepListFilters(request, ROOM_LIST, ROOM_LIST_MODEL)(action);
        const notice = savedNotice('room', object, 'changed');
        return redirectWith(
          request,
          here,
          [...notice, unsentRoomNotice('made staff-only')],
          'warning',
        );
      }
      return afterSave(request, {
        kind: 'room',
        object,
        done: 'changed',
        list: ROOM_LIST,
        add: '/admin/rooms/new/',
      });
    } catch (error) {
      if (!(error instanceof InvalidRoomTitle)) throw error;
      const errors = { title: reasonOf(error.message, /^invalid room title:\s*/) };
      return roomForm(request, { action, values, errors, room });
    }
  };
}

function roomDelete(services: AdminServices): View {
  return async (request, params) => {
    const id = parseId(params.id);
    const room = id === undefined ? undefined : await services.rooms.find(id);
    if (!room) return missingObject(request, 'room', params.id);
    const keep = keepListFilters(request, ROOM_LIST, ROOM_LIST_MODEL);
    if (request.method !== 'POST') {
      const href = `/admin/rooms/${room.id}/`;
      return confirmDelete(request, {
        kind: 'room',
        name: room.title,
        href,
        consequence: 'Anyone in the room can no longer send to it. This cannot be undone.',
        action: keep(`/admin/rooms/${room.id}/delete/`),
        cancel: keep(href),
        crumbs: objectCrumbs(ROOMS_CRUMB, room.title, href, 'Delete'),
      });
    }
    if (!(await deleteRoom(services, request, room)))
      return missingObject(request, 'room', params.id);
    const notice = deletedNotice('room', room.title);
    if (await tellRoomDeleted(services, request, room.id))
      return redirectWith(request, keep(ROOM_LIST), notice);
    return redirectWith(
      request,
      keep(ROOM_LIST),
      `${notice}${unsentRoomNotice('deleted')}`,
      'warning',
    );
  };
}

/** Deletes `room` with its log entry (log_deletion), in one transaction; false if it was gone. */
function deleteRoom(services: AdminServices, request: Request, room: Room): Promise<boolean> {
  return services.rooms.delete(room.id, (trx) =>
    logAction(services, request, trx, { ...roomObject(room), action: DELETION }),
  );
}

/**
 * Tells the chat sockets in deleted room `roomId` that it is gone (a leave, so
 * a page closes its pane). A leave the layer cannot take is sent again by this
 * process (the room has no page left to save); should it stop first, each of
 * the room's pages finds it gone at its next command to it (ROOM_INVALID).
 */
function tellRoomDeleted(
  services: AdminServices,
  request: Request,
  roomId: number,
): Promise<boolean> {
  return sentAfterCommit(
    services.logger,
    () => services.groupSends.groupSend(roomGroup(roomId), roomDeletedFrame(roomId)),
    "deleted, but could not tell the room's chat sockets",
    { path: request.path, roomId },
  );
}

/** delete_selected on rooms: each deleted as the room's delete view deletes it. */
function deleteSelectedRooms(services: AdminServices, request: Request): DeleteSelected<Room> {
  return {
    nouns: ROOM_NOUNS,
    source: services.rooms,
    confirm: (rooms) =>
      confirmDeleteSelected(request, rooms, {
        nouns: ROOM_NOUNS,
        crumb: ROOMS_CRUMB,
        describe: (room) => ({ name: room.title, href: `/admin/rooms/${room.id}/` }),
        consequence: 'Anyone in these rooms can no longer send to them. This cannot be undone.',
      }),
    async remove(rooms) {
      let deleted = 0;
      let untold = false;
      for (const room of rooms) {
        if (!(await deleteRoom(services, request, room))) continue;
        deleted += 1;
        if (!(await tellRoomDeleted(services, request, room.id))) untold = true;
      }
      return { deleted, warning: untold ? unsentRoomNotice('deleted', deleted) : undefined };
    },
  };
}

function roomHistory(services: AdminServices): View {
  return async (request, params) => {
    const id = parseId(params.id);
    const room = id === undefined ? undefined : await services.rooms.find(id);
    if (!room) return missingObject(request, 'room', params.id);
    const entries = await services.log.historyOf('chat.room', room.id);
    return historyPage(request, {
      list: ROOMS_CRUMB,
      name: room.title,
      href: `/admin/rooms/${room.id}/`,
      body: historyTable(entries),
    });
  };
}

/** A room as its log entries name it: Room.__str__ is its title. */
function roomObject(room: Room): { model: LoggedModel; objectId: number; objectRepr: string } {
  return { model: 'chat.room', objectId: room.id, objectRepr: room.title };
}

/** The room form's fields and their labels (the model's verbose names), in its order. */
const ROOM_LABELS = [
  ['title', 'Title'],
  ['staffOnly', 'Staff only'],
] as const;

// ——— users (superusers only) ———

function userList(services: AdminServices): View {
  return async (request) => {
    const list = await loadChangeList(request, services.users, USER_LIST_MODEL);
    if (list instanceof Response) return list;
    const acted = await listAction(request, list, deleteSelectedUsers(services, request));
    if (acted) return acted;
    const keep = keepListFilters(request, USER_LIST, USER_LIST_MODEL);
    const title = 'Select user to change';
    return adminPage(
      request,
      { title, crumbs: [{ text: 'Users' }], scripts: [ACTIONS_SCRIPT] },
      html`<div class="page-heading">
          <h1>${title}</h1>
          <a class="button primary" href="${keep('/admin/users/new/')}">Add user</a>
        </div>
        ${searchForm(list, USER_NOUNS)}
        <div class="changelist">
          <div class="changelist-main">
            ${changelistForm(request, list, USER_NOUNS, usersTable(list, keep))}
            ${paginator(list, USER_NOUNS)}
          </div>
          ${filterSidebar(list)}
        </div>`,
      list.messages,
    );
  };
}

/**
 * Users under UserAdmin's list_display (username, email, names, staff status),
 * whose headers sort by them, each linking to its edit and password pages.
 */
function usersTable(list: ChangeList<User>, keep: KeepFilters): HtmlValue {
  return list.items.length === 0
    ? ''
    : html`<div class="table-wrap">
        <table class="admin-table">
          <caption class="visually-hidden">
            Users
          </caption>
          <thead>
            <tr>
              ${actionToggleHeader()} ${sortableHeader(list, 1, 'Username')}
              ${sortableHeader(list, 2, 'Email address', { optional: true })}
              ${sortableHeader(list, 3, 'First name', { optional: true })}
              ${sortableHeader(list, 4, 'Last name', { optional: true })}
              ${sortableHeader(list, 5, 'Staff status')}
              <th scope="col"><span class="visually-hidden">Actions</span></th>
            </tr>
          </thead>
          <tbody>
            ${list.items.map(
              (user) =>
                html`<tr data-user-id="${user.id}">
                  ${actionCheckbox(user.id, user.username)}
                  <th scope="row">
                    <a href="${keep(`/admin/users/${user.id}/`)}">${user.username}</a>
                  </th>
                  <td class="optional">${user.email}</td>
                  <td class="optional">${user.firstName}</td>
                  <td class="optional">${user.lastName}</td>
                  <td>${yesNo(user.isStaff)}</td>
                  <td class="actions">
                    <a href="${keep(`/admin/users/${user.id}/`)}"
                      >Edit<span class="visually-hidden"> ${user.username}</span></a
                    >
                    <a href="${keep(`/admin/users/${user.id}/password/`)}"
                      >Password<span class="visually-hidden"> of ${user.username}</span></a
                    >
                  </td>
                </tr>`,
            )}
          </tbody>
        </table>
      </div>`;
}

interface UserFlags {
  isActive: boolean;
  isStaff: boolean;
  isSuperuser: boolean;
}

function readFlags(form: URLSearchParams): UserFlags {
  return {
    isActive: isChecked(form, 'is_active'),
    isStaff: isChecked(form, 'is_staff'),
    isSuperuser: isChecked(form, 'is_superuser'),
  };
}

function flagFields(flags: UserFlags, errors: Errors): HtmlValue {
  return html`<fieldset class="flags">
    <legend>Permissions</legend>
    ${checkbox({ name: 'is_active', label: 'Active', checked: flags.isActive, error: errors.is_active, help: 'Inactive users cannot log in, and their sessions end.' })}
    ${checkbox({ name: 'is_staff', label: 'Staff', checked: flags.isStaff, error: errors.is_staff, help: 'Staff can use the admin and join staff-only rooms.' })}
    ${checkbox({ name: 'is_superuser', label: 'Superuser', checked: flags.isSuperuser, error: errors.is_superuser, help: 'Superusers can also manage users.' })}
  </fieldset>`;
}

/** Django's EmailValidator on the email box: its error, if any. */
function emailErrors(email: string): Errors {
  const problem = emailProblem(email);
  return problem ? { email: problem } : {};
}

/**
 * Django's rules for the two password boxes: both filled in, the same, and a
 * password its validators accept for `owner` (their reasons go under the second).
 */
function passwordErrors(password1: string, password2: string, owner: PasswordOwner): Errors {
  const errors: Errors = {};
  if (password1 === '') errors.password1 = 'This field is required.';
  if (password2 === '') errors.password2 = 'This field is required.';
  else if (password1 !== '' && password1 !== password2)
    errors.password2 = 'The two password fields didn’t match.';
  else if (password1 !== '') {
    const problems = passwordProblems(password2, owner);
    if (problems.length > 0) errors.password2 = problems.join(' ');
  }
  return errors;
}

function passwordFields(errors: Errors): HtmlValue {
  return html`${field({ name: 'password1', label: 'Password', type: 'password', autocomplete: 'new-password', required: true, error: errors.password1 })}
  ${field({ name: 'password2', label: 'Password confirmation', type: 'password', autocomplete: 'new-password', required: true, error: errors.password2, help: 'Enter the same password as before, for verification.' })}`;
}

interface NewUserValues extends UserFlags {
  username: string;
  email: string;
}

function userCreateForm(request: Request, values: NewUserValues, errors: Errors): Response {
  const keep = keepListFilters(request, USER_LIST, USER_LIST_MODEL);
  return adminPage(
    request,
    { title: 'Add user', crumbs: [USERS_CRUMB, { text: 'Add user' }] },
    html`<section class="card form-card" aria-labelledby="form-heading">
      <h1 id="form-heading">Add user</h1>
      ${formError(errors)}
      <form method="post" action="${keep('/admin/users/new/')}" class="admin-form">
        ${csrfInput(request)}
        ${field({ name: 'username', label: 'Username', value: values.username, error: errors.username, required: true, autofocus: !hasErrors(errors), autocomplete: 'off', autocapitalize: 'none', maxChars: USERNAME_MAX_LENGTH, help: `Required. ${USERNAME_MAX_LENGTH} characters or fewer. Letters, digits and @/./+/-/_ only.` })}
        ${field({ name: 'email', label: 'Email address (optional)', type: 'email', value: values.email, error: errors.email, autocomplete: 'off', maxChars: EMAIL_MAX_LENGTH })}
        ${passwordFields(errors)} ${flagFields(values, errors)}
        <p class="form-actions">
          ${saveButtons()}
          <a class="button" href="${keep(USER_LIST)}">Cancel</a>
        </p>
      </form>
    </section>`,
  );
}

function userCreate(services: AdminServices): View {
  return async (request) => {
    if (request.method !== 'POST') {
      const blank = { username: '', email: '', isActive: true, isStaff: false, isSuperuser: false };
      return userCreateForm(request, blank, {});
    }
    const form = request.form();
    const values: NewUserValues = {
      // Django's UsernameField strips, then normalises (validateUsername).
      username: pythonStrip(form.get('username') ?? ''),
      email: pythonStrip(form.get('email') ?? ''),
      ...readFlags(form),
    };
    const password = form.get('password1') ?? '';
    let username: string | undefined;
    let usernameError: string | undefined;
    try {
      username = validateUsername(values.username);
    } catch (error) {
      if (!(error instanceof InvalidUsername)) throw error;
      usernameError = error.message;
    }
    const emailError = emailErrors(values.email);
    // Django checks the password against the user its form built, which has only
    // the fields that passed (the username normalised): a refused one, maybe of
    // megabytes, is not compared with it.
    const owner = { username: username ?? '', email: emailError.email ? '' : values.email };
    // Every field is checked before anything is stored, so all errors show at once.
    const errors: Errors = {
      ...passwordErrors(password, form.get('password2') ?? '', owner),
      ...emailError,
    };
    if (usernameError) errors.username = usernameError;
    if (hasErrors(errors)) return userCreateForm(request, values, errors);
    try {
      const user = await services.users.create({ ...values, password }, (trx, made) =>
        logAction(services, request, trx, {
          ...userObject(made),
          action: ADDITION,
          message: changeMessage(true),
        }),
      );
      return afterSave(request, {
        kind: 'user',
        object: { href: `/admin/users/${user.id}/`, text: user.username },
        done: 'added',
        list: USER_LIST,
        add: '/admin/users/new/',
        saveContinues: true,
      });
    } catch (error) {
      if (error instanceof DuplicateUsername)
        errors.username = 'A user with that username already exists.';
      else if (error instanceof InvalidUsername) errors.username = error.message;
      else if (error instanceof InvalidUserField && error.field === 'email')
        errors.email = reasonOf(error.message, /^invalid email:\s*/);
      else throw error;
      return userCreateForm(request, values, errors);
    }
  };
}

/** Ends every session of a user and closes their chat sockets (CLOSE_LOGGED_OUT). */
async function findUser(services: AdminServices, params: Record<string, string>) {
  const id = parseId(params.id);
  return id === undefined ? undefined : services.users.findById(id);
}

/**
 * Django's UserChangeForm's read-only Password field, first as in UserAdmin's
 * fieldsets: ReadOnlyPasswordHashWidget's summary of the stored hash (masked by
 * the repository: the hash itself never reaches a page), and its help text, the
 * way to the password page (`href`). Not a control, so a group named by its label.
 */
function passwordRow(summary: readonly PasswordSummaryEntry[], href: string): HtmlValue {
  return html`<div
    class="field password-summary"
    role="group"
    aria-labelledby="id_password_label"
    aria-describedby="id_password_help"
  >
    <span class="label" id="id_password_label">Password</span>
    <div class="hash-summary" id="id_password">
      ${summary.map(
        ({ label, value }) =>
          html`<strong>${label}</strong>${value === undefined ? '' : html`: ${value}`} `,
      )}
    </div>
    <span class="help" id="id_password_help"
      >Raw passwords are not stored, so there is no way to see this user’s password, but you can
      change the password using <a href="${href}">this form</a>.</span
    >
  </div>`;
}

function userEditForm(
  request: Request,
  user: User,
  password: readonly PasswordSummaryEntry[],
  values: { email: string } & UserFlags,
  errors: Errors,
): Response {
  const self = user.id === request.user?.id;
  const keep = keepListFilters(request, USER_LIST, USER_LIST_MODEL);
  const title = 'Change user';
  return adminPage(
    request,
    {
      title,
      subtitle: user.username,
      crumbs: objectCrumbs(USERS_CRUMB, user.username, `/admin/users/${user.id}/`),
    },
    html`<section class="card form-card" aria-labelledby="form-heading">
      <h1 id="form-heading">${title}</h1>
      <h2 class="subtitle username">${user.username}</h2>
      ${objectTools(keep(`/admin/users/${user.id}/history/`))}
      <dl class="facts">
        <dt>ID</dt>
        <dd>${user.id}</dd>
        <dt>Joined</dt>
        <dd>${timestamp(user.dateJoined)}</dd>
        <dt>Last login</dt>
        <dd>${timestamp(user.lastLogin)}</dd>
      </dl>
      ${formError(errors)}
      <form method="post" action="${keep(`/admin/users/${user.id}/`)}" class="admin-form">
        ${csrfInput(request)} ${passwordRow(password, keep(`/admin/users/${user.id}/password/`))}
        ${field({ name: 'email', label: 'Email address (optional)', type: 'email', value: values.email, error: errors.email, autocomplete: 'off', maxChars: EMAIL_MAX_LENGTH })}
        ${flagFields(values, errors)}
        ${self ? html`<p class="help">This is your own account: you cannot take away your own active, staff or superuser status.</p>` : ''}
        <p class="form-actions">
          ${saveButtons()}
          <a class="button" href="${keep(USER_LIST)}">Cancel</a>
          <a class="danger-link" href="${keep(`/admin/users/${user.id}/delete/`)}">Delete</a>
        </p>
      </form>
    </section>`,
  );
}

function userEdit(services: AdminServices): View {
  return async (request, params) => {
    const user = await findUser(services, params);
    if (!user) return missingObject(request, 'user', params.id);
    // The password's summary is read only for a page that shows it (not for a save).
    const editForm = async (
      values: { email: string } & UserFlags,
      errors: Errors,
    ): Promise<Response> => {
      const password = await services.users.passwordSummary(user.id);
      if (!password) return missingObject(request, 'user', params.id);
      return userEditForm(request, user, password, values, errors);
    };
    if (request.method !== 'POST') return editForm(user, {});
    const form = request.form();
    const values = { email: pythonStrip(form.get('email') ?? ''), ...readFlags(form) };
    const errors = emailErrors(values.email);
    // Against lock-out by a box unticked in passing: nobody removes their own way
    // back into the admin (unlike Django's; docs/security.md says why).
    if (user.id === request.user?.id) {
      const reason = 'You cannot remove this from your own account.';
      if (!values.isActive) errors.is_active = reason;
      if (!values.isStaff) errors.is_staff = reason;
      if (!values.isSuperuser) errors.is_superuser = reason;
    }
    if (hasErrors(errors)) return editForm(values, errors);
    // A user the save leaves inactive is logged out everywhere, open chat sockets
    // included, whether or not this page read them active: the UPDATE writes the
    // flag whatever the row holds, so a reactivation committed since (and the
    // logins after it) would otherwise leave sessions that a later reactivation
    // brings back. The sessions end in the flag's transaction: were the DELETE to
    // fail after the UPDATE committed, the user would stay inactive with their
    // sessions alive.
    const leftInactive = !values.isActive;
    let saved: User;
    try {
      saved = await services.users.update(user.id, values, async (trx, after) => {
        // Django's changed_data compares the box's text with what the page showed,
        // not what is stored (AbstractUser.clean lowercases the domain on save): a
        // domain's case typed anew is a change, and re-saving one stored
        // unnormalised is none, as in Django.
        await logAction(services, request, trx, {
          ...userObject(after),
          action: CHANGE,
          message: changeMessage(
            false,
            changedLabels(user, { ...after, email: values.email }, USER_LABELS),
          ),
        });
        if (leftInactive) await services.sessions.deleteForUser(user.id, trx);
      });
    } catch (error) {
      if (!(error instanceof InvalidUserField && error.field === 'email')) throw error;
      errors.email = reasonOf(error.message, /^invalid email:\s*/);
      return editForm(values, errors);
    }
    const object = { href: `/admin/users/${saved.id}/`, text: saved.username };
    const close = closeAfterSave(request, user, saved);
    if (close !== undefined && !(await closeAfterChange(services, request, user.id, close))) {
      // The change stands; its page is where saving again sends the close.
      const here = keepListFilters(request, USER_LIST, USER_LIST_MODEL)(object.href);
      const notice = savedNotice('user', object, 'changed');
      const retry = 'save the user again';
      return redirectWith(request, here, [...notice, unsentCloseNotice(close, retry)], 'warning');
    }
    return afterSave(request, {
      kind: 'user',
      object,
      done: 'changed',
      list: USER_LIST,
      add: '/admin/users/new/',
    });
  };
}

/**
 * The close a save of `before` as `after` sends to the user's chat sockets.
 * An inactive user's, every time (4001): their sockets have no login left, so
 * closing them is harmless, and it is how a close the layer could not take at
 * the deactivation is sent (saving finds the user inactive already). Losing the
 * staff flag, 4002: out of the staff-only rooms the user is in (they join
 * again, each join checked). Otherwise whatever close this admin's earlier
 * change of the user could not send (unsentClose), if still called for.
 */
function closeAfterSave(request: Request, before: User, after: User): UserSocketsClose | undefined {
  if (!after.isActive) return CLOSE_LOGGED_OUT;
  if (before.isStaff && !after.isStaff) return CLOSE_ACCESS_CHANGED;
  const owed = unsentClose(request, after.id);
  // Staff again since: no room is closed to them any more.
  return owed === CLOSE_ACCESS_CHANGED && after.isStaff ? undefined : owed;
}

function userPasswordForm(request: Request, user: User, errors: Errors): Response {
  const keep = keepListFilters(request, USER_LIST, USER_LIST_MODEL);
  // UserAdmin.user_change_password's title, and its page's sentence and button.
  const title = `Change password: ${user.username}`;
  const href = `/admin/users/${user.id}/`;
  return adminPage(
    request,
    { title, crumbs: objectCrumbs(USERS_CRUMB, user.username, href, 'Change password') },
    html`<section class="card form-card" aria-labelledby="form-heading">
      <h1 id="form-heading">${title}</h1>
      <p>Enter a new password for the user <strong>${user.username}</strong>.</p>
      <p class="help">The user’s sessions end: they log in again with the new password.</p>
      ${formError(errors)}
      <form method="post" action="${keep(`/admin/users/${user.id}/password/`)}" class="admin-form">
        ${csrfInput(request)} ${passwordFields(errors)}
        <p class="form-actions">
          <button type="submit" class="primary">Change password</button>
          <a class="button" href="${keep(`/admin/users/${user.id}/`)}">Cancel</a>
        </p>
      </form>
    </section>`,
  );
}

function userPassword(services: AdminServices): View {
  return async (request, params) => {
    const user = await findUser(services, params);
    // 404 here, where the other pages redirect: as Django's user_change_password.
    if (!user) return errorPage(404, request);
    if (request.method !== 'POST') return userPasswordForm(request, user, {});
    const form = request.form();
    const password = form.get('password1') ?? '';
    const errors = passwordErrors(password, form.get('password2') ?? '', user);
    if (hasErrors(errors)) return userPasswordForm(request, user, errors);
    // Whoever knew the old password is logged out, open chat sockets included; the
    // admin changing their own stays in, under a new session carrying the new
    // password's hash (Django's update_session_auth_hash); their pages reconnect.
    // The sessions end in the password's transaction: a DELETE that fails rolls
    // the new password back, so the error page is not over a change half made.
    // Logged as UserAdmin.user_change_password logs it: AdminPasswordChangeForm's
    // changed_data is the one "password", a name, not a label.
    const sessionAuthHash = await services.users.setPassword(user.id, password, async (trx) => {
      await logAction(services, request, trx, {
        ...userObject(user),
        action: CHANGE,
        message: PASSWORD_CHANGED,
      });
      await services.sessions.deleteForUser(user.id, trx);
    });
    // Logged in again first, so that a close the layer cannot take does not
    // leave the admin logged out by their own change.
    if (user.id === request.user?.id)
      await login(request, { ...user, sessionAuthHash }, services.users);
    const closed = await closeAfterChange(services, request, user.id, CLOSE_LOGGED_OUT);
    // Django's UserAdmin.user_change_password says only this, on the user's page.
    const notice = 'Password changed successfully.';
    const here = keepListFilters(request, USER_LIST, USER_LIST_MODEL)(`/admin/users/${user.id}/`);
    if (closed) return redirectWith(request, here, notice);
    const unsent = unsentCloseNotice(CLOSE_LOGGED_OUT, 'save the user');
    return redirectWith(request, here, `${notice}${unsent}`, 'warning');
  };
}

function userDelete(services: AdminServices): View {
  return async (request, params) => {
    const user = await findUser(services, params);
    if (!user) return missingObject(request, 'user', params.id);
    // A superuser may delete themselves, as in Django's admin: it takes this
    // page's confirmation, which says so, and their session goes with them
    // (the redirect after it leads to the login page). createsuperuser makes
    // another superuser if it was the last.
    const self = user.id === request.user?.id;
    const keep = keepListFilters(request, USER_LIST, USER_LIST_MODEL);
    if (request.method !== 'POST') {
      const href = `/admin/users/${user.id}/`;
      return confirmDelete(request, {
        kind: 'user',
        name: user.username,
        href,
        consequence: self
          ? 'This is your own account: you will be logged out. This cannot be undone.'
          : 'The user’s sessions end at once. This cannot be undone.',
        action: keep(`/admin/users/${user.id}/delete/`),
        cancel: keep(href),
        crumbs: objectCrumbs(USERS_CRUMB, user.username, href, 'Delete'),
      });
    }
    if (!(await deleteUser(services, request, user)))
      return missingObject(request, 'user', params.id);
    const notice = deletedNotice('user', user.username);
    // Their own user: logged out (its session went with the user), the notice
    // left in a new, anonymous session, for the login page they land on, as
    // Django's admin shows it there (its messages cookie outlives the user).
    if (self) await logout(request);
    if (await closeDeletedUser(services, request, user.id))
      return redirectWith(request, keep(USER_LIST), notice);
    const unsent = unsentCloseNotice(CLOSE_LOGGED_OUT, undefined);
    return redirectWith(request, keep(USER_LIST), `${notice}${unsent}`, 'warning');
  };
}

/**
 * Deletes `user` with its log entry (log_deletion), in one transaction; false
 * if they were gone. Their sessions go with them (ON DELETE CASCADE); their
 * chat sockets are closed after (closeDeletedUser).
 */
function deleteUser(services: AdminServices, request: Request, user: User): Promise<boolean> {
  return services.users.delete(user.id, (trx) =>
    logAction(services, request, trx, { ...userObject(user), action: DELETION }),
  );
}

/**
 * Closes a deleted user's chat sockets. No save can send a close that fails
 * now again (the user has no page left): this process does (OwedGroupSends),
 * else their next command closes each (ChatConsumer).
 */
function closeDeletedUser(
  services: AdminServices,
  request: Request,
  userId: number,
): Promise<boolean> {
  return closeAfterChange(services, request, userId, CLOSE_LOGGED_OUT, false);
}

/**
 * delete_selected on users: each deleted as the user's delete view deletes it.
 * Django's action deletes the admin's own user among them with no more ado
 * (their session then has no user: the next page asks them to log in); as the
 * delete view here, the confirmation says so and they are logged out, the
 * notice left for the login page they land on.
 */
function deleteSelectedUsers(services: AdminServices, request: Request): DeleteSelected<User> {
  return {
    nouns: USER_NOUNS,
    source: services.users,
    confirm: (users) =>
      confirmDeleteSelected(request, users, {
        nouns: USER_NOUNS,
        crumb: USERS_CRUMB,
        describe: (user) => ({ name: user.username, href: `/admin/users/${user.id}/` }),
        consequence: users.some(({ id }) => id === request.user?.id)
          ? 'Your own account is among them: you will be logged out. This cannot be undone.'
          : 'The users’ sessions end at once. This cannot be undone.',
      }),
    async remove(users) {
      let deleted = 0;
      let unclosed = false;
      let self = false;
      // Their own user last: each deletion is logged as by them, and their
      // entries cascade with their user, so none can be logged after it.
      const mine = (user: User): boolean => user.id === request.user?.id;
      for (const user of [...users.filter((u) => !mine(u)), ...users.filter(mine)]) {
        if (!(await deleteUser(services, request, user))) continue;
        deleted += 1;
        if (mine(user)) self = true;
        if (!(await closeDeletedUser(services, request, user.id))) unclosed = true;
      }
      if (self) await logout(request);
      return {
        deleted,
        warning: unclosed ? unsentCloseNotice(CLOSE_LOGGED_OUT, undefined, deleted) : undefined,
      };
    },
  };
}

function userHistory(services: AdminServices): View {
  return async (request, params) => {
    const user = await findUser(services, params);
    if (!user) return missingObject(request, 'user', params.id);
    const entries = await services.log.historyOf('auth.user', user.id);
    return historyPage(request, {
      list: USERS_CRUMB,
      name: user.username,
      href: `/admin/users/${user.id}/`,
      body: historyTable(entries),
    });
  };
}

/** A user as their log entries name them: AbstractBaseUser.__str__ is the username. */
function userObject(user: User): { model: LoggedModel; objectId: number; objectRepr: string } {
  return { model: 'auth.user', objectId: user.id, objectRepr: user.username };
}

/**
 * The change form's fields and their labels (UserAdmin's fieldsets, in their
 * order; the labels Django's model gives them, which a Django project's admin
 * would show for these entries too).
 */
const USER_LABELS = [
  ['email', 'Email address'],
  ['isActive', 'Active'],
  ['isStaff', 'Staff status'],
  ['isSuperuser', 'Superuser status'],
] as const;

const PASSWORD_CHANGED: ChangeMessagePart[] = [{ changed: { fields: ['password'] } }];
