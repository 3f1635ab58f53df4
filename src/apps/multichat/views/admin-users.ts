/**
 * The admin's users (superusers only): list, add, change, password, delete and
 * history, as Django's UserAdmin has them.
 */
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
import { login, logout } from '../../../worker/http/auth.js';
import { html, type HtmlValue } from '../../../worker/http/html.js';
import type { Request } from '../../../worker/http/request.js';
import type { Response } from '../../../worker/http/response.js';
import type { View } from '../../../worker/http/router.js';
import { CLOSE_ACCESS_CHANGED } from '../chat-protocol.js';
import type { AdminServices } from '../index.js';
import { checkbox, csrfInput, field, formError, type Errors } from './layout.js';
import { errorPage } from './pages.js';
import {
  closeAfterChange,
  unsentClose,
  unsentCloseNotice,
  type UserSocketsClose,
} from './after-change-close.js';
import type { ChangeList, KeepFilters, ListNouns } from './changelist.js';
import type { DeleteSelected } from './changelist-actions.js';
import { sortableHeader } from './list-controls.js';
import { USER_LIST_MODEL } from './list-models.js';
import { pythonStrip } from '../../../python-strip.js';
import { ADDITION, CHANGE } from '../admin-log.js';
import { changeMessage, type ChangeMessagePart } from '../change-message.js';
import {
  USERS_CRUMB,
  adminPage,
  changedLabels,
  hasErrors,
  isChecked,
  logAction,
  missingObject,
  objectCrumbs,
  objectTools,
  reasonOf,
  redirectWith,
  saveButtons,
  savedNotice,
  timestamp,
  yesNo,
  USER_LIST,
} from './admin-parts.js';
import {
  addPath,
  afterSave,
  changeListView,
  deleteLogged,
  deleteSelected,
  deleteView,
  findObject,
  historyView,
  keepFilters,
  keptObjectPaths,
  loggedObject,
  objectLink,
  objectPath,
  objectsTable,
  type AdminModel,
} from './admin-model.js';

/** The list's nouns, for its count here and on the dashboard, and its search label. */
export const USER_NOUNS: ListNouns = {
  singular: 'user',
  plural: 'users',
  searchedBy: 'username, first name, last name or email',
};

/** The users' admin: a user is named by their username (AbstractBaseUser.__str__). */
export const USER_ADMIN: AdminModel<User> = {
  kind: 'user',
  nouns: USER_NOUNS,
  list: USER_LIST,
  listModel: USER_LIST_MODEL,
  crumb: USERS_CRUMB,
  logged: 'auth.user',
  repository: (services) => services.users,
  find: (services, id) => services.users.findById(id),
  name: (user) => user.username,
};

export function userList(services: AdminServices): View {
  return changeListView(services, USER_ADMIN, {
    table: usersTable,
    deleteSelected: (request) => deleteSelectedUsers(services, request),
  });
}

/**
 * Users under UserAdmin's list_display (username, email, names, staff status),
 * whose headers sort by them, each linking to its edit and password pages.
 */
