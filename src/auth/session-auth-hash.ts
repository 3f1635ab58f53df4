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

/** Django's salted_hmac(KEY_SALT, passwordHash, secret, algorithm='sha256').hexdigest(). */
export function sessionAuthHash(passwordHash: string, secret: string): string {
  const key = createHash('sha256')
    .update(KEY_SALT + secret)
    .digest();
  return createHmac('sha256', key).update(passwordHash).digest('hex');
}

/**
 * Whether a session's stored hash is that of the user's password now. A session
 * stored without one (made before the hash was kept) does not match: as Django
 * since 1.10, it is logged out rather than trusted.
 */
export function sessionAuthHashMatches(
  stored: unknown,
  passwordHash: unknown,
  secret: string,
): boolean {
  if (typeof stored !== 'string' || typeof passwordHash !== 'string') return false;
  const expected = Buffer.from(sessionAuthHash(passwordHash, secret));
  const given = Buffer.from(stored);
  return given.length === expected.length && timingSafeEqual(given, expected);
}
