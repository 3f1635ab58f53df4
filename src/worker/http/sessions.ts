import type { Session, SessionStore } from '../../auth/sessions.js';
import { SessionInterrupted } from '../../auth/sessions.js';
import type { Middleware } from './router.js';

export const SESSION_COOKIE = 'sessionid';

/**
 * A request's view of its session, created lazily: a visitor who never logs in
 * (nor writes to the session) gets no row and no cookie.
 */
export class SessionHandle {
  private dirty = false;
  private ended = false;
  private changedKey = false;

  constructor(
    private readonly store: SessionStore,
    private current: Session | undefined,
  ) {}

  get key(): string | null {
    return this.current?.key ?? null;
  }

  get userId(): number | null {
    return this.current?.userId ?? null;
  }

  /** The session auth hash stored at login (see UserRepository.findForSession). */
  get authHash(): string | null {
    return this.current?.authHash ?? null;
  }

  get(name: string): unknown {
    return this.current?.data[name];
  }

  /**
   * After a logout, starts a new anonymous session (as Django's flush does) under
   * a new key: what is left for the next page (a notice) outlives the login.
   */
  set(name: string, value: unknown): void {
    this.ended = false;
    this.current ??= { key: '', userId: null, authHash: null, data: {}, expiresAt: new Date(0) };
    this.current.data[name] = value;
    this.dirty = true;
  }

  /**
   * Binds the session to `userId` under a new key (no session fixation), with the
   * session auth hash of the password just checked or set. As in Django, the data
   * is kept unless the session belonged to another user: then that user's
   * session ends and `userId` starts an empty one.
   */
  async login(userId: number, authHash: string): Promise<void> {
    const current = this.current;
    if (current?.key && current.userId !== null && current.userId !== userId) {
      await this.store.delete(current.key);
      this.current = await this.store.create(userId, {}, authHash);
    } else if (current?.key) this.current = await this.store.rotate(current, userId, authHash);
    else this.current = await this.store.create(userId, current?.data ?? {}, authHash);
    this.changedKey = true;
    this.dirty = false;
    this.ended = false;
  }

  /** Ends the session: its row is deleted and the cookie cleared. */
  async logout(): Promise<void> {
    if (this.current?.key) await this.store.delete(this.current.key);
    this.current = undefined;
    this.ended = true;
    this.dirty = false;
  }

  /** Writes pending changes; returns what the response's cookie must do. */
  async commit(): Promise<'set' | 'delete' | 'keep'> {
    if (this.ended) return 'delete';
    if (this.dirty && this.current) {
      if (this.current.key === '') {
        this.current = await this.store.create(this.current.userId, this.current.data);
        this.changedKey = true;
      } else {
        try {
          await this.store.save(this.current);
        } catch (error) {
          if (!(error instanceof SessionInterrupted)) throw error;
          // Logged out elsewhere meanwhile: do not bring the session back.
          return 'delete';
        }
      }
    }
    return this.changedKey ? 'set' : 'keep';
  }
}

/** Loads the session named by the `sessionid` cookie and writes it back after the view. */
export function sessionMiddleware(store: SessionStore): Middleware {
  return async (request, next) => {
    const key = request.cookies[SESSION_COOKIE];
    const handle = new SessionHandle(store, key ? await store.load(key) : undefined);
    request.session = handle;
    const response = await next();
    const action = await handle.commit();
    const secure = request.isSecure;
    if (action === 'set' && handle.key) {
      response.setCookie(SESSION_COOKIE, handle.key, {
        httpOnly: true,
        sameSite: 'lax',
        secure,
        maxAge: store.maxAgeSeconds,
      });
    } else if (action === 'delete' || (key && !handle.key && request.cookies[SESSION_COOKIE])) {
      // A cookie naming no live session is cleared too (forged, expired, logged out).
      response.deleteCookie(SESSION_COOKIE, { httpOnly: true, sameSite: 'lax', secure });
    }
    response.vary('Cookie');
    return response;
  };
}
