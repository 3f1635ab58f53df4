import { randomBytes } from 'node:crypto';

/**
 * `length` characters drawn uniformly from `alphabet` (at most 256 of them), as
 * Django's get_random_string draws salts, session keys and CSRF secrets: bytes
 * past the largest multiple of the alphabet's size are rejected, so that no
 * character is favoured (no modulo bias).
 */
export function randomString(alphabet: string, length: number): string {
  const limit = 256 - (256 % alphabet.length);
  let out = '';
  while (out.length < length) {
    for (const byte of randomBytes(length * 2)) {
      if (byte >= limit) continue;
      out += alphabet[byte % alphabet.length];
      if (out.length === length) break;
    }
  }
  return out;
}
