/**
 * Password hashes in Django's format, checked against Django itself (Debian's
 * python3-django run by /usr/bin/python3): both directions, several iteration
 * counts, the older pbkdf2_sha1, and refusal of everything that is not a match.
 */
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { suite } from './helpers/suite.js';
import * as assert from 'uvu/assert';
import {
  checkPassword,
  isUsablePassword,
  makePassword,
  makeUnusablePassword,
  needsRehash,
  PBKDF2_ITERATIONS,
} from '../src/auth/hashers.js';
import { runPython } from './helpers/cli.js';

const test = suite('password hashers');

type DjangoRequest =
  | {
      make: string;
      algorithm?: 'pbkdf2_sha256' | 'pbkdf2_sha1';
      iterations?: number;
      salt?: string;
    }
  | { check: string; encoded: string };

const django = <T>(requests: DjangoRequest[]): Promise<T[]> =>
  runPython<T[]>('django_hashes.py', requests);

const PASSWORDS = ['correct horse battery staple', 'pässwörd ☃ 🔑', "' OR 1=1 --", ' spaced '];

test('new hashes are pbkdf2_sha256 with at least 600 000 iterations and a 22-character salt', async () => {
  assert.ok(PBKDF2_ITERATIONS >= 600_000);
  const encoded = await makePassword('secret');
  const [algorithm, iterations, salt, hash] = encoded.split('$');
  assert.is(algorithm, 'pbkdf2_sha256');
  assert.is(Number(iterations), PBKDF2_ITERATIONS);
  assert.match(salt!, /^[a-zA-Z0-9]{22}$/);
  assert.is(Buffer.from(hash!, 'base64').length, 32);
  assert.ok(await checkPassword('secret', encoded));
});

test("a flood of hashes waits in turn, leaving libuv's thread pool room for file reads", async () => {
  // More hashes at once than the pool has threads (4): unlimited, a file read
  // would queue behind them and end after the first hash.
  const hashes = Array.from({ length: 12 }, () => makePassword('flood'));
  let hashed = 0;
  for (const hash of hashes) void hash.then(() => hashed++);
  await readFile(fileURLToPath(import.meta.url));
  assert.is(hashed, 0, 'the read went ahead of the hashes');
  assert.is(new Set(await Promise.all(hashes)).size, 12, 'and every hash was made');
});

test('two hashes of one password differ (fresh salt each time)', async () => {
  const [a, b] = await Promise.all([makePassword('same', 1000), makePassword('same', 1000)]);
  assert.is.not(a, b);
});

test("Django's hashes verify: default, non-default iteration counts and pbkdf2_sha1", async () => {
  const requests: DjangoRequest[] = [];
  for (const password of PASSWORDS) {
    requests.push({ make: password });
    requests.push({ make: password, iterations: 1000 });
    requests.push({ make: password, iterations: 720_000 });
    requests.push({ make: password, algorithm: 'pbkdf2_sha1', iterations: 5000 });
  }
  const hashes = await django<string>(requests);
  assert.ok(
    hashes.some((h) => h.startsWith('pbkdf2_sha256$260000$')),
    "Django 3.2's default",
  );
  assert.ok(hashes.some((h) => h.startsWith('pbkdf2_sha256$1000$')));
  assert.ok(hashes.some((h) => h.startsWith('pbkdf2_sha256$720000$')));
  assert.ok(hashes.some((h) => h.startsWith('pbkdf2_sha1$5000$')));
  const results = await Promise.all(
    hashes.map(async (encoded, i) => {
      const password = (requests[i] as { make: string }).make;
      return {
        right: await checkPassword(password, encoded),
        wrong: await checkPassword(`${password}x`, encoded),
        empty: await checkPassword('', encoded),
      };
    }),
  );
  for (const [i, result] of results.entries()) {
    assert.ok(result.right, `Django hash ${hashes[i]} should verify`);
    assert.not.ok(result.wrong, `a wrong password must not verify against ${hashes[i]}`);
    assert.not.ok(result.empty);
  }
});

test('Django accepts our hashes (so users can move back)', async () => {
  const ours = await Promise.all(PASSWORDS.map((password) => makePassword(password, 2000)));
  const checks: DjangoRequest[] = [];
  for (const [i, encoded] of ours.entries()) {
    checks.push({ check: PASSWORDS[i]!, encoded });
    checks.push({ check: `${PASSWORDS[i]}!`, encoded });
  }
  const verdicts = await django<boolean>(checks);
  assert.equal(
    verdicts,
    PASSWORDS.flatMap(() => [true, false]),
  );
});

