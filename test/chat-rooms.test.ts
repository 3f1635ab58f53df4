/** MultiChat's rooms in the database: ordering, lookups, and titles stored verbatim or refused. */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { InvalidRoomTitle, RoomRepository } from '../src/apps/multichat/rooms.js';
import type { Database } from '../src/db/connection.js';
import { rejects } from './helpers/assert.js';
import { allDatabases } from './helpers/databases.js';

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
