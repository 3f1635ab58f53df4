/**
 * The error catalogue of the database, auth and config modules: each class carries
 * its stable code and name, and docs/errors.md lists exactly these codes.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { suite } from './helpers/suite.js';
import * as assert from 'uvu/assert';
import {
  InvalidSessionData,
  SessionInterrupted,
  SessionSecretRequired,
} from '../src/auth/sessions.js';
import {
  DuplicateUsername,
  InvalidUserField,
  InvalidUsername,
  UserNotFound,
  UserSecretRequired,
} from '../src/auth/users.js';
import { SecretKeyFileInvalid, SecretKeyRequired } from '../src/config/errors.js';
import {
  DatabaseBusy,
  InvalidDatabaseUrl,
  MigrationFailed,
  MigrationInterrupted,
} from '../src/db/errors.js';
import { UnqueryableOnPostgres, UnqueryableOnSqlite } from '../src/db/search.js';
import { InvalidRegularExpression } from '../src/db/sqlite-regexp.js';

const test = suite('database, auth and config errors');

const ERRORS: [Error & { code: string }, string, string][] = [
  [new InvalidDatabaseUrl('x://', 'reason'), 'GREDIS_INVALID_DATABASE_URL', 'InvalidDatabaseUrl'],
  [new MigrationFailed('m', 'reason'), 'GREDIS_MIGRATION_FAILED', 'MigrationFailed'],
  [new MigrationInterrupted('m'), 'GREDIS_MIGRATION_INTERRUPTED', 'MigrationInterrupted'],
  [new DatabaseBusy(6000, 'the connection'), 'GREDIS_DATABASE_BUSY', 'DatabaseBusy'],
  [
    new InvalidRegularExpression('(', 'missing closing )'),
    'GREDIS_INVALID_REGULAR_EXPRESSION',
    'InvalidRegularExpression',
  ],
  [
    new UnqueryableOnPostgres('date_joined__week_day__contains', 'week_day as text'),
    'GREDIS_UNQUERYABLE_ON_POSTGRES',
    'UnqueryableOnPostgres',
  ],
  [
    new UnqueryableOnSqlite('date_joined__gte'),
    'GREDIS_UNQUERYABLE_ON_SQLITE',
    'UnqueryableOnSqlite',
  ],
  [new InvalidUsername('a b', 'message'), 'GREDIS_INVALID_USERNAME', 'InvalidUsername'],
  [new DuplicateUsername('alice'), 'GREDIS_DUPLICATE_USERNAME', 'DuplicateUsername'],
  [new InvalidUserField('email', 'reason'), 'GREDIS_INVALID_USER_FIELD', 'InvalidUserField'],
  [new UserNotFound(1), 'GREDIS_USER_NOT_FOUND', 'UserNotFound'],
  [new SessionInterrupted(), 'GREDIS_SESSION_INTERRUPTED', 'SessionInterrupted'],
  [new InvalidSessionData('reason'), 'GREDIS_INVALID_SESSION_DATA', 'InvalidSessionData'],
  [new UserSecretRequired(), 'GREDIS_USER_SECRET_REQUIRED', 'UserSecretRequired'],
  [new SessionSecretRequired(), 'GREDIS_SESSION_SECRET_REQUIRED', 'SessionSecretRequired'],
  [new SecretKeyRequired(), 'GREDIS_SECRET_KEY_REQUIRED', 'SecretKeyRequired'],
  [
    new SecretKeyFileInvalid('/k', 'is empty'),
    'GREDIS_SECRET_KEY_FILE_INVALID',
    'SecretKeyFileInvalid',
  ],
];

test('each error has its stable code, its class name and a message', () => {
  for (const [error, code, name] of ERRORS) {
    assert.instance(error, Error);
    assert.is(error.code, code);
    assert.is(error.name, name);
    assert.ok(error.message.length > 0, name);
  }
});

test('docs/errors.md lists exactly these codes, each with its class, in its own section', () => {
  const docs = readFileSync(
    fileURLToPath(new URL('../../docs/errors.md', import.meta.url)),
    'utf8',
  );
  const start = docs.indexOf('## Database, users, sessions and configuration');
  assert.ok(start !== -1, 'the section exists');
  const end = docs.indexOf('\n## ', start + 1);
  const section = docs.slice(start, end === -1 ? undefined : end);
  const rows = [...section.matchAll(/^\|\s*`(GREDIS_[A-Z_]+)`\s*\|\s*`(\w+)`/gm)].map((m) => [
    m[1],
    m[2],
  ]);
  assert.equal(rows.sort(), ERRORS.map(([, code, name]) => [code, name]).sort());
});

test('the messages users see name what to change', () => {
  assert.match(new InvalidDatabaseUrl('x://', 'bad').message, /DATABASE_URL/);
  assert.match(new SecretKeyRequired().message, /SECRET_KEY/);
  assert.match(new SecretKeyFileInvalid('/k', 'is empty').message, /\/k.*SECRET_KEY/);
  assert.is(new DuplicateUsername('a').message, 'That username is already taken.');
});

test.run();
