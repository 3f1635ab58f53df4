import type { SessionStore } from '../../auth/sessions.js';
import type { User, UserRepository } from '../../auth/users.js';
import type { Counters } from '../../layer/types.js';
import { parseCookieHeader, type Request, type RequestUser } from './request.js';
import { Response } from './response.js';
import type { Middleware, View } from './router.js';
import type { SocketUser } from '../app.js';
import { SESSION_COOKIE } from './sessions.js';

export const LOGIN_URL = '/accounts/login/';

/** Sets `request.user` from the session (inactive or deleted users are nobody). */
export function authMiddleware(users: UserRepository): Middleware {
  return async (request, next) => {
    const userId = request.session?.userId;
    if (userId !== null && userId !== undefined) {
      const user = await users.findById(userId);
      request.user = user?.isActive ? toRequestUser(user) : null;
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

/** Logs `user` in: new session key (against fixation), new CSRF secret, last_login. */
export async function login(request: Request, user: User, users: UserRepository): Promise<void> {
  if (!request.session) throw new Error('the session middleware is not installed');
  await request.session.login(user.id);
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

export function redirectToLogin(request: Request): Response {
  return Response.redirect(`${LOGIN_URL}?next=${encodeURIComponent(request.fullPath)}`);
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

/**
 * Login attempts counted per username and client address in the layer's counters,
 * so every worker sees the same count. Each attempt is counted before its
 * password is checked (one atomic increment), so parallel attempts cannot all
 * slip in before the first failure is counted; a success resets the count. Over
 * the limit, attempts are refused without checking the password until the
 * window passes. Usernames are keyed as authentication reads them (NFKC), so a
 * look-alike spelling ("ａdmin") is the same key.
 */
export class LoginThrottle {
  constructor(
    private readonly counters: Counters,
    private readonly options: ThrottleOptions = { limit: 5, windowSeconds: 900 },
  ) {}

  get windowSeconds(): number {
    return this.options.windowSeconds;
  }

  /** Counts an attempt; resolves with true when it is over the limit (refuse it). */
  async refuses(username: string, address: string): Promise<boolean> {
    const count = await this.counters.increment(
      this.key(username, address),
      this.options.windowSeconds,
    );
    return count > this.options.limit;
  }

  async succeeded(username: string, address: string): Promise<void> {
    await this.counters.reset(this.key(username, address));
  }

  private key(username: string, address: string): string {
    return `login-failures:${username.normalize('NFKC').toLowerCase()}:${address}`;
  }
}

/**
 * The user a WebSocket handshake carries: its `sessionid` cookie's live session
 * and that session's active user; null for anyone else.
 */
export async function identifySocketUser(
  headers: ReadonlyMap<string, string>,
  sessions: SessionStore,
  users: UserRepository,
): Promise<SocketUser | null> {
  const key = parseCookieHeader(headers.get('cookie') ?? '')[SESSION_COOKIE];
  const hash = key ? sessions.hashOf(key) : undefined;
  if (!key || !hash) return null;
  const user = await users.findBySession(hash);
  if (!user) return null;
  return {
    id: user.id,
    username: user.username,
    isStaff: user.isStaff,
    isSuperuser: user.isSuperuser,
    sessionKeyHash: hash,
  };
}
