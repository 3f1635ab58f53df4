import { timingSafeEqual } from 'node:crypto';
import { randomString } from './random-string.js';

/**
 * Django's CSRF tokens (4.1+): a 32-character secret lives in the `csrftoken`
 * cookie; pages carry it masked (64 characters: a random mask, then the secret
 * shifted by it), so the token in a page changes on every render (BREACH).
 */
export const CSRF_ALLOWED_CHARS = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
export const CSRF_SECRET_LENGTH = 32;
export const CSRF_TOKEN_LENGTH = 64;

const FORMAT = /^[a-zA-Z0-9]+$/;

export function newCsrfSecret(): string {
  return randomString(CSRF_ALLOWED_CHARS, CSRF_SECRET_LENGTH);
}

/** Whether a cookie or submitted value has the shape of a secret or a masked token. */
export function isWellFormed(value: string | undefined | null): value is string {
  return (
    typeof value === 'string' &&
    (value.length === CSRF_SECRET_LENGTH || value.length === CSRF_TOKEN_LENGTH) &&
    FORMAT.test(value)
  );
}

export function maskSecret(secret: string): string {
  const n = CSRF_ALLOWED_CHARS.length;
  const mask = newCsrfSecret();
  let cipher = '';
  for (let i = 0; i < CSRF_SECRET_LENGTH; i++) {
    cipher +=
      CSRF_ALLOWED_CHARS[
        (CSRF_ALLOWED_CHARS.indexOf(secret[i]!) + CSRF_ALLOWED_CHARS.indexOf(mask[i]!)) % n
      ];
  }
  return mask + cipher;
}

export function unmaskToken(token: string): string {
  const n = CSRF_ALLOWED_CHARS.length;
  const mask = token.slice(0, CSRF_SECRET_LENGTH);
  const cipher = token.slice(CSRF_SECRET_LENGTH);
  let secret = '';
  for (let i = 0; i < CSRF_SECRET_LENGTH; i++) {
    secret +=
      CSRF_ALLOWED_CHARS[
        (CSRF_ALLOWED_CHARS.indexOf(cipher[i]!) - CSRF_ALLOWED_CHARS.indexOf(mask[i]!) + n) % n
      ];
  }
  return secret;
}

/** The secret a cookie or submitted value stands for (64-character values are masked). */
export function secretOf(value: string): string {
  return value.length === CSRF_TOKEN_LENGTH ? unmaskToken(value) : value;
}

/** Constant-time comparison of a submitted token against the cookie's secret. */
export function tokenMatches(submitted: string, cookieSecret: string): boolean {
  const a = Buffer.from(secretOf(submitted));
  const b = Buffer.from(cookieSecret);
  return a.length === b.length && timingSafeEqual(a, b);
}
