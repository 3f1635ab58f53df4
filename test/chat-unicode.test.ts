/**
 * Text that is not ASCII, end to end: Unicode usernames (Django's `\w.@+-`) up to
 * the 150-character limit, room titles with accents, CJK, right-to-left script and
 * astral-plane emoji up to 255 characters, and messages, through the admin's forms
 * and lists, the login form, the index page, the WebSocket protocol and the logs.
 * Limits count characters (code points), as Django and PostgreSQL's varchar do,
 * not UTF-16 units. Embedded on SQLite and PostgreSQL, and distributed on Redis
 * and PostgreSQL.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from './helpers/suite.js';
import * as assert from 'uvu/assert';
import type { Room } from '../src/apps/multichat/rooms.js';
import type { Database } from '../src/db/connection.js';
import { escapeHtml } from '../src/worker/http/html.js';
import { BrowserlessClient } from './helpers/browserless.js';
import { allDatabases, postgresBackend } from './helpers/databases.js';
import {
  chatClient,
  DistributedChat,
  Fixtures,
  nextJson,
  useEmbeddedChat,
} from './helpers/deployment.js';
import type { HttpResult } from './helpers/http-client.js';
import type { TestClient } from './helpers/ws-client.js';

const PASSWORD = 'correct horse';
/** 150 characters, 225 UTF-16 units, 4-byte UTF-8 for most: Latin, CJK, Arabic and astral CJK letters. */
const LONG_NAME = `Zoë.日本語-عربي_${'𠀀'.repeat(137)}`;
const ASTRAL_TITLE = '😀'.repeat(255);
const TITLES = ['Café ☕', '日本語', 'مرحبا بالعالم', '🎉 party 🎉', ASTRAL_TITLE];
const MESSAGE = 'Grüße 👋🏽 — שלום — 你好 — 𝄞';

const text = (result: HttpResult): string => result.body.toString('utf8');

/**
 * In each room, `other` joins, then `socket` (LONG_NAME's): `other` hears
 * LONG_NAME enter, and `socket`'s MESSAGE reaches both, titles and names intact.
 */
async function chatInEachRoom(
  socket: TestClient,
  other: TestClient,
  rooms: readonly Room[],
): Promise<void> {
  for (const room of rooms) {
    other.send(JSON.stringify({ command: 'join', room: room.id }));
    assert.equal(await nextJson(other), { join: String(room.id), title: room.title });
    socket.send(JSON.stringify({ command: 'join', room: room.id }));
    const notice = { room: String(room.id), username: LONG_NAME, msg_type: 4 };
    assert.equal(await nextJson(other), notice, `the enter notice in ${room.title}`);
    assert.equal(await nextJson(socket), { join: String(room.id), title: room.title });
    socket.send(JSON.stringify({ command: 'send', room: room.id, message: MESSAGE }));
    const message = { room: String(room.id), message: MESSAGE, username: LONG_NAME, msg_type: 0 };
    assert.equal(await nextJson(socket), message);
    assert.equal(await nextJson(other), message);
  }
}

/** The test's constants measure what they claim to (else the test proves nothing). */
assert.is([...LONG_NAME].length, 150);
assert.ok(LONG_NAME.length > 150);
assert.is(ASTRAL_TITLE.length, 510);

