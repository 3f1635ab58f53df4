import type { SessionStore } from '../../../auth/sessions.js';
import {
  CLOSE_LOGGED_OUT,
  closeSessionSockets,
  closeUserSockets,
  type CloseSender,
} from '../../../auth/socket-groups.js';
import {
  USERNAME_MAX_LENGTH,
  usernameLengthError,
  type UserRepository,
} from '../../../auth/users.js';
import type { Logger } from '../../../logger.js';
import { login, LoginThrottle, logout, safeNext, LOGIN_URL } from '../../../worker/http/auth.js';
import type { CsrfFailure } from '../../../worker/http/csrf.js';
import { html } from '../../../worker/http/html.js';
import type { Request } from '../../../worker/http/request.js';
import { Response } from '../../../worker/http/response.js';
import { MAX_MESSAGE_LENGTH, MESSAGE_TYPES } from '../chat-protocol.js';
import type { RoomRepository } from '../rooms.js';
import { csrfInput, field, formError, page } from './layout.js';
import { pythonStrip } from '../../../python-strip.js';
import { sentAfterCommit } from './after-change-close.js';
import { takeFlash } from './flash.js';

const ERROR_TITLES: Record<number, [string, string]> = {
  400: ['Bad request', 'The request could not be understood.'],
  403: ['Forbidden', 'You are not allowed to do that.'],
  404: ['Page not found', 'There is no page at this address.'],
  405: ['Method not allowed', 'This page does not accept that method.'],
  429: ['Too many attempts', 'Please wait before trying again.'],
  500: ['Server error', 'Something went wrong on our side. It has been logged.'],
  // A worker stopping gave the request up (see answerAbandoned): not a bug, and
  // the same request will work again.
  503: ['Service unavailable', 'The server cannot answer right now. Please try again in a moment.'],
};

/** `advice`: what the user can do about it, a paragraph each. */
export function errorPage(
  status: number,
  request: Request | undefined,
  detail?: string,
  advice: readonly string[] = [],
): Response {
  const [title, text] = ERROR_TITLES[status] ?? ['Error', 'The request failed.'];
  return Response.html(
    page(request, {
      title,
      body: html`<section class="card error-page">
        <h1>${title}</h1>
        <p>${text}</p>
        ${detail ? html`<p class="detail">${detail}</p>` : ''}
        ${advice.map((paragraph) => html`<p class="advice">${paragraph}</p>`)}
        <p><a class="button" href="/">Back to MultiChat</a></p>
      </section>`,
    }),
    status,
  );
}

/**
 * What a user can do about the refusals an honest browser meets: cookies turned
 * off (Django's own words on its 403 page), or a form from before a login in
 * another tab, whose token the login changed (Django says so only with DEBUG on,
 * but it is the usual case, and reloading is the whole fix).
 */
const CSRF_ADVICE: Partial<Record<CsrfFailure, readonly string[]>> = {
  'CSRF cookie not set.': [
    'You are seeing this message because this site requires a CSRF cookie when submitting forms. This cookie is required for security reasons, to ensure that your browser is not being hijacked by third parties.',
    'If you have configured your browser to disable cookies, please re-enable them, at least for this site, or for “same-origin” requests.',
  ],
  'CSRF token incorrect.': [
    'After logging in in another browser tab or going back after a login, reload the page with the form and submit it again: the form’s token changes at every login.',
  ],
};

export function csrfFailure(request: Request, reason: CsrfFailure): Response {
  return errorPage(403, request, `CSRF verification failed: ${reason}`, CSRF_ADVICE[reason]);
}

/**
 * `/`: the room list; the chat client turns it into joinable panes.
 * `keepAliveSeconds`: how often the page renews its socket's groups (a command
 * while it has rooms open, else a fresh socket: see chat.js).
 */
