import type { SessionStore } from '../../auth/sessions.js';
import type { LoginUser, User, UserRepository } from '../../auth/users.js';
import type { Counters } from '../../layer/types.js';
import { parseCookieHeader, type Request, type RequestUser } from './request.js';
import { Response } from './response.js';
import type { Middleware, View } from './router.js';
import type { SocketUser } from '../app.js';
import { SESSION_COOKIE } from './sessions.js';
import { quote } from './uri.js';

export const LOGIN_URL = '/accounts/login/';

/**
 * Sets `request.user` from the session (inactive or deleted users are nobody). A
 * session whose auth hash no longer matches the user's password (changed since,
 * wherever) is ended, its cookie cleared, as Django's get_user flushes it.
 */
export function authMiddleware(users: UserRepository): Middleware {
  return async (request, next) => {
    const session = request.session;
    if (session && session.userId !== null) {
      const { user, stale } = await users.findForSession(session.userId, session.authHash);
      if (stale) await session.logout();
      request.user = user ? toRequestUser(user) : null;
    }
    return next();
  };
}

export function toRequestUser(user: User): RequestUser {
  return {
    id: user.id,
    username: user.username,
    isStaff: user.isStaff,
    isSuperuser: user.isSuperuser,
    isActive: user.isActive,
  };
}

/**
 * Logs `user` in: new session key (against fixation) carrying the session auth
 * hash of the password checked, new CSRF secret, last_login.
 */
export async function login(
  request: Request,
  user: LoginUser,
  users: UserRepository,
): Promise<void> {
  if (!request.session) throw new Error('the session middleware is not installed');
  await request.session.login(user.id, user.sessionAuthHash);
  request.rotateCsrfToken();
  request.user = toRequestUser(user);
  await users.touchLastLogin(user.id);
}

export async function logout(request: Request): Promise<void> {
  await request.session?.logout();
  request.user = null;
}

/** Anonymous visitors are sent to the login page, with `next` to come back. */
export function loginRequired(view: View): View {
  return (request, params) => {
    if (!request.user) return redirectToLogin(request);
    return view(request, params);
  };
}

/** Staff only: everyone else is sent to the login page (as Django's admin does). */
export function staffRequired(view: View): View {
  return (request, params) => {
    if (!request.user?.isStaff) return redirectToLogin(request);
    return view(request, params);
  };
}

/** As Django's redirect_to_login: `next` keeps its slashes ("?next=/admin/"). */
export function redirectToLogin(request: Request): Response {
  return Response.redirect(`${LOGIN_URL}?next=${quote(request.fullPath, '/')}`);
}

/**
 * A `next` target is followed only when it is a path on this site: "/x" but
 * not "//evil.example" or "/\\evil.example" or "https://…". It comes back as a
 * URI (Django's iri_to_uri): anything outside URI characters percent-encoded,
 * "%" kept. The check must see those bytes, not the decoded text: a header
 * carries Latin-1 only, and a character such as "į" (U+012F) written as its low
 * byte would become "/" there, turning "/įevil.example" into "//evil.example".
 */
export function safeNext(next: string | null | undefined, fallback = '/'): string {
  // A backslash is a slash to browsers (Django refuses these too).
  if (!next || next.startsWith('/\\')) return fallback;
  // eslint-disable-next-line no-control-regex -- control characters are what is refused
  if (/[\u0000-\u001f\u007f]/.test(next)) return fallback;
  let uri: string;
  try {
    uri = next.replace(/[^A-Za-z0-9\-._~!#$&'()*+,/:;=?@[\]%]/gu, encodeURIComponent);
  } catch {
    return fallback; // a lone surrogate: not text
  }
  if (!uri.startsWith('/') || uri.startsWith('//')) return fallback;
  return uri;
}

export interface ThrottleOptions {
  /** Failed attempts allowed per username and address within the window. */
  limit: number;
  windowSeconds: number;
}

/** Why an attempt was refused without its password checked. */
export type ThrottleRefusal = 'failures' | 'busy';

export type ThrottledCheck<T> = { refused: ThrottleRefusal } | { refused: false; result: T };

/**
 * Seconds a check under way holds its place at most: longer than any password
 * check, short enough that places held by a worker that died mid-check free
 * themselves soon.
 */
const CHECK_SECONDS = 60;

/**
 * Failed logins counted per username and client address in the layer's
 * counters, so every worker sees the same count; a success resets it. Only
 * failures count, as in django-axes: right passwords are never refused for
 * one another's sake. Usernames are keyed as authentication reads them (NFKC),
 * so a look-alike spelling ("ａdmin") is the same key.
 *
 * Guesses sent at once must not all be checked before the first failure is
 * counted, so a password is checked only in a place: failures plus checks
 * under way stay within the limit. A place is taken with an atomic increment
 * before the failures are read, and given back after a failure is counted, so
 * the sum never dips in between. An attempt without a place is refused at once,
 * with a reason of its own ("busy": try again in a moment); once the failures
 * fill the limit, every attempt is refused without its password checked until
 * the window passes (whether it was right would answer the guess).
 */
export class LoginThrottle {
  constructor(
    private readonly counters: Counters,
    private readonly options: ThrottleOptions = { limit: 5, windowSeconds: 900 },
  ) {}

  get windowSeconds(): number {
    return this.options.windowSeconds;
  }

  /** Runs `check` (undefined: the password was wrong) in a place, or refuses. */
  async check<T>(
    username: string,
    address: string,
    check: () => Promise<T | undefined>,
  ): Promise<ThrottledCheck<T | undefined>> {
    const key = `${username.normalize('NFKC').toLowerCase()}:${address}`;
    const failuresKey = `login-failures:${key}`;
    const checkingKey = `login-checking:${key}`;
    const checking = await this.counters.increment(checkingKey, CHECK_SECONDS);
    try {
      const failures = await this.counters.get(failuresKey);
      if (failures >= this.options.limit) return { refused: 'failures' };
      if (failures + checking > this.options.limit) return { refused: 'busy' };
      const result = await check();
      if (result === undefined) await this.counters.increment(failuresKey, this.windowSeconds);
      else await this.counters.reset(failuresKey);
      return { refused: false, result };
    } finally {
      await this.counters.decrement(checkingKey);
    }
  }
}

/**
 * The user a WebSocket handshake carries: its `sessionid` cookie's live session
 * and that session's active user; null for anyone else. A session whose auth
 * hash no longer matches the password is ended here too (as a page ends it).
 */
export async function identifySocketUser(
  headers: ReadonlyMap<string, string>,
  sessions: SessionStore,
  users: UserRepository,
): Promise<SocketUser | null> {
  const key = parseCookieHeader(headers.get('cookie') ?? '')[SESSION_COOKIE];
  const hash = key ? sessions.hashOf(key) : undefined;
  if (!key || !hash) return null;
  const { user, stale } = await users.findBySession(hash);
  if (stale) await sessions.delete(key);
  if (!user) return null;
  return {
    id: user.id,
    username: user.username,
    isStaff: user.isStaff,
    isSuperuser: user.isSuperuser,
    sessionKeyHash: hash,
  };
}
