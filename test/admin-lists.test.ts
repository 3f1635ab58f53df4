/**
 * The admin's room and user lists as Django 3.2's changelist (views/main.py) has
 * them, over real HTTP on SQLite and PostgreSQL: 100 a page chosen by `?p=N`
 * (1-based), the count, a search `?q=` that ignores case and takes %, _ and \
 * literally, page links that keep the search, and Django's redirect to `?e=1`
 * for a page past the end or an unknown name. Rows are made directly in the database.
 */
import { suite } from './helpers/suite.js';
import * as assert from 'uvu/assert';
import type { Database } from '../src/db/connection.js';
import { toDbBoolean } from '../src/db/values.js';
import { BrowserlessClient } from './helpers/browserless.js';
import { allDatabases } from './helpers/databases.js';
import { Fixtures, useEmbeddedChat } from './helpers/deployment.js';
import { markupOf } from './helpers/markup.js';

const PASSWORD = 'correct horse';

/** The titles of the rooms listed, in order. */
function roomTitles(page: string): string[] {
  return Array.from(
    page.matchAll(
      /<tr data-room-id="\d+">\s*<td class="action-checkbox">[^]*?<\/td>\s*<td class="num">\d+<\/td>\s*<th scope="row">\s*<a [^>]*>([^<]*)<\/a>/g,
    ),
    (match) => match[1]!,
  );
}

/** The usernames of the users listed, in order. */
function usernames(page: string): string[] {
  return Array.from(
    page.matchAll(
      /<tr data-user-id="\d+">\s*<td class="action-checkbox">[^]*?<\/td>\s*<th scope="row">\s*<a [^>]*>([^<]*)<\/a>/g,
    ),
    (match) => match[1]!,
  );
}

/** The page links' targets and the current page's number, from the pages' landmark. */
function pageLinks(page: string): {
  links: string[];
  current: string | undefined;
  items: string[];
} {
  const nav = /<nav class="paginator" aria-label="Pages of (?:rooms|users)">([\s\S]*?)<\/nav>/.exec(
    page,
  )?.[1];
  if (nav === undefined) return { links: [], current: undefined, items: [] };
  const items = Array.from(nav.matchAll(/<li>([\s\S]*?)<\/li>/g), ([, item]) =>
    item!.replace(/<span class="visually-hidden">Page <\/span>/, '').replace(/<[^>]+>|\s+/g, ''),
  );
  return {
    links: Array.from(nav.matchAll(/href="([^"]*)"/g), (match) =>
      match[1]!.replaceAll('&amp;', '&'),
    ),
    current: /aria-current="page"\s*><span class="visually-hidden">Page <\/span>(\d+)</.exec(
      nav,
    )?.[1],
    items,
  };
}

