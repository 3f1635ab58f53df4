import { pbkdf2, timingSafeEqual } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { promisify } from 'node:util';
import pLimit from 'p-limit';
import { codePointLength } from '../code-points.js';
import { randomString } from './random-string.js';

/**
 * Django's password hashes: `pbkdf2_sha256$<iterations>$<salt>$<base64 hash>` (and the
 * older `pbkdf2_sha1`), so users created by a Django project log in here and back.
 * Hashing runs on libuv's thread pool (crypto.pbkdf2), never on the event loop.
 */

/** Work factor for new hashes (OWASP's 2023 figure for PBKDF2-HMAC-SHA256; Django 5's is higher). */
export const PBKDF2_ITERATIONS = 600_000;

/** Unusable passwords start with this, as in Django, so no input ever matches them. */
export const UNUSABLE_PASSWORD_PREFIX = '!';

const pbkdf2Async = promisify(pbkdf2);

/**
 * Hashes running at once in this process; the others wait here, not in libuv's
 * thread pool (4 threads by default). A flood of logins, each a PBKDF2 of a few
 * hundred milliseconds, would otherwise fill that pool, and file reads (static
 * files), DNS lookups and the like would queue behind every hash. At most one
 * per core, and always a thread left free: more at once would not hash faster.
 */
const HASHES_AT_ONCE = Math.max(1, Math.min(availableParallelism(), 3));
const hashing = pLimit(HASHES_AT_ONCE);

/** Django's algorithm names → Node digest name and key length (the digest size). */
const ALGORITHMS = {
  pbkdf2_sha256: { digest: 'sha256', keyLength: 32 },
  pbkdf2_sha1: { digest: 'sha1', keyLength: 20 },
} as const;

type AlgorithmName = keyof typeof ALGORITHMS;

const SALT_ALPHABET = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
/** ceil(128 bits / log2(62)): Django's salt length since 3.2. */
const SALT_LENGTH = 22;
/** Bounds what a stored (possibly tampered) hash can make us compute. */
const MAX_ITERATIONS = 2 ** 31 - 1;

/** Hashes `raw` with PBKDF2-SHA256 and a fresh random salt, in Django's format. */
export async function makePassword(raw: string, iterations = PBKDF2_ITERATIONS): Promise<string> {
  if (!Number.isSafeInteger(iterations) || iterations < 1 || iterations > MAX_ITERATIONS)
    throw new RangeError(`iterations must be an integer from 1 to ${MAX_ITERATIONS}`);
  const salt = randomString(SALT_ALPHABET, SALT_LENGTH);
  const hash = await derive('pbkdf2_sha256', raw, salt, iterations);
  return `pbkdf2_sha256$${iterations}$${salt}$${hash}`;
}

/**
 * Whether `raw` matches `encoded`, at whatever iteration count it was stored with.
 * False (never a throw) for unusable passwords, unknown algorithms and malformed input.
 */
export async function checkPassword(raw: string, encoded: string): Promise<boolean> {
  if (typeof raw !== 'string') return false;
  const parsed = parseEncoded(encoded);
  if (!parsed) return false;
  const actual = await derive(parsed.algorithm, raw, parsed.salt, parsed.iterations);
  // Equal-length compare of the base64 text, as Django's constant_time_compare does.
  const a = Buffer.from(actual);
  const b = Buffer.from(parsed.hash);
  return a.length === b.length && timingSafeEqual(a, b);
}

/**
 * After a wrong password was checked against `encoded`, spends what a check at
 * `iterations` would have cost beyond it (Django's harden_runtime), so that the
 * time of a failed login does not tell an old hash from a current one.
 */
export async function hardenRuntime(
  raw: string,
  encoded: string,
  iterations = PBKDF2_ITERATIONS,
): Promise<void> {
  const parsed = parseEncoded(encoded);
  if (!parsed || parsed.iterations >= iterations) return;
  await derive(parsed.algorithm, raw, parsed.salt, iterations - parsed.iterations);
}

/** A value no password matches (for users who must not log in with a password). */
export function makeUnusablePassword(): string {
  return UNUSABLE_PASSWORD_PREFIX + randomString(SALT_ALPHABET, 40);
}