export function indexView(rooms: RoomRepository, keepAliveSeconds: number) {
  return async (request: Request): Promise<Response> => {
    const list = await rooms.list();
    const user = request.user!;
    // data-username lets the client tell the user's own messages apart (styling
    // only); data-user-id keeps its socket to this user (chat.js, ChatConsumer.connect).
    // The protocol's message types and length limit come from chat-protocol.ts,
    // and the close code of a socket whose session ended from socket-groups.ts,
    // so the client has no copy of its own to drift from the server's.
    const body = html`<div
      class="chat"
      data-username="${user.username}"
      data-user-id="${user.id}"
      data-keep-alive-seconds="${keepAliveSeconds}"
      data-message-types="${JSON.stringify(MESSAGE_TYPES)}"
      data-max-message-length="${MAX_MESSAGE_LENGTH}"
      data-close-logged-out="${CLOSE_LOGGED_OUT}"
    >
      <section class="rooms" aria-labelledby="rooms-heading">
        <h1 id="rooms-heading" tabindex="-1">Rooms</h1>
        ${
          // In the page with rooms too, hidden: shown by the client once the
          // last of them is deleted (chat.js, roomGone).
          html`<p class="empty" id="rooms-empty" ${list.length > 0 ? html` hidden` : ''}>
            No rooms yet.
            ${
              user.isStaff
                ? html`<a href="/admin/rooms/new/">Create one in the admin</a>.`
                : html`Ask an administrator to create one.`
            }
          </p>`
        }
        ${
          list.length === 0
            ? ''
            : html`<p class="hint" id="rooms-hint">
                  Select a room to join it; select it again to leave.
                </p>
                <ul class="room-list">
                  ${list.map(
                    (room) =>
                      html`<li>
                        <button
                          type="button"
                          class="room-link${room.staffOnly ? ' staff-only' : ''}"
                          data-room-id="${room.id}"
                          aria-pressed="false"
                          aria-describedby="rooms-hint"
                        >
                          <span class="room-title" dir="auto">${room.title}</span>${
                            room.staffOnly
                              ? html` <span class="badge" title="Staff only">staff only</span>`
                              : ''
                          }
                        </button>
                      </li>`,
                  )}
                </ul>`
        }
        <p class="connection" id="connection-status" data-state="connecting">
          <span id="connection-text" role="status" aria-live="polite">Connecting…</span>
          <span id="connection-retry" class="connection-retry"></span>
        </p>
      </section>
      <section class="chat-main" aria-label="Joined rooms">
        <div class="alerts" id="alerts" role="alert" aria-live="assertive"></div>
        <div class="panes" id="panes">
          <p class="panes-empty">Join a room to start chatting.</p>
        </div>
      </section>
    </div>`;
    return Response.html(page(request, { title: 'MultiChat', body, scripts: ['/static/chat.js'] }));
  };
}

/** AuthenticationForm's invalid_login error, Django's words. */
const INVALID_LOGIN =
  'Please enter a correct username and password. Note that both fields may be case-sensitive.';

/**
 * `/accounts/login/`: Django's login form, throttled per username and address.
 * A login replaces the browser's session (another user's ends, the same user's
 * gets a new key), so the chat sockets opened with the old one are closed, as a
 * logout closes them: they would go on receiving their rooms' messages.
 */
export function loginView(
  users: UserRepository,
  throttle: LoginThrottle,
  closes: CloseSender,
  sessions: SessionStore,
  logger: Logger,
) {
  return async (request: Request): Promise<Response> => {
    // The form's `next`, else the query's, as Django's LoginView reads it: a form
    // posted to "/accounts/login/?next=…" without the hidden field still goes there.
    const query = request.query.get('next');
    const next = safeNext(
      request.method === 'POST' ? (request.form().get('next') ?? query) : query,
    );
    if (request.method !== 'POST') {
      // The form, even to a signed-in user, as Django's LoginView shows it
      // (redirect_authenticated_user is False): it is how one changes accounts.
      return loginForm(request, { next, notice: signedInNotice(request, next) });
    }
    const form = request.form();
    // Stripped as Django's AuthenticationForm (UsernameField) strips it, before the
    // throttle counts it: padding does not make a new username to guess for.
    const username = pythonStrip(form.get('username') ?? '');
    const password = form.get('password') ?? '';
    // Each empty field says so, as Django's AuthenticationForm has it (a password
    // of spaces is no empty one: passwords are not stripped).
    const required = 'This field is required.';
    if (username === '' || password === '') {
      return loginForm(request, {
        next,
        username,
        usernameError: username === '' ? required : undefined,
        passwordError: password === '' ? required : undefined,
      });
    }
    // A username past the column's 150 characters gets what Django 3.2.25's form
    // says of it: its UsernameField leaves such a name unnormalised and, its
    // max_length set with no validator, authenticate() finds nobody. Here it is
    // neither checked nor counted (nobody can have that name): a megabytes-long
    // one would otherwise be a throttle key, kept in the layer for the window.
    if (usernameLengthError(username) !== undefined)
      return loginForm(request, { next, username, error: INVALID_LOGIN });
    const attempt = await throttle.check(username, request.client, () =>
      users.authenticate(username, password),
    );
    if (attempt.refused) {
      return loginForm(request, {
        next,
        username,
        error:
          attempt.refused === 'failures'
            ? `Too many failed login attempts. Try again in ${Math.ceil(throttle.windowSeconds / 60)} minutes.`
            : 'Too many login attempts at once. Try again in a moment.',
      });
    }
    const user = attempt.result;
    if (!user) {
      return loginForm(request, {
        next,
        username,
        error: INVALID_LOGIN,
      });
    }
    const replaced = loggedInSessionHash(request, sessions);
    await login(request, user, users);
    // The user is logged in whatever the layer does: a close it cannot take is
    // logged, not a 500 over a login that happened, and sent again until the
    // layer takes it (`closes`); a socket that sends first is closed at its next
    // command, whose check finds its session over.
    const fields = { path: request.path, userId: user.id };
    if (replaced) {
      await sentAfterCommit(
        logger,
        () => closeSessionSockets(closes, replaced),
        "logged in, but could not close the replaced session's chat sockets",
        fields,
      );
    }
    // A rehash ended the user's other sessions (their auth hash is the old
    // password's): their sockets close as at a password change. The new session
    // has none yet.
    if (user.rehashed) {
      await sentAfterCommit(
        logger,
        () => closeUserSockets(closes, user.id),
        "logged in, but could not close the user's other chat sockets",
        fields,
      );
    }
    return Response.redirect(next);
  };
}