for (const database of allDatabases()) {
  const test = suite(`admin lists [${database.name}]`);
  let db: Database;
  let fixtures: Fixtures;
  let port: number;

  useEmbeddedChat(test, database, (state) => ({ db, fixtures, port } = state));

  async function signedIn(username: string, superuser = true): Promise<BrowserlessClient> {
    const options = { password: PASSWORD, staff: true, superuser };
    return (await fixtures.signedIn(port, username, options)).client;
  }

  /** Rooms "Room 001" … "Room <count>", inserted in one statement; every tenth staff-only. */
  async function manyRooms(count: number): Promise<void> {
    const rows = Array.from({ length: count }, (_, i) => ({
      title: `Room ${String(i + 1).padStart(3, '0')}`,
      staff_only: toDbBoolean(db, (i + 1) % 10 === 0),
    }));
    // In batches: SQLite takes at most 500 rows in one INSERT … SELECT … UNION ALL.
    await db.knex.batchInsert('chat_room', rows, 200);
  }

  test('250 rooms: 100 a page by ?p=N from 1, the count, and page links in a navigation landmark', async () => {
    await manyRooms(250);
    const client = await signedIn('root');
    const expected = (from: number, to: number): string[] =>
      Array.from({ length: to - from + 1 }, (_, i) => `Room ${String(from + i).padStart(3, '0')}`);

    const first = await client.get('/admin/rooms/');
    assert.is(first.status, 200);
    assert.equal(roomTitles(markupOf(first)), expected(1, 100));
    assert.match(markupOf(first), /<p class="result-count">\s*250 rooms\s*<\/p>/);
    assert.equal(pageLinks(markupOf(first)), {
      links: ['?p=2', '?p=3'],
      current: '1',
      items: ['1', '2', '3'],
    });
    const second = markupOf(await client.get('/admin/rooms/?p=2'));
    assert.equal(roomTitles(second), expected(101, 200));
    assert.equal(pageLinks(second).current, '2');
    assert.equal(pageLinks(second).links, ['?p=1', '?p=3']);
    assert.equal(roomTitles(markupOf(await client.get('/admin/rooms/?p=3'))), expected(201, 250));
    // Read as Python's int() reads it; of a name sent twice, the last (QueryDict.get).
    assert.equal(
      roomTitles(markupOf(await client.get('/admin/rooms/?p=%202%0A'))),
      expected(101, 200),
    );
    assert.equal(roomTitles(markupOf(await client.get('/admin/rooms/?p=+3'))), expected(201, 250));
    assert.equal(
      roomTitles(markupOf(await client.get('/admin/rooms/?p=1&p=3'))),
      expected(201, 250),
    );
    // A page number that is no number is page 1.
    for (const p of ['abc', '2.5', '', '0x2'])
      assert.equal(
        roomTitles(markupOf(await client.get(`/admin/rooms/?p=${p}`))),
        expected(1, 100),
        p,
      );
  });

  test("a page past either end is Django's IncorrectLookupParameters: 302 to ?e=1 (page 1), and with e already there its Database error page", async () => {
    await manyRooms(250);
    const client = await signedIn('root');
    for (const p of ['4', '0', '-1', '99999999999999999999']) {
      const res = await client.get(`/admin/rooms/?p=${p}&q=room`);
      assert.is(res.status, 302, `p=${p}`);
      assert.is(res.headers.location, '/admin/rooms/?e=1', `p=${p}: the search is dropped too`);
    }
    const landing = await client.get('/admin/rooms/?e=1');
    assert.is(landing.status, 200);
    assert.equal(roomTitles(markupOf(landing)).length, 100);
    assert.equal(pageLinks(markupOf(landing)).current, '1');
    const again = await client.get('/admin/rooms/?e=1&p=9');
    assert.is(again.status, 200, 'Django answers its invalid_setup page with 200');
    assert.match(markupOf(again), /<h1>Database error<\/h1>/);
    assert.equal(roomTitles(markupOf(again)), []);
    // A list that fits in one page ignores p, as Django's does.
    await db.knex('chat_room').where('title', '>', 'Room 050').delete();
    const short = await client.get('/admin/rooms/?p=7');
    assert.is(short.status, 200);
    assert.equal(roomTitles(markupOf(short)).length, 50);
    assert.match(markupOf(short), /<p class="result-count">\s*50 rooms\s*<\/p>/);
    assert.not.match(markupOf(short), /class="paginator"/, 'one page: no page links');
  });

  test("a name the list does not take (?bogus=1) is Django's IncorrectLookupParameters too; its own names, and o, ot, _popup and _to_field, are not", async () => {
    await manyRooms(150);
    const client = await signedIn('root');
    for (const query of ['bogus=1', 'q=room&bogus', 'p=2&titel=Room+001', '=1', 'Q=room', 'pp=2']) {
      for (const list of ['/admin/rooms/', '/admin/users/']) {
        const res = await client.get(`${list}?${query}`);
        assert.is(res.status, 302, `${list}?${query}`);
        assert.is(res.headers.location, `${list}?e=1`, `${list}?${query}: nothing kept`);
        const again = await client.get(`${list}?e=1&${query}`);
        assert.is(again.status, 200, `${list}?e=1&${query}`);
        assert.match(markupOf(again), /<h1>Database error<\/h1>/, `${list}?e=1&${query}`);
      }
    }
    const landing = markupOf(await client.get('/admin/rooms/?e=1'));
    assert.equal(roomTitles(landing).length, 100, 'e alone is the list');
    assert.equal(roomTitles(markupOf(await client.get('/admin/rooms/?p=2&q=room&e=1'))).length, 50);
    assert.equal(roomTitles(markupOf(await client.get('/admin/rooms/?all=&q=room'))).length, 150);
    // Django 3.2's IGNORED_PARAMS, `ot` (a sort's old direction) included.
    for (const query of ['o=1', 'o=-2.1', 'ot=desc', '_popup=1', '_to_field=id']) {
      const res = await client.get(`/admin/rooms/?p=2&${query}`);
      assert.is(res.status, 200, query);
      assert.equal(roomTitles(markupOf(res)).length, 50, query);
    }
    const staff = await signedIn('mod', false);
    assert.is((await staff.get('/admin/users/?bogus=1')).status, 403, 'users stay superusers-only');
  });

  test('"Show all" up to 200 (list_max_show_all): ?all= shows them on one page and is kept by the search; more than 200 stay paged', async () => {
    await manyRooms(150);
    const client = await signedIn('root');
    const first = markupOf(await client.get('/admin/rooms/'));
    assert.equal(roomTitles(first).length, 100);
    assert.match(first, /150 rooms\s*<a href="\?all=">Show all<\/a>/);
    const all = markupOf(await client.get('/admin/rooms/?all='));
    assert.equal(roomTitles(all).length, 150);
    assert.not.match(all, /class="paginator"|Show all/);
    assert.match(all, /<input type="hidden" name="all" value="">/, 'a search keeps it');
    assert.equal(roomTitles(markupOf(await client.get('/admin/rooms/?all=&p=9'))).length, 150);
    const searched = markupOf(await client.get('/admin/rooms/?q=room'));
    assert.match(searched, /<a href="\?all=&amp;q=room">Show all<\/a>/);
    assert.equal(roomTitles(markupOf(await client.get('/admin/rooms/?all=&q=room'))).length, 150);

    await manyRooms(60); // 210: too many to show at once
    const many = markupOf(await client.get('/admin/rooms/?all='));
    assert.equal(roomTitles(many).length, 100);
    assert.not.match(many, /Show all/);
    assert.equal(pageLinks(many).links, ['?all=&p=2', '?all=&p=3']);
    assert.is((await client.get('/admin/rooms/?all=&p=4')).headers.location, '/admin/rooms/?e=1');
  });

  test('long lists elide page links as Paginator.get_elided_page_range does', async () => {
    await manyRooms(999);
    await db.knex.batchInsert(
      'chat_room',
      Array.from({ length: 1001 }, (_, i) => ({
        title: `Zoo ${i}`,
        staff_only: toDbBoolean(db, false),
      })),
      200,
    );
    const client = await signedIn('root');
    assert.equal(pageLinks(markupOf(await client.get('/admin/rooms/'))).items, [
      '1',
      '2',
      '3',
      '4',
      '…',
      '19',
      '20',
    ]);
    assert.equal(pageLinks(markupOf(await client.get('/admin/rooms/?p=10'))).items, [
      '1',
      '2',
      '…',
      '7',
      '8',
      '9',
      '10',
      '11',
      '12',
      '13',
      '…',
      '19',
      '20',
    ]);
    assert.equal(pageLinks(markupOf(await client.get('/admin/rooms/?p=20'))).items, [
      '1',
      '2',
      '…',
      '17',
      '18',
      '19',
      '20',
    ]);
  });

  test('the search box finds rooms by title ignoring case, every term; its page links keep it, and it says how many of how many', async () => {
    await manyRooms(250);
    for (const title of ['Lobby', 'Staff lounge', 'LOBBY two']) await fixtures.room(title);
    const client = await signedIn('root');
    const list = markupOf(await client.get('/admin/rooms/'));
    assert.match(list, /<form method="get" class="changelist-search" role="search">/);
    assert.match(list, /<label for="searchbar">Search rooms by title<\/label>/);
    assert.match(list, /<input type="search" id="searchbar" name="q" value="">/);
    assert.match(list, /<p class="result-count">\s*253 rooms\s*<\/p>/);

    const lobby = markupOf(await client.get('/admin/rooms/?q=lObBy'));
    // In Django's order, the title's as the database compares it (upper case first).
    assert.equal(roomTitles(lobby), ['LOBBY two', 'Lobby']);
    assert.match(lobby, /value="lObBy"/, 'the search stays in the box');
    assert.match(lobby, /2 results\s*\(<a href="\?"\s*>253 total<\/a\s*>\)/);
    assert.match(lobby, /<p class="result-count">\s*2 rooms\s*<\/p>/);
    // Terms are ANDed, each in the title anywhere; a quoted phrase is one term.
    assert.equal(roomTitles(markupOf(await client.get('/admin/rooms/?q=two+lobby'))), [
      'LOBBY two',
    ]);
    assert.equal(roomTitles(markupOf(await client.get('/admin/rooms/?q=%22y+t%22'))), [
      'LOBBY two',
    ]);
    assert.equal(roomTitles(markupOf(await client.get('/admin/rooms/?q=nowhere'))), []);
    assert.match(markupOf(await client.get('/admin/rooms/?q=nowhere')), /0 rooms/);
    // Only spaces: no terms, the whole list (and no "of how many").
    const blank = markupOf(await client.get('/admin/rooms/?q=+++'));
    assert.equal(roomTitles(blank).length, 100);
    assert.not.match(blank, /results/);

    // 250 found: paged, and each page link carries the search (Django: ?p=2&q=…).
    const found = markupOf(await client.get('/admin/rooms/?q=ROOM'));
    assert.match(found, /250 results\s*\(<a href="\?"\s*>253 total<\/a\s*>\)/);
    assert.equal(pageLinks(found).links, ['?p=2&q=ROOM', '?p=3&q=ROOM']);
    const third = markupOf(await client.get('/admin/rooms/?p=3&q=ROOM'));
    assert.equal(roomTitles(third)[0], 'Room 201');
    assert.equal(roomTitles(third).length, 50);
    assert.equal(pageLinks(third).links, ['?p=1&q=ROOM', '?p=2&q=ROOM']);
    assert.match(third, /value="ROOM"/);
    // A search with spaces and symbols survives the link's encoding.
    const spaced = markupOf(await client.get('/admin/rooms/?q=r+o%26'));
    assert.equal(roomTitles(spaced), []);
    assert.match(spaced, /value="r o&amp;"/);
  });

  test('search text is literal: % and _ and \\ match only themselves, on both databases', async () => {
    for (const title of [
      '100% cotton',
      '100 percent',
      'snake_case',
      'snakeXcase',
      'back\\slash',
      'backslash',
      "it's",
    ])
      await fixtures.room(title);
    const client = await signedIn('root');
    const search = async (q: string): Promise<string[]> =>
      roomTitles(markupOf(await client.get(`/admin/rooms/?q=${encodeURIComponent(q)}`))).map((t) =>
        t.replaceAll('&#x27;', "'"),
      );
    assert.equal(await search('0%'), ['100% cotton']);
    assert.equal(await search('%'), ['100% cotton']);
    assert.equal(await search('e_c'), ['snake_case']);
    assert.equal(await search('_'), ['snake_case']);
    assert.equal(await search('k\\s'), ['back\\slash']);
    assert.equal(await search('\\'), ['back\\slash']);
    assert.equal(await search("t'"), ["it's"]);
  });

  test('what users typed is text, never markup: titles, the search box, the counts', async () => {
    await fixtures.room('<b id="x">bold</b> & "quoted"');
    const client = await signedIn('root');
    const q = '"><script>alert(1)</script>';
    const page = markupOf(await client.get(`/admin/rooms/?q=${encodeURIComponent('<b')}`));
    assert.match(page, />&lt;b id=&quot;x&quot;&gt;bold&lt;\/b&gt; &amp; &quot;quoted&quot;<\/a>/);
    assert.not.match(page, /<b id="x">/);
    const hostile = markupOf(await client.get(`/admin/rooms/?q=${encodeURIComponent(q)}`));
    assert.not.match(hostile, /<script>alert/);
    assert.match(hostile, /value="&quot;&gt;&lt;script&gt;alert\(1\)&lt;\/script&gt;"/);
  });

  test("a search with a NUL is refused with Django's message (an error) and the list shows unsearched", async () => {
    await fixtures.room('Lobby');
    await fixtures.room('Hall');
    const client = await signedIn('root');
    const res = await client.get('/admin/rooms/?q=Lob%00by');
    assert.is(res.status, 200);
    assert.match(
      markupOf(res),
      /<p class="flash flash-error">Null characters are not allowed\.<\/p>/,
    );
    assert.equal(roomTitles(markupOf(res)), ['Hall', 'Lobby']);
    assert.match(markupOf(res), /value=""/);
    const users = await client.get('/admin/users/?q=%00');
    assert.is(users.status, 200);
    assert.match(markupOf(users), /Null characters are not allowed\./);
  });

  test("a search with a NUL redirected to ?e=1 drops the search, as Django's does, and the page there still says why", async () => {
    await manyRooms(250);
    const client = await signedIn('root');
    const notice = /<p class="flash flash-error">Null characters are not allowed\.<\/p>/;
    for (const [list, query] of [
      ['/admin/rooms/', 'q=Lob%00by&p=9'],
      ['/admin/rooms/', 'p=0&q=%00'],
      ['/admin/rooms/', 'q=%00&bogus=1'],
      ['/admin/users/', 'bogus=1&q=a%00'],
    ] as const) {
      const res = await client.get(`${list}?${query}`);
      assert.is(res.status, 302, query);
      assert.is(res.headers.location, `${list}?e=1`, `${query}: Django keeps nothing`);
      const landing = markupOf(await client.get(`${list}?e=1`));
      assert.match(landing, notice, `${query}: the page says why the search went`);
      assert.match(landing, /<input type="search" id="searchbar" name="q" value="">/, query);
      if (list === '/admin/rooms/') assert.equal(roomTitles(landing).length, 100, query);
      assert.not.match(markupOf(await client.get(list)), notice, `${query}: said once`);
    }
    // A search that was fine says nothing there, as in Django: the redirect is about the page.
    const res = await client.get('/admin/rooms/?q=room&p=9');
    assert.is(res.headers.location, '/admin/rooms/?e=1');
    assert.not.match(markupOf(await client.get('/admin/rooms/?e=1')), /class="flash/);
  });

  test('users: 100 a page, searched ignoring case; staff who are not superusers still get 403', async () => {
    const client = await signedIn('root');
    for (let i = 1; i <= 120; i++)
      await fixtures.users.create({
        username: `member${String(i).padStart(3, '0')}`,
        email: i % 2 === 0 ? `Even${i}@Example.ORG` : `odd${i}@example.com`,
      });
    const first = markupOf(await client.get('/admin/users/'));
    assert.match(
      first,
      /<p class="result-count">\s*121 users\s*<a href="\?all=">Show all<\/a>\s*<\/p>/,
    );
    // UserAdmin's ordering: by username.
    assert.equal(usernames(first).length, 100);
    assert.equal(usernames(first)[0], 'member001');
    assert.equal(pageLinks(first).links, ['?p=2']);
    const second = markupOf(await client.get('/admin/users/?p=2'));
    assert.equal(usernames(second), [
      ...Array.from({ length: 20 }, (_, i) => `member${101 + i}`),
      'root',
    ]);
    // By email, case-insensitively: 60 even addresses, one page.
    const even = markupOf(await client.get('/admin/users/?q=example.org'));
    assert.equal(usernames(even).length, 60);
    assert.match(even, /60 results\s*\(<a href="\?"\s*>121 total<\/a\s*>\)/);
    assert.equal(usernames(markupOf(await client.get('/admin/users/?q=EVEN12%40'))), ['member012']);
    // By username, and both fields for one search's terms.
    assert.equal(usernames(markupOf(await client.get('/admin/users/?q=MEMBER11'))), [
      'member110',
      'member111',
      'member112',
      'member113',
      'member114',
      'member115',
      'member116',
      'member117',
      'member118',
      'member119',
    ]);
    assert.equal(usernames(markupOf(await client.get('/admin/users/?q=member11+odd'))), [
      'member111',
      'member113',
      'member115',
      'member117',
      'member119',
    ]);
    assert.is((await client.get('/admin/users/?p=3')).headers.location, '/admin/users/?e=1');

    const staff = await signedIn('mod', false);
    for (const path of ['/admin/users/?q=member', '/admin/users/?p=2', '/admin/users/?p=9'])
      assert.is((await staff.get(path)).status, 403, path);
  });

  test("users: searched by UserAdmin's search_fields, username, first_name, last_name and email, each term in any of them", async () => {
    const client = await signedIn('root');
    await fixtures.users.create({ username: 'al', firstName: 'Ada', lastName: 'Lovelace' });
    await fixtures.users.create({ username: 'gh', firstName: 'Grace', lastName: 'Hopper' });
    await fixtures.users.create({ username: 'adam', email: 'adam@hopper.example' });
    const list = markupOf(await client.get('/admin/users/'));
    assert.match(
      list,
      /<label for="searchbar">Search users by username, first name, last name or email<\/label>/,
    );
    const search = async (q: string): Promise<string[]> =>
      usernames(markupOf(await client.get(`/admin/users/?q=${encodeURIComponent(q)}`)));
    assert.equal(await search('LOVELACE'), ['al'], 'by last name, ignoring case');
    assert.equal(await search('grace'), ['gh'], 'by first name');
    assert.equal(await search('ada'), ['adam', 'al'], 'a username and a first name');
    assert.equal(await search('hopper'), ['adam', 'gh'], 'an email and a last name');
    assert.equal(await search('ada lovelace'), ['al'], 'each term in a field of its own');
    assert.equal(await search('grace ada'), [], 'every term must be found');
  });

  test("the page and search a room was opened from are kept through its pages, and saving, adding or deleting leads back there (Django's preserved filters)", async () => {
    await manyRooms(250);
    const client = await signedIn('root');
    const [room] = await db.knex('chat_room').select('id').where('title', 'Room 150');
    const carried = '_changelist_filters=p%3D2%26q%3Droom';
    const list = markupOf(await client.get('/admin/rooms/?p=2&q=room'));
    assert.ok(list.includes(`<a href="/admin/rooms/${room.id}/?${carried}">Room 150</a>`), 'edit');
    assert.ok(list.includes(`href="/admin/rooms/${room.id}/delete/?${carried}"`), 'delete');
    assert.ok(list.includes(`href="/admin/rooms/new/?${carried}"`), 'add');

    const edit = markupOf(await client.get(`/admin/rooms/${room.id}/?${carried}`));
    assert.ok(edit.includes(`action="/admin/rooms/${room.id}/?${carried}"`), 'the form posts them');
    assert.ok(edit.includes('href="/admin/rooms/?p=2&amp;q=room">Cancel<'), 'Cancel returns');
    assert.ok(edit.includes(`href="/admin/rooms/${room.id}/delete/?${carried}"`));
    const saved = await client.post(`/admin/rooms/${room.id}/?${carried}`, { title: 'Room 150b' });
    assert.is(saved.status, 303);
    assert.is(saved.headers.location, '/admin/rooms/?p=2&q=room');
    assert.match(
      markupOf(await client.get('/admin/rooms/?p=2&q=room')),
      /was changed successfully/,
    );

    await client.get(`/admin/rooms/new/?${carried}`);
    const added = await client.post(`/admin/rooms/new/?${carried}`, { title: 'Room new' });
    assert.is(added.headers.location, '/admin/rooms/?p=2&q=room');

    const confirm = markupOf(await client.get(`/admin/rooms/${room.id}/delete/?${carried}`));
    assert.ok(confirm.includes(`action="/admin/rooms/${room.id}/delete/?${carried}"`));
    assert.ok(confirm.includes(`href="/admin/rooms/${room.id}/?${carried}">No, take me back<`));
    const deleted = await client.post(`/admin/rooms/${room.id}/delete/?${carried}`, {});
    assert.is(deleted.headers.location, '/admin/rooms/?p=2&q=room');

    // Only p and q travel, re-encoded: nothing else reaches a link or the Location header.
    const hostile = encodeURIComponent('q=x\r\nSet-Cookie: a=b&next=//evil.example&p=2');
    const [other] = await db.knex('chat_room').select('id').where('title', 'Room 151');
    await client.get(`/admin/rooms/${other.id}/?_changelist_filters=${hostile}`);
    const res = await client.post(`/admin/rooms/${other.id}/?_changelist_filters=${hostile}`, {
      title: 'Room 151',
    });
    assert.is(res.status, 303);
    assert.is(res.headers.location, '/admin/rooms/?p=2&q=x%0D%0ASet-Cookie%3A+a%3Db');
    assert.not.match(String(res.headers['set-cookie'] ?? ''), /(^|,)\s*a=/);
    // Without them, the way back is the list's first page, as before.
    await client.get(`/admin/rooms/${other.id}/`);
    const plain = await client.post(`/admin/rooms/${other.id}/`, { title: 'Room 151' });
    assert.is(plain.headers.location, '/admin/rooms/');
  });

  test('Django\'s submit row: "Save and add another" and "Save and continue editing" on the room and user forms lead where Django\'s lead, say so, and keep the list\'s filters', async () => {
    const client = await signedIn('root');
    const carried = '_changelist_filters=q%3Droom';
    /** POSTs `fields` from the form at `path` (with the list's filters); the redirect and its page's notice. */
    const save = async (
      path: string,
      fields: Record<string, string>,
    ): Promise<{ location: string; notice: string }> => {
      assert.is((await client.get(`${path}?${carried}`)).status, 200, path);
      const res = await client.post(`${path}?${carried}`, fields);
      assert.is(res.status, 303, `${path} ${JSON.stringify(fields)}`);
      const location = String(res.headers.location);
      const page = markupOf(await client.get(location));
      return { location, notice: /<p class="flash flash-success">([\s\S]*?)<\/p>/.exec(page)![1]! };
    };
    const buttons = (page: string): string[] =>
      Array.from(
        page.matchAll(/<button type="submit"[^>]*name="(_\w+)"[^>]*>([^<]*)</g),
        (m) => `${m[1]} ${m[2]}`,
      );
    const row = [
      '_save Save',
      '_addanother Save and add another',
      '_continue Save and continue editing',
    ];
    assert.equal(
      buttons(markupOf(await client.get('/admin/rooms/new/'))),
      row,
      'Save first: Enter saves',
    );

    const another = await save('/admin/rooms/new/', { title: 'Room A', _addanother: '' });
    const [a] = await db.knex('chat_room').select('id').where('title', 'Room A');
    assert.is(another.location, `/admin/rooms/new/?${carried}`);
    assert.is(
      another.notice,
      `The room “<a href="/admin/rooms/${a.id}/">Room A</a>” was added successfully. You may add another room below.`,
    );
    const more = await save('/admin/rooms/new/', { title: 'Room B', _continue: '' });
    const [b] = await db.knex('chat_room').select('id').where('title', 'Room B');
    assert.is(more.location, `/admin/rooms/${b.id}/?${carried}`);
    assert.match(
      more.notice,
      /Room B<\/a>” was added successfully\. You may edit it again below\.$/,
    );
    assert.equal(buttons(markupOf(await client.get(`/admin/rooms/${b.id}/`))), row);
    const edited = await save(`/admin/rooms/${b.id}/`, { title: 'Room B2', _continue: '' });
    assert.is(edited.location, `/admin/rooms/${b.id}/?${carried}`);
    assert.is(
      edited.notice,
      `The room “<a href="/admin/rooms/${b.id}/">Room B2</a>” was changed successfully. You may edit it again below.`,
    );
    // Both named: _continue is read first, as in Django.
    const both = await save(`/admin/rooms/${b.id}/`, {
      title: 'Room B3',
      _addanother: '',
      _continue: '',
    });
    assert.is(both.location, `/admin/rooms/${b.id}/?${carried}`);
    const next = await save(`/admin/rooms/${b.id}/`, { title: 'Room B4', _addanother: '' });
    assert.is(next.location, `/admin/rooms/new/?${carried}`);
    assert.match(
      next.notice,
      /Room B4<\/a>” was changed successfully\. You may add another room below\.$/,
    );
    const plain = await save(`/admin/rooms/${b.id}/`, { title: 'Room B5', _save: '' });
    assert.is(plain.location, '/admin/rooms/?q=room');
    assert.match(plain.notice, /Room B5<\/a>” was changed successfully\.$/);

    // Users: UserAdmin's Save on the add form continues to the new user's page.
    const user = {
      password1: 'a long passphrase 7',
      password2: 'a long passphrase 7',
      is_active: 'on',
    };
    assert.equal(buttons(markupOf(await client.get('/admin/users/new/'))), row);
    const added = await save('/admin/users/new/', { username: 'ann', ...user, _save: '' });
    const ann = (await fixtures.users.findByUsername('ann'))!;
    assert.is(added.location, `/admin/users/${ann.id}/?${carried}`);
    assert.match(added.notice, /ann<\/a>” was added successfully\. You may edit it again below\.$/);
    const otherUser = await save('/admin/users/new/', {
      username: 'ben',
      ...user,
      _addanother: '',
    });
    assert.is(otherUser.location, `/admin/users/new/?${carried}`);
    assert.match(
      otherUser.notice,
      /ben<\/a>” was added successfully\. You may add another user below\.$/,
    );
    const kept = await save(`/admin/users/${ann.id}/`, { is_active: 'on', _continue: '' });
    assert.is(kept.location, `/admin/users/${ann.id}/?${carried}`);
    assert.match(
      kept.notice,
      /ann<\/a>” was changed successfully\. You may edit it again below\.$/,
    );
    const listed = await save(`/admin/users/${ann.id}/`, { is_active: 'on' });
    assert.is(listed.location, '/admin/users/?q=room');
  });

  test('the users list keeps its search through the edit, password and delete pages', async () => {
    const client = await signedIn('root');
    const bob = await fixtures.users.create({ username: 'bob', email: 'bob@example.com' });
    const carried = '_changelist_filters=q%3Dbob';
    const list = markupOf(await client.get('/admin/users/?q=bob'));
    assert.ok(list.includes(`href="/admin/users/${bob.id}/?${carried}">bob<`));
    assert.ok(list.includes(`href="/admin/users/${bob.id}/password/?${carried}"`));
    const edit = markupOf(await client.get(`/admin/users/${bob.id}/?${carried}`));
    assert.ok(edit.includes('href="/admin/users/?q=bob">Cancel<'));
    assert.ok(edit.includes(`href="/admin/users/${bob.id}/password/?${carried}">this form<`));
    const saved = await client.post(`/admin/users/${bob.id}/?${carried}`, { is_active: 'on' });
    assert.is(saved.headers.location, '/admin/users/?q=bob');
    await client.get(`/admin/users/${bob.id}/password/?${carried}`);
    const password = await client.post(`/admin/users/${bob.id}/password/?${carried}`, {
      password1: 'a long passphrase 7',
      password2: 'a long passphrase 7',
    });
    assert.is(password.headers.location, `/admin/users/${bob.id}/?${carried}`);
    await client.get(`/admin/users/${bob.id}/delete/?${carried}`);
    const deleted = await client.post(`/admin/users/${bob.id}/delete/?${carried}`, {});
    assert.is(deleted.headers.location, '/admin/users/?q=bob');
  });

  test('the dashboard counts rooms and users and links to their lists instead of listing them', async () => {
    await manyRooms(250);
    const client = await signedIn('root');
    const dashboard = markupOf(await client.get('/admin/'));
    assert.match(dashboard, /250 rooms\.\s*<a href="\/admin\/rooms\/">Manage rooms<\/a>/);
    assert.match(dashboard, /1 user\.\s*<a href="\/admin\/users\/">Manage users<\/a>/);
    assert.equal(roomTitles(dashboard), []);
  });

  test.run();
}
