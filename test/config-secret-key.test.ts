/**
 * The secret key: SECRET_KEY wins; a SQLite file database gets one generated once and
 * kept beside it (0600), shared by every process; PostgreSQL requires SECRET_KEY.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { suite } from './helpers/suite.js';
import * as assert from 'uvu/assert';
import { SecretKeyFileInvalid, SecretKeyRequired } from '../src/config/errors.js';
import { loadSecretKey, secretKeyFileFor } from '../src/config/secret-key.js';
import { InvalidDatabaseUrl } from '../src/db/errors.js';

const test = suite('secret key');
let dir = '';
const savedKey = process.env.SECRET_KEY;

test.before.each(() => {
  dir = mkdtempSync(join(tmpdir(), 'gredis-key-'));
  delete process.env.SECRET_KEY;
});
test.after.each(() => {
  rmSync(dir, { recursive: true, force: true });
  if (savedKey === undefined) delete process.env.SECRET_KEY;
  else process.env.SECRET_KEY = savedKey;
});

test('a SQLite file database: a 64-character URL-safe key is generated into <file>.secret_key, mode 0600', () => {
  const url = `sqlite://${join(dir, 'app.sqlite3')}`;
  const key = loadSecretKey(url);
  assert.match(key, /^[A-Za-z0-9_-]{64}$/);
  const file = join(dir, 'app.sqlite3.secret_key');
  assert.is(secretKeyFileFor(join(dir, 'app.sqlite3')), file);
  assert.is(readFileSync(file, 'utf8').trim(), key);
  assert.is(statSync(file).mode & 0o777, 0o600);
  assert.equal(readdirSync(dir), ['app.sqlite3.secret_key'], 'no temporary files are left');
});

test('the stored key is reused, not regenerated', () => {
  const url = `sqlite://${join(dir, 'app.sqlite3')}`;
  const first = loadSecretKey(url);
  const mtime = statSync(join(dir, 'app.sqlite3.secret_key')).mtimeMs;
  assert.is(loadSecretKey(url), first);
  assert.is(statSync(join(dir, 'app.sqlite3.secret_key')).mtimeMs, mtime);
});

test('a key written by hand (trailing newline) is used as is', () => {
  writeFileSync(join(dir, 'db.sqlite3.secret_key'), 'my-own-key\n', { mode: 0o600 });
  assert.is(loadSecretKey(`sqlite://${join(dir, 'db.sqlite3')}`), 'my-own-key');
});

test('different databases get different keys', () => {
  const a = loadSecretKey(`sqlite://${join(dir, 'a.sqlite3')}`);
  const b = loadSecretKey(`sqlite://${join(dir, 'b.sqlite3')}`);
  assert.is.not(a, b);
});

test('a relative sqlite:// URL puts the key next to the file, relative to the working directory', () => {
  const cwd = process.cwd();
  process.chdir(dir);
  try {
    const key = loadSecretKey('sqlite://./gredis.sqlite3');
    assert.is(readFileSync(join(dir, 'gredis.sqlite3.secret_key'), 'utf8').trim(), key);
  } finally {
    process.chdir(cwd);
  }
});

test('SECRET_KEY overrides everything, and no file is written', () => {
  process.env.SECRET_KEY = 'from-the-environment';
  assert.is(loadSecretKey(`sqlite://${join(dir, 'app.sqlite3')}`), 'from-the-environment');
  assert.is(loadSecretKey('postgres://postgres@127.0.0.1/test'), 'from-the-environment');
  assert.equal(readdirSync(dir), []);
});

test('PostgreSQL without SECRET_KEY throws SecretKeyRequired saying so', () => {
  for (const url of ['postgres://postgres@127.0.0.1/test', 'postgresql://u:p@db/x']) {
    try {
      loadSecretKey(url);
      assert.unreachable('no error');
    } catch (error) {
      assert.instance(error, SecretKeyRequired);
      assert.is((error as SecretKeyRequired).code, 'GREDIS_SECRET_KEY_REQUIRED');
      assert.match(
        (error as Error).message,
        /SECRET_KEY is required when the database is PostgreSQL/,
      );
    }
  }
  process.env.SECRET_KEY = '   ';
  assert.throws(
    () => loadSecretKey('postgres://postgres@127.0.0.1/test'),
    (error: unknown) => error instanceof SecretKeyRequired,
    'a blank SECRET_KEY counts as unset',
  );
});

test(':memory: gets one key per process, stable within it', () => {
  const key = loadSecretKey('sqlite://:memory:');
  assert.match(key, /^[A-Za-z0-9_-]{64}$/);
  assert.is(loadSecretKey('sqlite://:memory:'), key);
});

test('an empty key file is an error naming the file, not a silent new key', () => {
  const file = join(dir, 'app.sqlite3.secret_key');
  writeFileSync(file, '\n');
  const error = (() => {
    try {
      loadSecretKey(`sqlite://${join(dir, 'app.sqlite3')}`);
    } catch (caught) {
      return caught;
    }
  })();
  assert.instance(error, SecretKeyFileInvalid);
  assert.is((error as SecretKeyFileInvalid).code, 'GREDIS_SECRET_KEY_FILE_INVALID');
  assert.ok((error as Error).message.includes(file));
});

test('an unwritable directory is a SecretKeyFileInvalid, and a bad URL an InvalidDatabaseUrl', () => {
  assert.throws(
    () => loadSecretKey('sqlite:///nonexistent-dir-gredis/app.sqlite3'),
    (error: unknown) => error instanceof SecretKeyFileInvalid,
  );
  assert.throws(
    () => loadSecretKey('mysql://x'),
    (error: unknown) => error instanceof InvalidDatabaseUrl,
  );
});

test('eight processes starting at once all end up with the same key', async () => {
  const url = `sqlite://${join(dir, 'race.sqlite3')}`;
  const module = fileURLToPath(new URL('../src/config/secret-key.js', import.meta.url));
  const script = `const { loadSecretKey } = await import(${JSON.stringify(module)}); process.stdout.write(loadSecretKey(${JSON.stringify(url)}));`;
  const env = { ...process.env };
  delete env.SECRET_KEY;
  const keys = await Promise.all(
    Array.from(
      { length: 8 },
      () =>
        new Promise<string>((resolve, reject) =>
          execFile(
            process.execPath,
            ['--input-type=module', '-e', script],
            { env },
            (error, stdout) => (error ? reject(error) : resolve(stdout)),
          ),
        ),
    ),
  );
  assert.is(new Set(keys).size, 1, `keys: ${keys.join(', ')}`);
  assert.is(readFileSync(join(dir, 'race.sqlite3.secret_key'), 'utf8').trim(), keys[0]);
  assert.equal(readdirSync(dir), ['race.sqlite3.secret_key']);
});

test.run();