for (const database of allDatabases()) {
  const test = suite(`non-ASCII text [${database.name}]`);
  let db: Database;
  let fixtures: Fixtures;
  let port: number;
  const sockets: TestClient[] = [];
  useEmbeddedChat(test, database, (state) => ({ db, fixtures, port } = state));
  test.after.each(() => {
    for (const socket of sockets.splice(0)) socket.ws.terminate();
  });

  async function admin(): Promise<BrowserlessClient> {
    await fixtures.user('root', { staff: true, superuser: true });
    const client = new BrowserlessClient(port);
    assert.is((await client.login('root', PASSWORD)).status, 302);
    return client;
  }

  test('the admin creates, lists and edits users and rooms with non-ASCII names, at their length limits', async () => {
    const root = await admin();
    const created = await root.submit('/admin/users/new/', {
      username: LONG_NAME,
      password1: PASSWORD,
      password2: PASSWORD,
      is_active: 'on',
    });
    assert.is(created.status, 303, text(created));
    // Saving a new user leads to its page (UserAdmin), which says so.
    const page = text(await root.get(String(created.headers.location)));
    assert.ok(page.includes(`>${escapeHtml(LONG_NAME)}</a>” was added successfully.`), 'notice');
    assert.ok(text(await root.get('/admin/users/')).includes(escapeHtml(LONG_NAME)), 'listed');
    const tooLong = await root.submit('/admin/users/new/', {
      username: `${LONG_NAME}é`,
      password1: PASSWORD,
      password2: PASSWORD,
    });
    assert.is(tooLong.status, 200);
    assert.match(text(tooLong), /at most 150 characters \(it has 151\)/);
    const user = (await fixtures.users.findByUsername(LONG_NAME))!;
    assert.ok(user, 'stored as typed');
    assert.ok(text(await root.get(`/admin/users/${user.id}/`)).includes(escapeHtml(LONG_NAME)));

    for (const title of TITLES) {
      const res = await root.submit('/admin/rooms/new/', { title });
      assert.is(res.status, 303, `${title}: ${text(res)}`);
    }
    const tooLongTitle = await root.submit('/admin/rooms/new/', { title: `${ASTRAL_TITLE}😀` });
    assert.is(tooLongTitle.status, 200);
    assert.match(text(tooLongTitle), /at most 255 characters \(it has 256\)/i);
    const stored = (await db.knex('chat_room').select('id', 'title').orderBy('id')) as {
      id: number;
      title: string;
    }[];
    assert.equal(
      stored.map((r) => r.title),
      TITLES,
    );
    const list = text(await root.get('/admin/rooms/'));
    for (const title of TITLES) assert.ok(list.includes(`>${escapeHtml(title)}</a>`), title);
    const astral = stored.at(-1)!;
    const edit = text(await root.get(`/admin/rooms/${astral.id}/`));
    assert.ok(edit.includes(`value="${ASTRAL_TITLE}"`), 'the edit form shows the title');
    const renamed = await root.post(`/admin/rooms/${astral.id}/`, {
      title: `${ASTRAL_TITLE.slice(2)}☕`,
    });
    assert.is(renamed.status, 303);
    assert.ok(
      text(await root.get('/admin/rooms/')).includes(
        `>${ASTRAL_TITLE.slice(2)}☕</a>” was changed successfully.`,
      ),
    );
  });

  test('a Unicode user logs in, sees the titles on the index page, and chats in them', async () => {
    await fixtures.user(LONG_NAME);
    const bob = await fixtures.user('bøb_日本');
    const rooms = await Promise.all(TITLES.map((title) => fixtures.room(title)));
    const browser = new BrowserlessClient(port);
    assert.is((await browser.login(LONG_NAME, PASSWORD)).status, 302, 'the login form');
    const index = text(await browser.get('/'));
    for (const title of TITLES) assert.ok(index.includes(escapeHtml(title)), title);
    assert.ok(index.includes(escapeHtml(LONG_NAME)), 'the page names its user');

    const socket = await chatClient(port, browser.cookies.get('sessionid')!);
    const other = await chatClient(port, await fixtures.login(bob));
    sockets.push(socket, other);
    await chatInEachRoom(socket, other, rooms);
    // The limit on messages counts characters too: 4096 astral ones pass, 4097 do not.
    const room = String(rooms[0]!.id);
    socket.send(JSON.stringify({ command: 'send', room, message: '😀'.repeat(4096) }));
    assert.is((await nextJson(socket)).message, '😀'.repeat(4096));
    await nextJson(other);
    socket.send(JSON.stringify({ command: 'send', room, message: '😀'.repeat(4097) }));
    assert.equal(await nextJson(socket), { error: 'MESSAGE_TOO_LONG' });
  });

  test.run();
}

const distributed = suite('non-ASCII text [Redis + PostgreSQL]');
const database = postgresBackend();
let db: Database;
let fixtures: Fixtures;
let chat: DistributedChat | undefined;
let logDir = '';
distributed.before(async () => {
  await database.setup();
  db = await database.openMigrated();
  fixtures = new Fixtures(db);
  logDir = mkdtempSync(join(tmpdir(), 'gredis-unicode-'));
});
distributed.after(async () => {
  await chat?.stop();
  await database.teardown();
  rmSync(logDir, { recursive: true, force: true });
});

distributed(
  'two workers behind a Thyme carry the titles, names and messages intact, and log them as UTF-8',
  async () => {
    chat = new DistributedChat(database);
    await chat.startWorker();
    await chat.startWorker();
    const accessLog = join(logDir, 'access.log');
    const port = await chat.startThyme(['--access-log', accessLog]);
    await fixtures.user(LONG_NAME);
    const bob = await fixtures.user('بوب');
    const rooms = await Promise.all(TITLES.map((title) => fixtures.room(title)));
    const browser = new BrowserlessClient(port);
    assert.is((await browser.login(LONG_NAME, PASSWORD)).status, 302);
    const index = text(await browser.get('/'));
    for (const title of TITLES) assert.ok(index.includes(escapeHtml(title)), title);
    const socket = await chatClient(port, browser.cookies.get('sessionid')!);
    const other = await chatClient(port, await fixtures.login(bob));
    try {
      await chatInEachRoom(socket, other, rooms);
    } finally {
      socket.ws.terminate();
      other.ws.terminate();
    }
    await chat.stop();
    chat = undefined;
    const log = readFileSync(accessLog, 'utf8');
    assert.match(log, /"GET \/ HTTP\/1\.1" 200 /);
    assert.match(log, /"WSCONNECT \/chat\/stream\/"/);
    assert.not.ok(log.includes('\uFFFD'), 'no mangled characters');
  },
);

distributed.run();