/**
 * What a signed-in user sent here by staffRequired is told, in the words of
 * Django's admin login page: they are signed in, and that account cannot go there.
 */
function signedInNotice(request: Request, next: string): string | undefined {
  const user = request.user;
  if (!user || user.isStaff || !next.startsWith('/admin/')) return undefined;
  return `You are signed in as ${user.username}, but are not authorized to access this page. Would you like to log in to a different account?`;
}

interface LoginFormState {
  next: string;
  username?: string;
  /** About logging in at all (wrong credentials, throttled): shown above both fields. */
  error?: string | undefined;
  usernameError?: string | undefined;
  passwordError?: string | undefined;
  notice?: string | undefined;
}

/** The form, always with status 200 (multichat.md: a login that fails gets the form again). */
function loginForm(request: Request, state: LoginFormState): Response {
  const { next, username = '', error, usernameError, passwordError, notice } = state;
  // Both fields, as the error is about both (or about logging in at all): the
  // username has focus, the password is where a user tabs to correct it.
  const loginErrorId = error ? 'login_error' : undefined;
  const body = html`<section class="card narrow" aria-labelledby="login-heading">
    <h1 id="login-heading">Log in</h1>
    ${notice ? html`<p class="notice">${notice}</p>` : ''}
    ${
      // Django's login.html: an error about logging in at all is said in place of
      // the note that counts the fields with errors (the form has either, not both).
      error
        ? html`<p class="error form-error" id="login_error" role="alert">${error}</p>`
        : formError({ username: usernameError, password: passwordError })
    }
    <form method="post" action="${LOGIN_URL}">
      ${csrfInput(request)}
      <input type="hidden" name="next" value="${next}" />
      ${field({ name: 'username', label: 'Username', value: username, error: usernameError, autocomplete: 'username', autocapitalize: 'none', required: true, autofocus: !passwordError, maxChars: USERNAME_MAX_LENGTH, formError: loginErrorId })}
      ${field({ name: 'password', label: 'Password', type: 'password', error: passwordError, autocomplete: 'current-password', required: true, formError: loginErrorId })}
      <p class="form-actions"><button type="submit" class="primary">Log in</button></p>
    </form>
  </section>`;
  // The notices left for the next page, as Django's admin login page shows
  // them: an admin who deleted their own user lands here.
  return Response.html(page(request, { title: 'Log in', body, messages: takeFlash(request) }));
}

/**
 * `/accounts/logout/`: POST only (with CSRF); ends the session, and closes the
 * chat sockets opened with it (CLOSE_LOGGED_OUT): they would otherwise go on
 * receiving their rooms' messages, since only commands re-check the session.
 */
export function logoutView(closes: CloseSender, sessions: SessionStore, logger: Logger) {
  return async (request: Request): Promise<Response> => {
    const hash = loggedInSessionHash(request, sessions);
    await logout(request);
    // The logout has happened whatever the layer does: a close it cannot take is
    // logged, not a 500 that looks as if the user were still logged in, and sent
    // again until the layer takes it (`closes`); a socket that sends first is
    // closed at its next command, whose check finds no login.
    if (hash) {
      await sentAfterCommit(
        logger,
        () => closeSessionSockets(closes, hash),
        "logged out, but could not close the session's chat sockets",
        { path: request.path },
      );
    }
    return Response.redirect(LOGIN_URL);
  };
}

/** The stored hash of the request's session if it is a logged-in one: only those open sockets. */
function loggedInSessionHash(request: Request, sessions: SessionStore): string | undefined {
  const key = request.session?.key;
  return key && request.session?.userId !== null ? sessions.hashOf(key) : undefined;
}
