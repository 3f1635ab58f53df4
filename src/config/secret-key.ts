import { randomBytes } from 'node:crypto';
import { linkSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { parseDatabaseUrl } from '../db/url.js';
import { ENV, env } from '../settings.js';
import { SecretKeyFileInvalid, SecretKeyRequired } from './errors.js';

/** 48 random bytes: 64 URL-safe characters. */
const GENERATED_KEY_BYTES = 48;

let processKey: string | undefined;

/** Where the generated key of a SQLite database is kept: next to the database file. */
export function secretKeyFileFor(sqliteFile: string): string {
  return `${sqliteFile}.secret_key`;
}

/**
 * The key that signs sessions and CSRF tokens. `SECRET_KEY` wins; otherwise a SQLite
 * file database gets one generated once and stored beside it (mode 0600) so every
 * process on that database agrees; `:memory:` gets a per-process key; PostgreSQL
 * (many hosts, no shared file) requires SECRET_KEY.
 */
export function loadSecretKey(databaseUrl: string): string {
  const fromEnv = env(ENV.secretKey);
  if (fromEnv !== undefined) return fromEnv;
  const target = parseDatabaseUrl(databaseUrl);
  if (target.kind === 'postgres') throw new SecretKeyRequired();
  if (target.memory) return (processKey ??= generateKey());
  return readOrCreateKeyFile(secretKeyFileFor(target.filename));
}

/**
 * Why `key` is too weak to sign sessions, as Django's `check --deploy` judges it
 * (security.W009: under 50 characters or under 5 different ones), or undefined.
 * A warning, not a refusal: Django starts with such a key too.
 */
export function secretKeyWeakness(key: string): string | undefined {
  const length = [...key].length;
  const distinct = new Set(key).size;
  if (length >= 50 && distinct >= 5) return undefined;
  return `SECRET_KEY is weak (${length} characters, ${distinct} different; want at least 50 and 5): anyone who guesses it can forge sessions. Generate one as the README shows`;
}

function generateKey(): string {
  return randomBytes(GENERATED_KEY_BYTES).toString('base64url');
}

/**
 * Two processes starting together must end up with the same key: the new key is
 * written to a private temporary file and hard-linked into place, which fails if
 * another process linked first, and then that one's key is used.
 */
function readOrCreateKeyFile(path: string): string {
  const existing = readKeyFile(path);
  if (existing !== undefined) return existing;
  const temporary = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  const key = generateKey();
  try {
    writeFileSync(temporary, `${key}\n`, { mode: 0o600, flag: 'wx' });
    linkSync(temporary, path);
    return key;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST')
      throw new SecretKeyFileInvalid(path, `cannot be created: ${(error as Error).message}`, {
        cause: error,
      });
    const winner = readKeyFile(path);
    if (winner === undefined) throw new SecretKeyFileInvalid(path, 'vanished while being read');
    return winner;
  } finally {
    try {
      unlinkSync(temporary);
    } catch {
      // Never created (the write failed); nothing to clean up.
    }
  }
}

function readKeyFile(path: string): string | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new SecretKeyFileInvalid(path, `cannot be read: ${(error as Error).message}`, {
      cause: error,
    });
  }
  const key = text.trim();
  if (key === '') throw new SecretKeyFileInvalid(path, 'is empty');
  return key;
}