test('unusable passwords, unknown algorithms and malformed values never verify (and never throw)', async () => {
  const unusable = makeUnusablePassword();
  assert.ok(unusable.startsWith('!'));
  assert.not.ok(isUsablePassword(unusable));
  const valid = await makePassword('pw', 1000);
  const [, , salt, hash] = valid.split('$');
  const bad = [
    unusable,
    `!${valid}`,
    '',
    'pw',
    `md5$${salt}$${hash}`,
    `argon2$1000$${salt}$${hash}`,
    `pbkdf2_sha512$1000$${salt}$${hash}`,
    `pbkdf2_sha256$abc$${salt}$${hash}`,
    `pbkdf2_sha256$0$${salt}$${hash}`,
    `pbkdf2_sha256$-5$${salt}$${hash}`,
    `pbkdf2_sha256$99999999999$${salt}$${hash}`,
    `pbkdf2_sha256$1000$$${hash}`,
    `pbkdf2_sha256$1000$${salt}$`,
    `pbkdf2_sha256$1000$${salt}`,
    `${valid}$extra`,
    `PBKDF2_SHA256$1000$${salt}$${hash}`,
    `pbkdf2_sha256$1000$${salt}$${hash!.slice(0, -2)}`,
    `pbkdf2_sha256$1001$${salt}$${hash}`,
  ];
  for (const encoded of bad)
    assert.is(await checkPassword('pw', encoded), false, `must refuse ${JSON.stringify(encoded)}`);
  for (const weird of [null, undefined, 42, {}] as unknown[])
    assert.is(await checkPassword('pw', weird as string), false);
  assert.is(await checkPassword(undefined as unknown as string, valid), false);
  assert.ok(await checkPassword('pw', valid), 'the untouched hash still verifies');
});

test('needsRehash: fewer iterations, sha1 or a salt under 22 characters yes; current or more, unusable and garbage no', async () => {
  const [low, current, sha1, oldSalt, shortSalt] = await django<string>([
    { make: 'pw', iterations: 1000 },
    { make: 'pw', iterations: PBKDF2_ITERATIONS },
    { make: 'pw', algorithm: 'pbkdf2_sha1', iterations: 900_000 },
    // Django before 3.2 made salts of 12 characters; 3.2 rehashes any under 128 bits.
    { make: 'pw', iterations: PBKDF2_ITERATIONS, salt: 'abcdefghijkl' },
    { make: 'pw', iterations: PBKDF2_ITERATIONS, salt: 'a'.repeat(21) },
  ]);
  assert.ok(needsRehash(oldSalt!));
  assert.ok(needsRehash(shortSalt!));
  // Python's len(): 21 code points, though 22 UTF-16 units.
  assert.ok(needsRehash(`pbkdf2_sha256$${PBKDF2_ITERATIONS}$${'a'.repeat(20)}😀$x`));
  assert.ok(needsRehash(low!));
  assert.not.ok(needsRehash(current!));
  assert.ok(needsRehash(sha1!));
  assert.not.ok(needsRehash(makeUnusablePassword()));
  assert.not.ok(needsRehash('garbage'));
  assert.not.ok(needsRehash(low!, 1000), 'a lower target (tests) accepts it');
});

test('makePassword refuses nonsense iteration counts', async () => {
  for (const iterations of [0, -1, 1.5, Number.NaN, 2 ** 31])
    try {
      await makePassword('pw', iterations);
      assert.unreachable(`iterations ${iterations} accepted`);
    } catch (error) {
      assert.instance(error, RangeError);
    }
});

test('hashing 600 000 iterations runs off the event loop: a 10 ms timer keeps firing', async () => {
  let ticks = 0;
  let longestGap = 0;
  let last = performance.now();
  const timer = setInterval(() => {
    const now = performance.now();
    longestGap = Math.max(longestGap, now - last);
    last = now;
    ticks++;
  }, 10);
  const started = performance.now();
  const encoded = await makePassword('event loop');
  const ok = await checkPassword('event loop', encoded);
  const elapsed = performance.now() - started;
  clearInterval(timer);
  assert.ok(ok);
  // Two full hashes take well over 100 ms on any machine; a blocking hash would starve the timer.
  assert.ok(elapsed > 100, `hashing took only ${elapsed.toFixed(0)} ms`);
  assert.ok(ticks >= elapsed / 10 / 3, `only ${ticks} ticks in ${elapsed.toFixed(0)} ms`);
  // A blocking hash would stall the timer for one whole hash, about half of
  // `elapsed`; a quarter of it leaves room for a loaded machine's scheduling.
  const allowed = Math.max(100, elapsed / 4);
  assert.ok(
    longestGap < allowed,
    `the event loop stalled for ${longestGap.toFixed(0)} ms of ${elapsed.toFixed(0)} ms`,
  );
});

test.run();
