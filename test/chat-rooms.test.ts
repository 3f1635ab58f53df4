/** MultiChat's rooms in the database: ordering, lookups, and titles stored verbatim or refused. */
import { suite } from './helpers/suite.js';
import * as assert from 'uvu/assert';
import { ChatAccess } from '../src/apps/multichat/access.js';
import { InvalidRoomTitle, RoomRepository } from '../src/apps/multichat/rooms.js';
import type { Database } from '../src/db/connection.js';
import { rejects } from './helpers/assert.js';
import { allDatabases, countingQueries } from './helpers/databases.js';
import { Fixtures } from './helpers/deployment.js';

for (const database of allDatabases()) {
  const test = suite(`rooms [${database.name}]`);
  let db: Database;
  let rooms: RoomRepository;

  test.before(async () => {
    await database.setup();
    db = await database.openMigrated();
    rooms = new RoomRepository(db);
  });
  test.after(() => database.teardown());
  test.after.each(() => database.truncate(db));

  test('rooms are listed by title, with their staff-only flag as a boolean', async () => {
    await rooms.create('Zebra');
    await rooms.create('apple', true);
    await rooms.create('Mango');
    const list = await rooms.list();
    assert.equal(
      list.map((r) => [r.title, r.staffOnly]),
      [
        ['apple', true],
        ['Mango', false],
        ['Zebra', false],
      ],
    );
  });

  test('find, update and delete; ids out of range name no room', async () => {
    const room = await rooms.create('Lobby');
    assert.equal(await rooms.find(room.id), room);
    assert.equal(await rooms.update(room.id, 'Hall', true), {
      id: room.id,
      title: 'Hall',
      staffOnly: true,
    });
    assert.equal(await rooms.find(room.id), { id: room.id, title: 'Hall', staffOnly: true });
    for (const id of [0, -1, 1.5, 2 ** 31, Number.MAX_SAFE_INTEGER, NaN])
      assert.is(await rooms.find(id), undefined);
    assert.is(await rooms.delete(room.id), true);
    assert.is(await rooms.delete(room.id), false);
    assert.is(await rooms.find(room.id), undefined);
  });

  test("ChatAccess: each check answered as alone; a moment's checks share one query on PostgreSQL", async () => {
    const fixtures = new Fixtures(db);
    const access = new ChatAccess(db, fixtures.users);
    const lobby = await rooms.create('Lobby');
    const lounge = await rooms.create('Lounge', true);
    const ann = await fixtures.user('ann');
    const sam = await fixtures.user('sam', { staff: true });
    const ida = await fixtures.user('ida');
    const [annHash, samHash, idaHash] = await Promise.all(
      [ann, sam, ida].map(async (u) => fixtures.sessions.hashOf(await fixtures.login(u))!),
    );
    await fixtures.users.update(ida.id, { isActive: false });
    const loggedOut = fixtures.sessions.hashOf('x'.repeat(32))!;
    const checks: [number, string, number][] = [
      [ann.id, annHash!, lobby.id],
      [ann.id, annHash!, lounge.id],
      [sam.id, samHash!, lounge.id],
      [ann.id, annHash!, 999_999],
      [ann.id, annHash!, 2 ** 40], // out of any id's range
      [ann.id, samHash!, lobby.id], // someone else's session
      [ida.id, idaHash!, lobby.id], // deactivated
      [ann.id, loggedOut, lobby.id],
      [424_242, annHash!, lobby.id], // no such user
      [ann.id, annHash!, lobby.id], // the same check twice
    ];
    const alone = [];
    for (const [user, hash, room] of checks) alone.push(await access.check(user, hash, room));
    const { result: together, queries } = await countingQueries(db, () =>
      Promise.all(checks.map(([user, hash, room]) => access.check(user, hash, room))),
    );
    assert.equal(together, alone);
    assert.equal(
      alone.map((a) => [a.user?.username, a.room?.title]),
      [
        ['ann', 'Lobby'],
        ['ann', 'Lounge'],
        ['sam', 'Lounge'],
        ['ann', undefined],
        ['ann', undefined],
        [undefined, 'Lobby'],
        [undefined, 'Lobby'],
        [undefined, 'Lobby'],
        [undefined, undefined],
        ['ann', 'Lobby'],
      ],
    );
    assert.is(alone[2]!.user!.isStaff, true);
    assert.is(queries, db.kind === 'postgres' ? 1 : checks.length);
  });

  test('titles are stored verbatim (HTML, SQL, unicode) and counted in characters', async () => {
    for (const title of [
      '<script>alert(1)</script>',
      "'; DROP TABLE chat_room; --",
      '✓ é 🎉',
      '🎉'.repeat(255),
    ]) {
      const room = await rooms.create(title);
      assert.is((await rooms.find(room.id))!.title, title);
    }
  });

  test('titles that cannot be stored identically are refused before any query', async () => {
    for (const title of [
      '',
      '   ',
      'x'.repeat(256),
      '🎉'.repeat(256),
      'nul\0here',
      'lone \ud800 surrogate',
    ]) {
      await rejects(
        () => rooms.create(title),
        InvalidRoomTitle,
        JSON.stringify(title.slice(0, 20)),
      );
    }
    assert.equal(await rooms.list(), []);
  });

  test.run();
}