export function isUsablePassword(encoded: string): boolean {
  return parseEncoded(encoded) !== undefined;
}

/**
 * Whether a stored hash is weaker than what we would make now (older algorithm,
 * fewer iterations, or a salt of under 128 bits, such as the 12 characters
 * Django made before 3.2: its must_update_salt, counting characters as Python
 * does): rehash it after the next successful login. More iterations than ours
 * are kept, where Django 3.2 would lower them to its own: a hash a newer Django
 * made on a shared `auth_user` is not weakened. Unusable or unreadable values
 * are left alone.
 */
export function needsRehash(encoded: string, iterations = PBKDF2_ITERATIONS): boolean {
  const parsed = parseEncoded(encoded);
  if (!parsed) return false;
  return (
    parsed.algorithm !== 'pbkdf2_sha256' ||
    parsed.iterations < iterations ||
    codePointLength(parsed.salt) < SALT_LENGTH
  );
}

/** One entry of what the admin shows of a stored password: a label, and a value if any. */
export interface PasswordSummaryEntry {
  label: string;
  value?: string;
}

/**
 * What Django's ReadOnlyPasswordHashWidget (the user change page's Password)
 * shows of a stored password: "No password set." for none or an unusable one;
 * for a hash, its hasher's safe_summary, whose salt and hash only start as they
 * are (mask_hash); else "Invalid password format or unknown hashing algorithm."
 * Only the algorithms this module checks are known, as to a Django project with
 * these two in PASSWORD_HASHERS. A hash of theirs that Django cannot decode
 * (too few `$`, iterations that are no number) makes Django's page fail; it is
 * an invalid format here.
 */
export function passwordSummary(encoded: string): PasswordSummaryEntry[] {
  if (encoded === '' || encoded.startsWith(UNUSABLE_PASSWORD_PREFIX))
    return [{ label: 'No password set.' }];
  // PBKDF2PasswordHasher.decode: split('$', 3), so a hash may hold a '$'.
  const [algorithm = '', iterationText = '', salt = '', ...rest] = encoded.split('$');
  const hash = rest.join('$');
  if (!Object.hasOwn(ALGORITHMS, algorithm) || rest.length === 0 || !/^\d+$/.test(iterationText))
    return [{ label: 'Invalid password format or unknown hashing algorithm.' }];
  const entries: [string, string][] = [
    ['algorithm', algorithm],
    // As Python's int() makes it; and str() of it, as the template shows it.
    ['iterations', BigInt(iterationText) === 0n ? '' : BigInt(iterationText).toString()],
    ['salt', maskHash(salt)],
    ['hash', maskHash(hash)],
  ];
  // The widget's template shows a value only if it is truthy: not '', not 0.
  return entries.map(([label, value]) => (value === '' ? { label } : { label, value }));
}

/** Django's mask_hash: the first six characters (code points, as Python counts), then '*'. */
function maskHash(text: string, show = 6): string {
  const characters = Array.from(text);
  return characters.slice(0, show).join('') + '*'.repeat(Math.max(0, characters.length - show));
}

interface ParsedHash {
  algorithm: AlgorithmName;
  iterations: number;
  salt: string;
  hash: string;
}

function parseEncoded(encoded: unknown): ParsedHash | undefined {
  if (typeof encoded !== 'string' || encoded.startsWith(UNUSABLE_PASSWORD_PREFIX)) return undefined;
  const parts = encoded.split('$');
  if (parts.length !== 4) return undefined;
  const [algorithm, iterationText, salt, hash] = parts as [string, string, string, string];
  if (!Object.hasOwn(ALGORITHMS, algorithm)) return undefined;
  if (!/^[1-9]\d{0,9}$/.test(iterationText)) return undefined;
  const iterations = Number(iterationText);
  if (iterations > MAX_ITERATIONS || salt === '' || hash === '') return undefined;
  return { algorithm: algorithm as AlgorithmName, iterations, salt, hash };
}

async function derive(
  algorithm: AlgorithmName,
  raw: string,
  salt: string,
  iterations: number,
): Promise<string> {
  const { digest, keyLength } = ALGORITHMS[algorithm];
  const key = await hashing(() => pbkdf2Async(raw, salt, iterations, keyLength, digest));
  return key.toString('base64');
}
