import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Django's session auth hash (AbstractBaseUser.get_session_auth_hash): an HMAC of
 * the user's stored password hash, kept with the session at login and compared
 * whenever the session's user is loaded. A password changed by any means (the
 * admin, `gredis changepassword`, Django's admin or `manage.py changepassword`
 * on the same `auth_user`, a plain UPDATE) changes it, so every session made
 * before then is logged out, as it is in Django.
 */
const KEY_SALT = 'django.contrib.auth.models.AbstractBaseUser.get_session_auth_hash';

/**
 * Password hashes whose session auth hash is kept (SessionAuthHashes): a few
 * MiB at most, and more than the users who chat at once on most deployments.
 */
const KEPT_HASHES = 10_000;

/** salted_hmac's key: sha256(key_salt + secret). */
function hmacKey(secret: string): Buffer {
  return createHash('sha256')
    .update(KEY_SALT + secret)
    .digest();
}

/**
 * The session auth hashes of one secret. Every chat command checks one (the
 * user's password hash as read now against the session's stored hash), and two
 * HMACs per command were a measurable share of a worker's CPU, so each password
 * hash's is computed once and kept: a password hash is salted, so it names one
 * password of one user, and a changed password is a new key, never a stale
 * answer. The oldest go first past KEPT_HASHES.
 */
export class SessionAuthHashes {
  private readonly key: Buffer;
  /** Password hash → its session auth hash, as the bytes of the hex digest. */
  private readonly known = new Map<string, Buffer>();

  constructor(secret: string) {
    this.key = hmacKey(secret);
  }

  /**
   * The session auth hash of `passwordHash` (what a login stores with the
   * session): Django's salted_hmac(KEY_SALT, passwordHash, secret,
   * algorithm='sha256').hexdigest().
   */
  of(passwordHash: string): string {
    return this.expected(passwordHash).toString('latin1');
  }

  /**
   * Whether a session's stored hash is that of the user's password now. A session
   * stored without one (made before the hash was kept) does not match: as Django
   * since 1.10, it is logged out rather than trusted.
   */
  matches(stored: unknown, passwordHash: unknown): boolean {
    if (typeof stored !== 'string' || typeof passwordHash !== 'string') return false;
    const expected = this.expected(passwordHash);
    const given = Buffer.from(stored);
    return given.length === expected.length && timingSafeEqual(given, expected);
  }

  private expected(passwordHash: string): Buffer {
    let expected = this.known.get(passwordHash);
    if (!expected) {
      expected = Buffer.from(
        createHmac('sha256', this.key).update(passwordHash).digest('hex'),
        'latin1',
      );
      if (this.known.size >= KEPT_HASHES) this.known.delete(this.known.keys().next().value!);
      this.known.set(passwordHash, expected);
    }
    return expected;
  }
}
