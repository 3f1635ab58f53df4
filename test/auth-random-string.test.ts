/**
 * randomString (Django's get_random_string) and what it draws besides session
 * keys (auth-sessions has theirs): password salts and CSRF secrets use every
 * character of their alphabet, and no character is favoured when the
 * alphabet's size does not divide 256.
 */
import { suite } from './helpers/suite.js';
import * as assert from 'uvu/assert';
import { CSRF_ALLOWED_CHARS, newCsrfSecret } from '../src/auth/csrf.js';
import { makePassword } from '../src/auth/hashers.js';
import { randomString } from '../src/auth/random-string.js';

const test = suite('random strings');

/** Salts' alphabet (hashers.ts): Django's RANDOM_STRING_CHARS, as CSRF secrets'. */
const ALPHANUMERIC = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';

/** The characters of `alphabet` that none of `draws` holds, and any outside it. */
function unused(draws: string[], alphabet: string): { missing: string; foreign: string } {
  const seen = new Set(draws.join(''));
  return {
    missing: [...alphabet].filter((c) => !seen.has(c)).join(''),
    foreign: [...seen].filter((c) => !alphabet.includes(c)).join(''),
  };
}

// 300 draws of 22 or 32 characters from 62: a given character is missing from
// all of them with odds (61/62)^6600 < 1e-46, so one of the 62 with odds under
// 62 × 1e-46 < 1e-44. A character never drawn fails; a chance failure never comes.

test('password salts use every character of their alphabet, and only those', async () => {
  const hashes = await Promise.all(Array.from({ length: 300 }, () => makePassword('salted', 1000)));
  const salts = hashes.map((encoded) => encoded.split('$')[2]!);
  assert.ok(salts.every((salt) => salt.length === 22));
  assert.equal(unused(salts, ALPHANUMERIC), { missing: '', foreign: '' });
});

test('CSRF secrets use every character of their alphabet, and only those', () => {
  assert.is(CSRF_ALLOWED_CHARS, ALPHANUMERIC);
  const secrets = Array.from({ length: 300 }, () => newCsrfSecret());
  assert.ok(secrets.every((secret) => secret.length === 32));
  assert.equal(unused(secrets, CSRF_ALLOWED_CHARS), { missing: '', foreign: '' });
});

test("randomString favours no character when the alphabet's size does not divide 256", () => {
  // 94 characters: with bytes taken modulo 94 and none rejected, 68 of them
  // would come 3 times in 256 and 26 only twice.
  const alphabet = Array.from({ length: 94 }, (_, i) => String.fromCharCode(0x21 + i)).join('');
  const draws = 200_000;
  const counts = new Map<string, number>();
  for (const c of randomString(alphabet, draws)) counts.set(c, (counts.get(c) ?? 0) + 1);
  assert.equal([...counts.keys()].sort().join(''), alphabet);
  const expected = draws / alphabet.length;
  let chiSquare = 0;
  for (const count of counts.values()) chiSquare += (count - expected) ** 2 / expected;
  // Uniform, the statistic follows chi-square with 93 degrees of freedom (mean
  // 93): by the Chernoff bound (t/k)^(k/2)·e^((k-t)/2) it passes 250 with odds
  // under 1e-14. The modulo bias above would add about 0.027 × 200 000 ≈ 5 400.
  assert.ok(chiSquare < 250, `chi-square ${chiSquare.toFixed(1)} over 93 degrees of freedom`);
});

test.run();
