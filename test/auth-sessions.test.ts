/**
 * Database sessions on SQLite and PostgreSQL: keys, loading, saving, rotation at
 * login, logout, expiry, and that only a hash of each key is ever stored.
 */
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { suite } from './helpers/suite.js';
import * as assert from 'uvu/assert';
import {
  hashSessionKey,
  InvalidSessionData,
  SessionInterrupted,
  SessionSecretRequired,
  SessionStore,
  clearExpiredSessions,
} from '../src/auth/sessions.js';
import { UserRepository } from '../src/auth/users.js';
import type { Database } from '../src/db/connection.js';
import { toDbTimestamp } from '../src/db/values.js';
import { rejects } from './helpers/assert.js';
import { allDatabases, countingQueries } from './helpers/databases.js';
import { TEST_SECRET_KEY } from './helpers/deployment.js';

const DAY_MS = 86_400_000;

for (const backend of allDatabases()) {
  const test = suite(`sessions (${backend.name})`);
  let db: Database;
  let store: SessionStore;
  let userId: number;
  /** The clock of `clocked`; tests move it forward instead of sleeping. */
  let now = new Date();
  let clocked: SessionStore;

  const rows = async (): Promise<Record<string, unknown>[]> =>
    db.knex('gredis_session').select('*') as Promise<Record<string, unknown>[]>;

  test.before(async () => {
    await backend.setup();
    db = await backend.openMigrated();
    store = new SessionStore(db, { secret: TEST_SECRET_KEY });
  });
  test.after(() => backend.teardown());
  test.before.each(async () => {
    await backend.truncate(db);
    userId = (
      await new UserRepository(db, { passwordIterations: 1000, secret: TEST_SECRET_KEY }).create({
        username: 'u',
      })
    ).id;
    now = new Date();
    clocked = new SessionStore(db, {
      maxAgeSeconds: 3600,
      now: () => now,
      secret: TEST_SECRET_KEY,
    });
  });

  test('create makes a 32-character [a-z0-9] key that expires in two weeks by default', async () => {
    const before = Date.now();
    const session = await store.create(userId, { cart: [1, 2] });
    assert.match(session.key, /^[a-z0-9]{32}$/);
    assert.is(session.userId, userId);
    assert.equal(session.data, { cart: [1, 2] });
    const age = session.expiresAt.getTime() - before;
    assert.ok(Math.abs(age - 14 * DAY_MS) < 5000, `expires in ${age} ms`);
  });

  test('keys are random: 200 sessions, 200 distinct keys, all characters in use', async () => {
    const keys = new Set<string>();
    for (let i = 0; i < 200; i++) keys.add((await store.create(null)).key);
    assert.is(keys.size, 200);
    const seen = new Set([...keys].join(''));
    assert.is(seen.size, 36, 'a-z and 0-9 all appear');
  });

  test('load returns what was stored (user, data, expiry), with real types', async () => {
    const data = {
      s: "' OR 1=1 --",
      n: 1.5,
      nul: 'a\0b',
      emoji: '🔑',
      nested: { list: [true, null] },
    };
    const created = await store.create(userId, data);
    const loaded = await store.load(created.key);
    assert.ok(loaded);
    assert.equal(loaded, created);
    assert.type(loaded.userId, 'number');
    assert.instance(loaded.expiresAt, Date);
    const anonymous = await store.create(null);
    assert.is((await store.load(anonymous.key))?.userId, null);
  });

  test('the database holds HMAC-SHA256(SECRET_KEY, key), never the key itself', async () => {
    const session = await store.create(userId, { secret: 'x' });
    const [row] = await rows();
    const expected = createHmac('sha256', TEST_SECRET_KEY).update(session.key).digest('hex');
    assert.is(String(row!.session_key_hash), expected);
    assert.is(hashSessionKey(session.key, TEST_SECRET_KEY), expected);
    assert.is.not(expected, createHash('sha256').update(session.key).digest('hex'));
    assert.not.ok(
      JSON.stringify(row).includes(session.key),
      'the raw key appears nowhere in the row',
    );
  });

  test('a session stored before (HMAC of the key, as keyed stores always wrote) still loads, with a non-ASCII key too', async () => {
    // Written by hand: rows already in deployed databases must keep their sessions.
    for (const [secret, key] of [
      [TEST_SECRET_KEY, 'abcdefghijklmnopqrstuvwxyz012345'],
      ['ключ-🔑-鍵', '0123456789abcdefghijklmnopqrstuv'],
    ] as const) {
      await db.knex('gredis_session').insert({
        session_key_hash: createHmac('sha256', Buffer.from(secret, 'utf8'))
          .update(key)
          .digest('hex'),
        user_id: userId,
        auth_hash: null,
        data: '{"kept":true}',
        expire_date: toDbTimestamp(db, new Date(Date.now() + DAY_MS)),
      });
      const loaded = await new SessionStore(db, { secret }).load(key);
      assert.equal(loaded?.data, { kept: true }, secret);
      assert.is(loaded?.userId, userId);
    }
  });

  test('a SessionStore without SECRET_KEY (or with an empty one) is refused: SessionSecretRequired', () => {
    for (const options of [
      {},
      { secret: '' },
      { secret: undefined },
      { maxAgeSeconds: 60 },
      undefined,
    ])
      assert.throws(
        () => new SessionStore(db, options as never),
        (error: unknown) =>
          error instanceof SessionSecretRequired &&
          error instanceof TypeError &&
          error.code === 'GREDIS_SESSION_SECRET_REQUIRED',
      );
  });

  test('the stored hash does not open the session (a leaked table is useless)', async () => {
    const session = await store.create(userId);
    assert.is(await store.load(hashSessionKey(session.key, TEST_SECRET_KEY)), undefined);
    assert.is(
      await store.load(hashSessionKey(session.key, TEST_SECRET_KEY).slice(0, 32)),
      undefined,
    );
  });

  test('malformed keys are refused before any query; forged well-formed keys find nothing', async () => {
    const session = await store.create(userId);
    const queries: string[] = [];
    const listen = (query: { sql: string }): number => queries.push(query.sql);
    db.knex.on('query', listen);
    const malformed = [
      '',
      session.key.toUpperCase(),
      `${session.key}a`,
      session.key.slice(1),
      `${session.key.slice(0, 31)}'`,
      "' OR 1=1 --",
      `${session.key.slice(0, 31)}\0`,
      'x'.repeat(10_000),
      undefined,
      null,
      42,
    ] as unknown[];
    for (const key of malformed) assert.is(await store.load(key as string), undefined, String(key));
    db.knex.removeListener('query', listen);
    assert.equal(queries, [], 'no query was made for a malformed key');
    // Well-formed but never issued: same alphabet and length as a real key.
    for (let i = 0; i < 20; i++) {
      const forged = [...randomBytes(32)]
        .map((byte) => 'abcdefghijklmnopqrstuvwxyz0123456789'[byte % 36])
        .join('');
      assert.match(forged, /^[a-z0-9]{32}$/);
      assert.is(await store.load(forged), undefined);
    }
    assert.is(await store.load('0'.repeat(32)), undefined);
    assert.ok(await store.load(session.key), 'the real key still works');
  });

  test('save writes data and user back and extends the expiry', async () => {
    const session = await clocked.create(null, { step: 1 });
    now = new Date(now.getTime() + 1800_000);
    session.data.step = 2;
    session.userId = userId;
    await clocked.save(session);
    assert.is(session.expiresAt.getTime(), now.getTime() + 3600_000);
    const loaded = await clocked.load(session.key);
    assert.equal(loaded, session);
  });

  test('save after logout, rotation or expiry throws SessionInterrupted instead of resurrecting', async () => {
    const deleted = await clocked.create(userId);
    await clocked.delete(deleted.key);
    const error = await rejects(() => clocked.save(deleted), SessionInterrupted);
    assert.is(error.code, 'GREDIS_SESSION_INTERRUPTED');
    const rotated = await clocked.create(userId);
    await clocked.rotate(rotated);
    await rejects(() => clocked.save(rotated), SessionInterrupted);
    const expired = await clocked.create(userId);
    now = new Date(now.getTime() + 3601_000);
    await rejects(() => clocked.save(expired), SessionInterrupted);
    await rejects(() => clocked.save({ ...expired, key: 'not a key' }), SessionInterrupted);
    assert.is(
      (await rows()).length,
      2,
      'nothing was brought back (only the expired row and the rotated one remain)',
    );
  });

  test('rotate: a new key with the same data; the old key stops working', async () => {
    const anonymous = await store.create(null, { next: '/chat/' });
    const rotated = await store.rotate(anonymous, userId);
    assert.is.not(rotated.key, anonymous.key);
    assert.match(rotated.key, /^[a-z0-9]{32}$/);
    assert.is(rotated.userId, userId);
    assert.equal(rotated.data, { next: '/chat/' });
    assert.is(await store.load(anonymous.key), undefined, 'the pre-login key is dead');
    assert.equal(await store.load(rotated.key), rotated);
    const again = await store.rotate(rotated);
    assert.is(again.userId, userId, 'userId defaults to the session’s');
    assert.is((await rows()).length, 1);
  });

  test('delete ends one session; unknown and malformed keys are ignored', async () => {
    const a = await store.create(userId);
    const b = await store.create(userId);
    await store.delete(a.key);
    await store.delete(a.key);
    await store.delete('nonsense');
    assert.is(await store.load(a.key), undefined);
    assert.ok(await store.load(b.key));
  });

  test("deleteForUser ends every session of that user and no one else's", async () => {
    const other = (
      await new UserRepository(db, { passwordIterations: 1000, secret: TEST_SECRET_KEY }).create({
        username: 'o',
      })
    ).id;
    await store.create(userId);
    await store.create(userId);
    const kept = await store.create(other);
    const anonymous = await store.create(null);
    assert.is(await store.deleteForUser(userId), 2);
    assert.ok(await store.load(kept.key));
    assert.ok(await store.load(anonymous.key));
    assert.is((await rows()).length, 2);
  });

  test('an expired session loads as undefined and its row is deleted', async () => {
    const session = await clocked.create(userId);
    now = new Date(now.getTime() + 3599_000);
    assert.ok(await clocked.load(session.key), 'still valid one second before expiry');
    now = new Date(now.getTime() + 1000);
    assert.is(await clocked.load(session.key), undefined);
    assert.is((await rows()).length, 0);
  });

  test('real time: a one-second session is gone after a second', async () => {
    const short = new SessionStore(db, { maxAgeSeconds: 1, secret: TEST_SECRET_KEY });
    const session = await short.create(null);
    assert.ok(await short.load(session.key));
    await new Promise((resolve) => setTimeout(resolve, 1100));
    assert.is(await short.load(session.key), undefined);
  });

  test('clearExpired deletes only expired rows and says how many', async () => {
    await clocked.create(userId);
    await clocked.create(null);
    now = new Date(now.getTime() + 7200_000);
    const fresh = await clocked.create(userId);
    assert.is(await clocked.clearExpired(), 2);
    assert.is(await clocked.clearExpired(), 0);
    assert.ok(await clocked.load(fresh.key));
  });

  test('clearExpiredSessions deletes in batches, each its own statement, until none is left', async () => {
    for (let i = 0; i < 5; i++) await clocked.create(null);
    now = new Date(now.getTime() + 7200_000);
    const fresh = [await clocked.create(userId), await clocked.create(null)];
    const batches: number[] = [];
    const { result, queries } = await countingQueries(db, () =>
      clearExpiredSessions(db, now, { batchSize: 2, onBatch: (deleted) => batches.push(deleted) }),
    );
    assert.is(result, 5);
    assert.equal(batches, [2, 2, 1], 'each DELETE heard once it has deleted');
    // Batches of 2, 2 and 1, each its keys read then deleted: the short one is the last.
    assert.is(queries, 6);
    assert.is((await rows()).length, 2);
    for (const session of fresh) assert.ok(await clocked.load(session.key));
    assert.is(await clearExpiredSessions(db, now, { batchSize: 2 }), 0);
  });

  test('an unreadable data column is treated as no session', async () => {
    const session = await store.create(userId, { a: 1 });
    for (const data of ['{not json', '[1,2]', 'null', '"text"']) {
      await db.knex('gredis_session').update({ data });
      assert.is(await store.load(session.key), undefined, data);
    }
  });

  test('data must be a JSON-serialisable plain object', async () => {
    const circular: Record<string, unknown> = {};
    circular.self = circular;
    for (const data of [circular, { n: 1n }, [1], null] as unknown[]) {
      const error = await rejects(
        () => store.create(null, data as Record<string, unknown>),
        InvalidSessionData,
      );
      assert.is(error.code, 'GREDIS_INVALID_SESSION_DATA');
    }
    assert.is((await rows()).length, 0);
  });

  test('maxAgeSeconds must be positive', () => {
    for (const maxAgeSeconds of [0, -1, Number.NaN, Infinity])
      assert.throws(
        () => new SessionStore(db, { maxAgeSeconds, secret: TEST_SECRET_KEY }),
        RangeError,
      );
  });

  test.run();
}
