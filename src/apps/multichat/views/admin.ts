/**
 * The admin (multichat.md): rooms for staff, users for superusers. Server-rendered
 * forms that POST with CSRF, are validated here, and redirect with a one-shot
 * notice kept in the session (post/redirect/get, so a reload never re-submits).
 */
import { staffRequired } from '../../../worker/http/auth.js';
import { html } from '../../../worker/http/html.js';
import { SuspiciousOperation } from '../../../worker/http/request.js';
import { NotFound, type Router, type View } from '../../../worker/http/router.js';
import type { AdminServices } from '../index.js';
import { errorPage } from './pages.js';
import { counted } from './changelist.js';
import { recentActions } from './history.js';
import { adminPage } from './admin-parts.js';
import {
  ROOM_NOUNS,
  roomCreate,
  roomDelete,
  roomEdit,
  roomHistory,
  roomList,
} from './admin-rooms.js';
import {
  USER_NOUNS,
  userCreate,
  userDelete,
  userEdit,
  userHistory,
  userList,
  userPassword,
} from './admin-users.js';

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

// ——— dashboard ———

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