function usersTable(list: ChangeList<User>, keep: KeepFilters): HtmlValue {
  return objectsTable(USER_ADMIN, list, keep, {
    headers: html`${sortableHeader(list, 1, 'Username')}
    ${sortableHeader(list, 2, 'Email address', { optional: true })}
    ${sortableHeader(list, 3, 'First name', { optional: true })}
    ${sortableHeader(list, 4, 'Last name', { optional: true })}
    ${sortableHeader(list, 5, 'Staff status')}`,
    row: (user) =>
      html`<th scope="row">
          <a href="${keep(objectPath(USER_ADMIN, user.id))}">${user.username}</a>
        </th>
        <td class="optional">${user.email}</td>
        <td class="optional">${user.firstName}</td>
        <td class="optional">${user.lastName}</td>
        <td>${yesNo(user.isStaff)}</td>`,
    link: (user) =>
      html`<a href="${keep(objectPath(USER_ADMIN, user.id, 'password/'))}"
        >Password<span class="visually-hidden"> of ${user.username}</span></a
      >`,
  });
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
  const keep = keepFilters(request, USER_ADMIN);
  return adminPage(
    request,
    { title: 'Add user', crumbs: [USERS_CRUMB, { text: 'Add user' }] },
    html`<section class="card form-card" aria-labelledby="form-heading">
      <h1 id="form-heading">Add user</h1>
      ${formError(errors)}
      <form method="post" action="${keep(addPath(USER_ADMIN))}" class="admin-form">
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

export function userCreate(services: AdminServices): View {
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
          ...loggedObject(USER_ADMIN, made),
          action: ADDITION,
          message: changeMessage(true),
        }),
      );
      return afterSave(request, USER_ADMIN, user, { done: 'added', saveContinues: true });
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
  const keep = keepFilters(request, USER_ADMIN);
  const page = keptObjectPaths(request, USER_ADMIN, user.id);
  const title = 'Change user';
  return adminPage(
    request,
    {
      title,
      subtitle: user.username,
      crumbs: objectCrumbs(USERS_CRUMB, user.username, objectPath(USER_ADMIN, user.id)),
    },
    html`<section class="card form-card" aria-labelledby="form-heading">
      <h1 id="form-heading">${title}</h1>
      <h2 class="subtitle username">${user.username}</h2>
      ${objectTools(page('history/'))}
      <dl class="facts">
        <dt>ID</dt>
        <dd>${user.id}</dd>
        <dt>Joined</dt>
        <dd>${timestamp(user.dateJoined)}</dd>
        <dt>Last login</dt>
        <dd>${timestamp(user.lastLogin)}</dd>
      </dl>
      ${formError(errors)}
      <form method="post" action="${page()}" class="admin-form">
        ${csrfInput(request)} ${passwordRow(password, page('password/'))}
        ${field({ name: 'email', label: 'Email address (optional)', type: 'email', value: values.email, error: errors.email, autocomplete: 'off', maxChars: EMAIL_MAX_LENGTH })}
        ${flagFields(values, errors)}
        ${self ? html`<p class="help">This is your own account: you cannot take away your own active, staff or superuser status.</p>` : ''}
        <p class="form-actions">
          ${saveButtons()}
          <a class="button" href="${keep(USER_LIST)}">Cancel</a>
          <a class="danger-link" href="${page('delete/')}">Delete</a>
        </p>
      </form>
    </section>`,
  );
}

export function userEdit(services: AdminServices): View {
  return async (request, params) => {
    const user = await findObject(services, USER_ADMIN, params);
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
          ...loggedObject(USER_ADMIN, after),
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
    const close = closeAfterSave(request, user, saved);
    if (close !== undefined && !(await closeAfterChange(services, request, user.id, close))) {
      // The change stands; its page is where saving again sends the close.
      const object = objectLink(USER_ADMIN, saved);
      const here = keepFilters(request, USER_ADMIN)(object.href);
      const notice = savedNotice('user', object, 'changed');
      const retry = 'save the user again';
      return redirectWith(request, here, [...notice, unsentCloseNotice(close, retry)], 'warning');
    }
    return afterSave(request, USER_ADMIN, saved, { done: 'changed' });
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
  // UserAdmin.user_change_password's title, and its page's sentence and button.
  const title = `Change password: ${user.username}`;
  const href = objectPath(USER_ADMIN, user.id);
  const page = keptObjectPaths(request, USER_ADMIN, user.id);
  return adminPage(
    request,
    { title, crumbs: objectCrumbs(USERS_CRUMB, user.username, href, 'Change password') },
    html`<section class="card form-card" aria-labelledby="form-heading">
      <h1 id="form-heading">${title}</h1>
      <p>Enter a new password for the user <strong>${user.username}</strong>.</p>
      <p class="help">The user’s sessions end: they log in again with the new password.</p>
      ${formError(errors)}
      <form method="post" action="${page('password/')}" class="admin-form">
        ${csrfInput(request)} ${passwordFields(errors)}
        <p class="form-actions">
          <button type="submit" class="primary">Change password</button>
          <a class="button" href="${page()}">Cancel</a>
        </p>
      </form>
    </section>`,
  );
}

export function userPassword(services: AdminServices): View {
  return async (request, params) => {
    const user = await findObject(services, USER_ADMIN, params);
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
        ...loggedObject(USER_ADMIN, user),
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
    const here = keepFilters(request, USER_ADMIN)(objectPath(USER_ADMIN, user.id));
    if (closed) return redirectWith(request, here, notice);
    const unsent = unsentCloseNotice(CLOSE_LOGGED_OUT, 'save the user');
    return redirectWith(request, here, `${notice}${unsent}`, 'warning');
  };
}

/**
 * A superuser may delete themselves, as in Django's admin: it takes this page's
 * confirmation, which says so, and their session goes with them (the redirect
 * after it leads to the login page). createsuperuser makes another superuser if
 * it was the last.
 */
export function userDelete(services: AdminServices): View {
  return deleteView(services, USER_ADMIN, {
    consequence: (request, user) =>
      user.id === request.user?.id
        ? 'This is your own account: you will be logged out. This cannot be undone.'
        : 'The user’s sessions end at once. This cannot be undone.',
    async afterDelete(request, user) {
      // Their own user: logged out (its session went with the user), the notice
      // left in a new, anonymous session, for the login page they land on, as
      // Django's admin shows it there (its messages cookie outlives the user).
      if (user.id === request.user?.id) await logout(request);
      return closeDeletedUser(services, request, user.id);
    },
    unsent: unsentCloseNotice(CLOSE_LOGGED_OUT, undefined),
  });
}

/**
 * Closes a deleted user's chat sockets (their sessions went with them: ON
 * DELETE CASCADE). No save can send a close that fails now again (the user has
 * no page left): this process does (OwedGroupSends), else their next command
 * closes each (ChatConsumer).
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
  return deleteSelected(services, request, USER_ADMIN, {
    consequence: (users) =>
      users.some(({ id }) => id === request.user?.id)
        ? 'Your own account is among them: you will be logged out. This cannot be undone.'
        : 'The users’ sessions end at once. This cannot be undone.',
    async remove(users) {
      let deleted = 0;
      let unclosed = false;
      let self = false;
      // Their own user last: each deletion is logged as by them, and their
      // entries cascade with their user, so none can be logged after it.
      const mine = (user: User): boolean => user.id === request.user?.id;
      for (const user of [...users.filter((u) => !mine(u)), ...users.filter(mine)]) {
        if (!(await deleteLogged(services, request, USER_ADMIN, user))) continue;
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
  });
}

export function userHistory(services: AdminServices): View {
  return historyView(services, USER_ADMIN);
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
