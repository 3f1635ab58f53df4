/**
 * MultiChat's admin (multichat.md, `/admin/`) over real HTTP: staff manage rooms,
 * superusers manage users, everyone else is turned away; every form POSTs with
 * CSRF, is validated on the server, and escapes what users typed. On SQLite and
 * PostgreSQL, embedded (Thyme + worker in this process).
 */
import { suite } from './helpers/suite.js';
import { randomInt } from 'node:crypto';
import * as assert from 'uvu/assert';
import { WebSocket } from 'ws';
import type { Database } from '../src/db/connection.js';
import { BrowserlessClient } from './helpers/browserless.js';
import { runPython } from './helpers/cli.js';
import { allDatabases } from './helpers/databases.js';
import { assertCostsAsMuch, cpuMsOfEach } from './helpers/cpu.js';
import {
  EmbeddedChat,
  Fixtures,
  useEmbeddedChat,
  useSignedInClients,
} from './helpers/deployment.js';
import { captureLogs, ERROR } from './helpers/log-capture.js';
import { httpRequest, type HttpResult } from './helpers/http-client.js';
import { markupOf, plain } from './helpers/markup.js';
import { sleep, waitFor, within } from './helpers/wait.js';

const PASSWORD = 'correct horse';

/** Every admin URL, with the methods it answers; `:room`/`:user` are filled in per test. */
const ROOM_PAGES = [
  '/admin/rooms/',
  '/admin/rooms/new/',
  '/admin/rooms/:room/',
  '/admin/rooms/:room/delete/',
];
const USER_PAGES = [
  '/admin/users/',
  '/admin/users/new/',
  '/admin/users/:user/',
  '/admin/users/:user/password/',
  '/admin/users/:user/delete/',
];

/** What Django's admin/base_site.html frames a page with, read from the page. */
function frame(markup: string): {
  title: string;
  h1: string;
  h2s: string[];
  crumbs: string | null;
  crumbLinks: string[];
} {
  const nav = /<nav class="breadcrumbs" aria-label="Breadcrumbs">([\s\S]*?)<\/nav>/.exec(markup);
  return {
    title: plain(/<title>([\s\S]*?)<\/title>/.exec(markup)?.[1] ?? ''),
    h1: plain(/<h1[^>]*>([\s\S]*?)<\/h1>/.exec(markup)?.[1] ?? ''),
    h2s: [...markup.matchAll(/<h2[^>]*>([\s\S]*?)<\/h2>/g)].map((m) => plain(m[1]!)),
    crumbs: nav ? plain(nav[1]!) : null,
    crumbLinks: nav ? [...nav[1]!.matchAll(/<a href="([^"]*)">/g)].map((m) => m[1]!) : [],
  };
}

function fill(path: string, ids: { room?: number; user?: number }): string {
  return path.replace(':room', String(ids.room ?? 0)).replace(':user', String(ids.user ?? 0));
}

for (const database of allDatabases()) {
  const test = suite(`admin [${database.name}]`);
  let db: Database;
  let fixtures: Fixtures;
  let port: number;

  useEmbeddedChat(test, database, (state) => ({ db, fixtures, port } = state));

  const { signedIn, chatOf } = useSignedInClients(test, () => ({ fixtures, port }), PASSWORD);

  /**
   * `res` answered a page whose room or user is not there as Django's admin does:
   * to the dashboard, which warns once, naming the id.
   */
  async function assertMissing(
    client: BrowserlessClient,
    res: HttpResult,
    kind: 'room' | 'user',
    id: string,
    what: string,
  ): Promise<void> {
    assert.is(res.status, 303, what);
    assert.is(res.headers.location, '/admin/', what);
    const dashboard = await client.get('/admin/');
    assert.match(
      markupOf(dashboard),
      `<p class="flash flash-warning">${kind} with ID “${id}” doesn’t exist. Perhaps it was deleted?</p>`,
      what,
    );
    assert.not.match(markupOf(await client.get('/admin/')), /doesn’t exist/, `${what}: once`);
  }

  /**
   * Makes every DELETE of sessions fail, as a lock wait past the statement
   * timeout or a lost connection would; resolves with the undoing of it.
   */
  async function refuseSessionDeletes(): Promise<() => Promise<void>> {
    if (database.name === 'sqlite') {
      await db.knex.raw(`create trigger refuse_session_delete before delete on gredis_session
        begin select raise(abort, 'session delete refused'); end`);
      return async () => void (await db.knex.raw('drop trigger refuse_session_delete'));
    }
    await db.knex.raw(`create function refuse_session_delete() returns trigger language plpgsql
      as $$ begin raise exception 'session delete refused'; end $$`);
    await db.knex.raw(`create trigger refuse_session_delete before delete on gredis_session
      for each statement execute function refuse_session_delete()`);
    return async () => void (await db.knex.raw('drop function refuse_session_delete() cascade'));
  }

  async function roomRows(): Promise<{ title: string; staff_only: unknown }[]> {
    return db.knex('chat_room').select('title', 'staff_only').orderBy('id');
  }

  test('anonymous visitors are sent to log in from every admin page', async () => {
    const room = await fixtures.room('Lobby');
    const user = await fixtures.user('someone');
    const client = new BrowserlessClient(port);
    for (const path of ['/admin/', ...ROOM_PAGES, ...USER_PAGES]) {
      const url = fill(path, { room: room.id, user: user.id });
      const res = await client.get(url);
      assert.is(res.status, 302, url);
      assert.is(res.headers.location, `/accounts/login/?next=${url}`);
    }
  });

  test("a `_to_field` but the primary key is Django's DisallowedModelAdminToField: 400 from every list, add, change and delete page, GET or POST, before or after the superuser check as in Django", async () => {
    const { client } = await signedIn('root', { staff: true, superuser: true });
    const room = await fixtures.room('Lobby');
    const user = await fixtures.user('someone');
    const forms = [...ROOM_PAGES, ...USER_PAGES].filter((path) => !path.endsWith('/password/'));
    for (const path of forms) {
      const url = fill(path, { room: room.id, user: user.id });
      for (const bad of ['username', 'title', 'pk', 'bogus', 'id ']) {
        const res = await client.get(`${url}?_to_field=${encodeURIComponent(bad)}`);
        assert.is(res.status, 400, `GET ${url} _to_field=${bad}`);
        assert.match(markupOf(res), /<h1>Bad request<\/h1>/);
      }
      assert.is((await client.get(`${url}?_to_field=id`)).status, 200, `${url}: id is allowed`);
      assert.is((await client.get(`${url}?_to_field=`)).status, 200, `${url}: empty is none`);
      if (url.endsWith('s/')) continue; // the lists take no POST
      // A form's own field is read first: it refuses over an allowed URL, and allows over a bad one.
      const refused = await client.post(`${url}?_to_field=id`, { _to_field: 'username' });
      assert.is(refused.status, 400, `POST ${url}`);
      await client.get(url);
      if (!url.endsWith('/new/')) continue;
      // An add form with nothing filled in: its errors, not a 400.
      const allowed = await client.post(`${url}?_to_field=bogus`, { _to_field: 'id' });
      assert.is(allowed.status, 200, `POST ${url} with _to_field=id`);
      assert.match(markupOf(allowed), /This field is required\.|Please correct the error/);
    }
    assert.equal(
      (await fixtures.rooms.list()).map((r) => r.title),
      ['Lobby'],
      'the refused POSTs changed nothing',
    );
    assert.ok(await fixtures.users.findById(user.id));
    // Django's missing object, too, comes after the check; the dashboard and the password page do not read it.
    assert.is((await client.get('/admin/rooms/999999/?_to_field=title')).status, 400);
    assert.is((await client.get('/admin/?_to_field=title')).status, 200);
    const password = `/admin/users/${user.id}/password/?_to_field=username`;
    assert.is((await client.get(password)).status, 200);

    // The change and delete pages check it before the permission; the list and
    // UserAdmin's add page after it (its add_view checks the permission first).
    const { client: mod } = await signedIn('mod', { staff: true });
    for (const path of [`/admin/users/${user.id}/`, `/admin/users/${user.id}/delete/`])
      assert.is((await mod.get(`${path}?_to_field=username`)).status, 400, path);
    for (const path of ['/admin/users/', '/admin/users/new/'])
      assert.is((await mod.get(`${path}?_to_field=username`)).status, 403, path);
    const anonymous = await new BrowserlessClient(port).get('/admin/rooms/?_to_field=title');
    assert.is(anonymous.status, 302, 'anonymous: to log in first');
  });

  test('a refused `_to_field` is logged as Django logs DisallowedModelAdminToField: at error, under django.security.DisallowedModelAdminToField, one line, no stack; an allowed one is not', async () => {
    const logs = captureLogs('info');
    const chat = await EmbeddedChat.start(db, { logger: logs.logger });
    try {
      await fixtures.user('root', { password: PASSWORD, staff: true, superuser: true });
      const client = new BrowserlessClient(chat.ports[0]!);
      assert.is((await client.login('root', PASSWORD)).status, 302);
      assert.is((await client.get('/admin/rooms/?_to_field=id')).status, 200);
      assert.is((await client.get('/admin/users/?_to_field=password')).status, 400);
      const security = logs.lines.filter((line) => 'security' in line);
      assert.equal(
        security.map(({ level, msg, security, status, path }) => ({
          level,
          msg,
          security,
          status,
          path,
        })),
        [
          {
            level: ERROR,
            msg: 'The field password cannot be referenced.',
            security: 'django.security.DisallowedModelAdminToField',
            status: 400,
            path: '/admin/users/',
          },
        ],
      );
      assert.not.ok('err' in security[0]!, 'no stack: a refused request, not a bug');
    } finally {
      await chat.stop();
    }
  });

  test("pages under /admin/ that do not exist: 404 to staff, to log in for everyone else, as Django 3.2's admin catch-all (nobody can tell which exist)", async () => {
    const { client: staff } = await signedIn('mod', { staff: true });
    const { client: visitor } = await signedIn('visitor');
    const anonymous = new BrowserlessClient(port);
    for (const path of [
      '/admin/nope/',
      '/admin/auth/user/',
      '/admin/rooms/1/changes/',
      '/admin/x?y=1',
    ]) {
      const missing = await staff.get(path);
      assert.is(missing.status, 404, `staff: ${path}`);
      assert.match(markupOf(missing), /Page not found/);
      for (const [who, client] of [
        ['anonymous', anonymous],
        ['non-staff', visitor],
      ] as const) {
        const res = await client.get(path);
        assert.is(res.status, 302, `${who}: ${path}`);
        assert.is(
          res.headers.location,
          `/accounts/login/?next=${path.replace('?', '%3F').replace('=', '%3D')}`,
          `${who}: ${path}`,
        );
      }
    }
    // Outside /admin/, and a path typed without its slash, nothing changes.
    assert.is((await anonymous.get('/nope/')).status, 404);
    assert.is((await anonymous.get('/admin/rooms')).headers.location, '/admin/rooms/');
  });

  test('a non-staff user cannot reach the admin, and the login page does not bounce them back', async () => {
    const room = await fixtures.room('Lobby');
    const { client, user } = await signedIn('visitor');
    for (const path of ['/admin/', ...ROOM_PAGES, ...USER_PAGES]) {
      const url = fill(path, { room: room.id, user: user.id });
      const res = await client.get(url);
      assert.is(res.status, 302, url);
      assert.match(String(res.headers.location), /^\/accounts\/login\/\?next=/);
    }
    const login = await client.get('/accounts/login/?next=%2Fadmin%2F');
    assert.is(login.status, 200, 'the form, not a redirect loop');
    assert.match(markupOf(login), /signed in as visitor, but are not authorized/);
    assert.not.match(markupOf(await client.get('/')), /href="\/admin\/"/, 'no Admin link for them');
    // Nor can they change anything by POSTing directly.
    await client.get('/');
    const res = await client.post('/admin/rooms/new/', { title: 'Sneaky' });
    assert.is(res.status, 302);
    assert.equal(
      (await roomRows()).map((r) => r.title),
      ['Lobby'],
    );
  });

  test("every page is titled, headed and breadcrumbed in Django 3.2's admin's words; the delete pages ask as its delete_confirmation.html asks", async () => {
    const { client } = await signedIn('root', { staff: true, superuser: true });
    const room = await fixtures.room('Lobby');
    const bob = await fixtures.user('bob');
    const site = 'Gredis site admin';
    const [r, u] = [`/admin/rooms/${room.id}/`, `/admin/users/${bob.id}/`];
    // path, <title>, h1, h2s, breadcrumbs (none on the index), their links.
    const pages: [string, string, string, string[], string | null, string[]][] = [
      [
        '/admin/',
        `Site administration | ${site}`,
        'Site administration',
        ['Rooms', 'Users', 'Recent actions'],
        null,
        [],
      ],
      [
        '/admin/rooms/',
        `Select room to change | ${site}`,
        'Select room to change',
        ['Filter'],
        'Home › Rooms',
        ['/admin/'],
      ],
      [
        '/admin/rooms/new/',
        `Add room | ${site}`,
        'Add room',
        [],
        'Home › Rooms › Add room',
        ['/admin/', '/admin/rooms/'],
      ],
      [
        r,
        `Lobby | Change room | ${site}`,
        'Change room',
        ['Lobby'],
        'Home › Rooms › Lobby',
        ['/admin/', '/admin/rooms/'],
      ],
      [
        `${r}delete/`,
        `Are you sure? | ${site}`,
        'Are you sure?',
        ['Summary', 'Objects'],
        'Home › Rooms › Lobby › Delete',
        ['/admin/', '/admin/rooms/', r],
      ],
      [
        `${r}history/`,
        `Change history: Lobby | ${site}`,
        'Change history: Lobby',
        [],
        'Home › Rooms › Lobby › History',
        ['/admin/', '/admin/rooms/', r],
      ],
      [
        '/admin/users/',
        `Select user to change | ${site}`,
        'Select user to change',
        ['Filter'],
        'Home › Users',
        ['/admin/'],
      ],
      [
        '/admin/users/new/',
        `Add user | ${site}`,
        'Add user',
        [],
        'Home › Users › Add user',
        ['/admin/', '/admin/users/'],
      ],
      [
        u,
        `bob | Change user | ${site}`,
        'Change user',
        ['bob'],
        'Home › Users › bob',
        ['/admin/', '/admin/users/'],
      ],
      [
        `${u}password/`,
        `Change password: bob | ${site}`,
        'Change password: bob',
        [],
        'Home › Users › bob › Change password',
        ['/admin/', '/admin/users/', u],
      ],
      [
        `${u}history/`,
        `Change history: bob | ${site}`,
        'Change history: bob',
        [],
        'Home › Users › bob › History',
        ['/admin/', '/admin/users/', u],
      ],
      [
        `${u}delete/`,
        `Are you sure? | ${site}`,
        'Are you sure?',
        ['Summary', 'Objects'],
        'Home › Users › bob › Delete',
        ['/admin/', '/admin/users/', u],
      ],
    ];
    for (const [path, title, h1, h2s, crumbs, crumbLinks] of pages) {
      const res = await client.get(path);
      assert.is(res.status, 200, path);
      assert.equal(frame(markupOf(res)), { title, h1, h2s, crumbs, crumbLinks }, path);
      // The page itself, last, is named as the current one, not linked.
      if (crumbs)
        assert.match(markupOf(res), /<span aria-current="page">[^<]*<\/span>\s*<\/li>\s*<\/ol>/);
    }
    for (const [kind, path, name, href] of [
      ['room', `${r}delete/`, 'Lobby', r],
      ['user', `${u}delete/`, 'bob', u],
    ] as const) {
      const page = markupOf(await client.get(path));
      const plural = kind === 'room' ? 'Rooms' : 'Users';
      const model = kind === 'room' ? 'Room' : 'User';
      assert.ok(
        plain(page).includes(
          `Are you sure you want to delete the ${kind} "${name}"? All of the following related items will be deleted: Summary ${plural}: 1 Objects ${model}: ${name}`,
        ),
        `${path}: Django's sentence, summary and objects`,
      );
      assert.ok(page.includes(`<li>${model}: <a href="${href}">${name}</a></li>`), path);
      assert.match(page, /<button type="submit" class="danger">Yes, I’m sure<\/button>/);
      assert.match(page, new RegExp(`<a class="button" href="${href}">No, take me back</a>`));
    }
    const password = markupOf(await client.get(`${u}password/`));
    assert.ok(password.includes('<p>Enter a new password for the user <strong>bob</strong>.</p>'));
    assert.match(password, /<button type="submit" class="primary">Change password<\/button>/);
    // truncatewords:"18" in the breadcrumbs: 18 words, Python's whitespace between
    // them made one space, then " …"; the title says the whole name.
    const words = Array.from({ length: 20 }, (_, i) => `w${i + 1}`);
    const long = await fixtures.room(words.join(' \u0085\t'));
    const page = frame(markupOf(await client.get(`/admin/rooms/${long.id}/`)));
    assert.is(page.crumbs, `Home › Rooms › ${words.slice(0, 18).join(' ')} …`);
    assert.is(page.title, `${plain(long.title)} | Change room | ${site}`);
    const short = await fixtures.room(
      '\u0085 Eighteen words exactly: ' + words.slice(0, 15).join(' '),
    );
    assert.is(
      frame(markupOf(await client.get(`/admin/rooms/${short.id}/delete/`))).crumbs,
      `Home › Rooms › Eighteen words exactly: ${words.slice(0, 15).join(' ')} › Delete`,
      'not cut, and no "…"',
    );
  });

  test('staff create a room: 303 to the list, which shows id, title and staff-only with a notice', async () => {
    const { client } = await signedIn('mod', { staff: true });
    const form = await client.get('/admin/rooms/new/');
    assert.match(markupOf(form), /<label for="id_title">Title<\/label>/);
    assert.match(markupOf(form), /<label for="id_staff_only">Staff only<\/label>/);
    const res = await client.post('/admin/rooms/new/', {
      title: '  Staff lounge ',
      staff_only: 'on',
    });
    assert.is(res.status, 303);
    assert.is(res.headers.location, '/admin/rooms/');
    const rows = await db.knex('chat_room').select('id', 'title', 'staff_only');
    assert.is(rows.length, 1);
    assert.is(rows[0].title, 'Staff lounge', 'trimmed');
    assert.ok(Boolean(rows[0].staff_only));
    const list = markupOf(await client.get('/admin/rooms/'));
    assert.ok(
      list.includes(
        `<p class="flash flash-success">The room “<a href="/admin/rooms/${rows[0].id}/">Staff lounge</a>” was added successfully.</p>`,
      ),
      "Django's notice, linking to the room",
    );
    assert.match(list, new RegExp(`<td class="num">${rows[0].id}</td>`));
    assert.match(list, />Staff lounge<\/a>/);
    assert.match(list, /flag-yes">Yes</);
    assert.not.match(
      markupOf(await client.get('/admin/rooms/')),
      /was added/,
      'the notice shows once',
    );
    // Unchecked box: not staff-only.
    await client.submit('/admin/rooms/new/', { title: 'Open' });
    assert.equal(
      (await roomRows()).map((r) => Boolean(r.staff_only)),
      [true, false],
    );
  });

  test("titles and emails are stripped as Django's forms strip them (str.strip), not as trim() does", async () => {
    const { client } = await signedIn('root', { staff: true, superuser: true });
    // Python strips U+001C–U+001F and U+0085, which trim() keeps; trim() strips U+FEFF,
    // which Python keeps (test/python-strip checks every such code point against Django).
    for (const title of ['\u001c\u0085 Lounge \u001f\u001d', '\ufeffBOM\ufeff'])
      assert.is((await client.submit('/admin/rooms/new/', { title })).status, 303);
    const blank = await client.submit('/admin/rooms/new/', { title: '\u0085\u001e\u2028' });
    assert.is(blank.status, 200, 'a title of Python whitespace is no title');
    assert.match(markupOf(blank), /id="id_title_error">A title is required\.</);
    const [lounge] = await db.knex('chat_room').select('id').where('title', 'Lounge');
    assert.ok(lounge, 'the Python whitespace went');
    assert.equal(
      (await roomRows()).map((r) => r.title),
      ['Lounge', '\ufeffBOM\ufeff'],
    );
    await client.submit(`/admin/rooms/${lounge.id}/`, { title: '\u001fHall\u0085' });
    assert.equal(
      (await roomRows()).map((r) => r.title),
      ['Hall', '\ufeffBOM\ufeff'],
    );
    const created = await client.submit('/admin/users/new/', {
      username: '\u001c ann\u0085', // Django's UsernameField strips too
      email: '\u0085\u001cann@example.com\u001f',
      password1: 'pa55 word',
      password2: 'pa55 word',
      is_active: 'on',
    });
    assert.is(created.status, 303, markupOf(created));
    const ann = (await fixtures.users.findByUsername('ann'))!;
    assert.is(ann.email, 'ann@example.com');
    // So does its login form: a padded username logs in, and trim() would keep U+0085.
    const login = await new BrowserlessClient(port).login('\u0085ann\u001f ', 'pa55 word');
    assert.is(login.status, 302);
    const edited = await client.submit(`/admin/users/${ann.id}/`, {
      email: '\u001eann@example.org\u0085',
      is_active: 'on',
    });
    assert.is(edited.status, 303, markupOf(edited));
    assert.is((await fixtures.users.findById(ann.id))!.email, 'ann@example.org');
    // Django keeps U+FEFF, and then the address is no valid email.
    const bom = await client.submit(`/admin/users/${ann.id}/`, {
      email: '\ufeffann@example.net',
      is_active: 'on',
    });
    assert.is(bom.status, 200);
    assert.match(markupOf(bom), /id="id_email_error">Enter a valid email address\./);
  });

  test("staff edit a room: title and staff-only change; unknown ids lead to the dashboard, which says so (Django's admin)", async () => {
    const { client } = await signedIn('mod', { staff: true });
    const room = await fixtures.room('Old name', true);
    const form = await client.get(`/admin/rooms/${room.id}/`);
    assert.match(markupOf(form), /value="Old name"/);
    assert.match(markupOf(form), /id="id_staff_only"[^>]*checked/);
    const res = await client.post(`/admin/rooms/${room.id}/`, { title: 'New name' });
    assert.is(res.status, 303);
    assert.equal(await fixtures.rooms.find(room.id), {
      id: room.id,
      title: 'New name',
      staffOnly: false,
    });
    assert.ok(
      markupOf(await client.get('/admin/rooms/')).includes(
        `<p class="flash flash-success">The room “<a href="/admin/rooms/${room.id}/">New name</a>” was changed successfully.</p>`,
      ),
    );
    // Made staff-only: the sockets in it close with 4002 (they join again, checked
    // afresh); a socket elsewhere stays.
    const { client: bob } = await signedIn('bob');
    const [inRoom, elsewhere] = [await chatOf(bob), await chatOf(bob)];
    const other = await fixtures.room('Other');
    for (const [socket, id] of [
      [inRoom, room.id],
      [elsewhere, other.id],
    ] as const) {
      socket.send(JSON.stringify({ command: 'join', room: id }));
      assert.equal(JSON.parse(String(await socket.next())).join, String(id));
    }
    assert.is(
      (await client.post(`/admin/rooms/${room.id}/`, { title: 'New name', staff_only: 'on' }))
        .status,
      303,
    );
    assert.is((await within(inRoom.closed, 3000, 'the socket in the room')).code, 4002);
    await sleep(200);
    assert.is(elsewhere.ws.readyState, WebSocket.OPEN);
    for (const [path, id] of [
      ['/admin/rooms/999999/', '999999'],
      ['/admin/rooms/abc/', 'abc'],
      ['/admin/rooms/0/delete/', '0'],
      ['/admin/rooms/-1/', '-1'],
    ] as const) {
      await assertMissing(client, await client.get(path), 'room', id, path);
    }
  });

  test('staff delete a room only by POST from the confirmation page', async () => {
    const { client } = await signedIn('mod', { staff: true });
    const room = await fixtures.room('Doomed');
    const confirm = await client.get(`/admin/rooms/${room.id}/delete/`);
    assert.is(confirm.status, 200);
    assert.ok(markupOf(confirm).includes('Are you sure you want to delete the room "Doomed"?'));
    assert.match(
      markupOf(confirm),
      new RegExp(`<form method="post" action="/admin/rooms/${room.id}/delete/"`),
    );
    assert.ok(await fixtures.rooms.find(room.id), 'the GET deleted nothing');
    // Someone in it hears it go: the answer to a leave, so the page closes its pane.
    const { client: bob } = await signedIn('bob');
    const inRoom = await chatOf(bob);
    inRoom.send(JSON.stringify({ command: 'join', room: room.id }));
    assert.equal(JSON.parse(String(await inRoom.next())).join, String(room.id));
    const res = await client.post(`/admin/rooms/${room.id}/delete/`, {});
    assert.is(res.status, 303);
    assert.is(await fixtures.rooms.find(room.id), undefined);
    assert.equal(JSON.parse(String(await inRoom.next())), { leave: String(room.id) });
    assert.match(
      markupOf(await client.get('/admin/rooms/')),
      '<p class="flash flash-success">The room “Doomed” was deleted successfully.</p>',
    );
    await client.get(`/admin/rooms/`);
    const twice = await client.post(`/admin/rooms/${room.id}/delete/`, {});
    await assertMissing(client, twice, 'room', String(room.id), 'deleted twice');
  });

  test('invalid room input: errors next to the field, status 200, nothing changes', async () => {
    const { client } = await signedIn('mod', { staff: true });
    const room = await fixtures.room('Keep me');
    for (const title of ['', '   ', 'x'.repeat(256), 'nul\0byte']) {
      for (const path of ['/admin/rooms/new/', `/admin/rooms/${room.id}/`]) {
        const res = await client.submit(path, { title, staff_only: 'on' });
        assert.is(res.status, 200, `${path} ${JSON.stringify(title.slice(0, 10))}`);
        const page = markupOf(res);
        assert.match(page, /role="alert">\s*Please correct the error below\./, 'one field');
        assert.match(page, /aria-invalid="true" aria-describedby="id_title_error"/);
        assert.match(page, /<span class="error" id="id_title_error">[^<]+<\/span>/);
        assert.match(page, /id="id_staff_only"[^>]*checked/, 'what was typed is kept');
      }
    }
    assert.equal(await fixtures.rooms.list(), [room], 'no room added, the room unchanged');
  });

  test("change pages in Django's words: the delete link says Delete; a user's password is Django's read-only field, its help linking to the password page", async () => {
    const { client, user } = await signedIn('root', { staff: true, superuser: true });
    const room = await fixtures.room('Lobby');
    const bob = await fixtures.user('bob');
    // Django's submit_line.html: "Delete", beside Save, to the delete page.
    const actions = (markup: string): string =>
      /<p class="form-actions">([\s\S]*?)<\/p>/.exec(markup)?.[1] ?? '';
    const roomPage = markupOf(await client.get(`/admin/rooms/${room.id}/`));
    assert.match(
      actions(roomPage),
      new RegExp(`<a class="danger-link" href="/admin/rooms/${room.id}/delete/">Delete</a>`),
    );
    const bobPage = markupOf(await client.get(`/admin/users/${bob.id}/`));
    assert.match(
      actions(bobPage),
      new RegExp(`<a class="danger-link" href="/admin/users/${bob.id}/delete/">Delete</a>`),
    );
    // Their own too, as in Django's admin (see the test of deleting oneself).
    assert.match(actions(markupOf(await client.get(`/admin/users/${user.id}/`))), /Delete/);
    // UserChangeForm's password field: its label, the hash's summary (see the test
    // of that), then its help text, "this form" the link.
    assert.match(
      plain(bobPage),
      /Password algorithm: .*? hash: \S+ Raw passwords are not stored, so there is no way to see this user’s password, but you can change the password using this form\./,
    );
    assert.match(bobPage, new RegExp(`<a href="/admin/users/${bob.id}/password/">this form</a>`));
    for (const page of [roomPage, bobPage]) {
      assert.not.match(page, /Delete this|Set password/, "the old words, not Django's");
    }
  });

  test("a user's Password shows Django 3.2's summary of the stored hash, salt and hash masked as its mask_hash masks them, or why there is none", async () => {
    const { client } = await signedIn('root', { staff: true, superuser: true });
    const bob = await fixtures.user('bob', { password: PASSWORD });
    const stored = async (): Promise<string> =>
      (await db.knex('auth_user').where('id', bob.id).first('password')).password as string;
    const made = await stored();
    const [, , madeSalt, madeHash] = made.split('$');
    const values = [
      made,
      'pbkdf2_sha256$260000$yadS00v8OoM3sMuOe1ncUy$Hxpre4BgslxJWi+5NOJRP37ciC77bsibTf1a8Dry6lM=',
      'pbkdf2_sha1$10000$abcdefgh$dGhpcyBpcyBub3QgYSByZWFsIGhhc2g=',
      // Shorter than six: shown whole, as Django shows it; a '$' in the hash is the hash's.
      'pbkdf2_sha256$260000$ab$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=',
      'pbkdf2_sha256$007$säl🔑tÿz$ha$sh',
      // Empty values and 0 are not shown ({% if entry.value %}).
      'pbkdf2_sha256$0$$',
      // Text, never markup.
      'pbkdf2_sha256$1$<b>&"x"$<img src=x onerror=alert(1)>',
      '',
      '!unusable0123456789',
      'argon2$argon2id$v=19$m=102400,t=2,p=8$c2FsdHNhbHQ$aGFzaGhhc2g',
      'md5$salt$0123456789abcdef0123456789abcdef',
      '5f4dcc3b5aa765d61d8327deb882cf99',
      'PBKDF2_SHA256$1$salt$hash',
      // Django's page fails on these (no iterations, too few '$'): invalid here.
      'pbkdf2_sha256$many$salt$hash',
      'pbkdf2_sha256$1$salt',
      'pbkdf2_sha256',
    ];
    const django = await runPython<([string, string | null][] | null)[]>(
      'django_password_summary.py',
      values,
    );
    const invalid = [['Invalid password format or unknown hashing algorithm.', null]];
    for (const [i, value] of values.entries()) {
      await db.knex('auth_user').where('id', bob.id).update({ password: value });
      const page = markupOf(await client.get(`/admin/users/${bob.id}/`));
      const widget = /<div class="hash-summary" id="id_password">([\s\S]*?)<\/div>/.exec(page)?.[1];
      assert.ok(widget !== undefined, value);
      const shown = Array.from(widget.matchAll(/<strong>([^<]*)<\/strong>([^<]*)/g), ([, l, v]) => {
        const rest = plain(v!);
        return [plain(l!), rest.startsWith(':') ? rest.slice(1).trim() : null];
      });
      assert.equal(shown, django[i] ?? invalid, JSON.stringify(value));
    }
    await db.knex('auth_user').where('id', bob.id).update({ password: made });
    const page = markupOf(await client.get(`/admin/users/${bob.id}/`));
    assert.ok(
      !page.includes(madeSalt!) && !page.includes(madeHash!),
      'neither salt nor hash whole',
    );
    assert.ok(!page.includes(madeHash!.slice(0, 12)), 'nor more of them than Django shows');
    // Labelled: the summary is the Password group's, its help describing it.
    assert.match(page, /role="group"\s+aria-labelledby="id_password_label"/);
    assert.match(page, /<span class="label" id="id_password_label">Password<\/span>/);
  });

  test("the error note says error or errors as Django's admin counts them: the fields with errors, a field's messages however many", async () => {
    const { client, user } = await signedIn('root', { staff: true, superuser: true });
    const bob = await fixtures.user('bob');
    const OK = 'a fine passphrase';
    const [one, many] = ['Please correct the error below.', 'Please correct the errors below.'];
    const cases: [string, Record<string, string>, string][] = [
      ['/admin/rooms/new/', { title: '' }, one],
      ['/admin/users/new/', { username: 'a', password1: 'one', password2: 'two' }, one],
      // One field, two messages.
      ['/admin/users/new/', { username: 'n', password1: '2026', password2: '2026' }, one],
      ['/admin/users/new/', { username: 'a', password1: '', password2: '' }, many],
      [
        '/admin/users/new/',
        { username: 'bad name', email: 'x', password1: OK, password2: OK },
        many,
      ],
      [`/admin/users/${user.id}/`, { is_active: 'on', is_staff: 'on' }, one],
      [`/admin/users/${user.id}/`, { email: 'x' }, many],
      [`/admin/users/${bob.id}/password/`, { password1: 'one', password2: 'two' }, one],
      [`/admin/users/${bob.id}/password/`, { password1: '', password2: '' }, many],
    ];
    for (const [path, fields, note] of cases) {
      const page = markupOf(await client.submit(path, fields));
      const what = `${path} ${JSON.stringify(fields)}`;
      assert.is(/role="alert">\s*([^<]*?)\s*</.exec(page)?.[1], note, what);
      if (fields.password1 === '2026')
        assert.match(page, /id="id_password2_error">[^<]*too short[^<]*entirely numeric/, what);
    }
    assert.equal(
      (await fixtures.users.list()).map((u) => u.username),
      ['root', 'bob'],
    );
  });

  test('HTML in a room title is escaped on the admin pages, in their notices, and on the index', async () => {
    const { client } = await signedIn('mod', { staff: true });
    const title = `<script>alert(1)</script><img src=x onerror="alert('x')">&amp;`;
    assert.is((await client.submit('/admin/rooms/new/', { title })).status, 303);
    const room = (await fixtures.rooms.list())[0]!;
    assert.is(room.title, title, 'stored verbatim');
    const escaped =
      '&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=&quot;alert(&#x27;x&#x27;)&quot;&gt;&amp;amp;';
    // Django's notices (format_html): the title is text, only its link is markup.
    const notice = async (done: string): Promise<void> => {
      const page = markupOf(await client.get('/admin/rooms/'));
      assert.not.match(page, /<script>alert|<img src=x/, `${done}: no injected markup`);
      const name =
        done === 'deleted' ? escaped : `<a href="/admin/rooms/${room.id}/">${escaped}</a>`;
      assert.ok(
        page.includes(`The room “${name}” was ${done} successfully.`),
        `${done}: the notice shows the title as text`,
      );
    };
    await notice('added');
    assert.is((await client.submit(`/admin/rooms/${room.id}/`, { title })).status, 303);
    await notice('changed');
    // (The dashboard shows no titles: it showed this one only in the notice.)
    for (const path of [
      '/admin/rooms/',
      `/admin/rooms/${room.id}/`,
      `/admin/rooms/${room.id}/delete/`,
      '/',
    ]) {
      const page = markupOf(await client.get(path));
      assert.ok(page.includes(escaped), `${path} shows the title as text`);
      assert.not.match(page, /<script>alert|<img src=x/, `${path} has no injected markup`);
    }
    assert.is((await client.post(`/admin/rooms/${room.id}/delete/`, {})).status, 303);
    await notice('deleted');
  });

  test('superusers create a user with a password and flags; the user can log in', async () => {
    const { client } = await signedIn('root', { staff: true, superuser: true });
    const form = markupOf(await client.get('/admin/users/new/'));
    for (const name of [
      'username',
      'email',
      'password1',
      'password2',
      'is_active',
      'is_staff',
      'is_superuser',
    ])
      assert.match(form, new RegExp(`<label for="id_${name}">`), `${name} is labelled`);
    const res = await client.post('/admin/users/new/', {
      username: 'newbie',
      email: 'newbie@EXAMPLE.com',
      password1: 'pa55 word',
      password2: 'pa55 word',
      is_active: 'on',
    });
    assert.is(res.status, 303);
    const created = await fixtures.users.findByUsername('newbie');
    assert.ok(created);
    // UserAdmin's Save continues to the new user's page, to set more than the add form has.
    assert.is(res.headers.location, `/admin/users/${created.id}/`);
    assert.equal(
      [created.isActive, created.isStaff, created.isSuperuser, created.email],
      [true, false, false, 'newbie@example.com'],
    );
    const page = markupOf(await client.get(`/admin/users/${created.id}/`));
    assert.ok(
      page.includes(
        `<p class="flash flash-success">The user “<a href="/admin/users/${created.id}/">newbie</a>” was added successfully. You may edit it again below.</p>`,
      ),
    );
    assert.match(
      markupOf(await client.get('/admin/users/')),
      new RegExp(`data-user-id="${created.id}"`),
    );
    // The new account works through the real login form, and is not staff.
    const newbie = new BrowserlessClient(port);
    assert.is((await newbie.login('newbie', 'pa55 word')).status, 302);
    assert.is((await newbie.get('/')).status, 200);
    assert.is((await newbie.get('/admin/')).status, 302);
  });

  test('a username or email of megabytes is refused for about what reading the form costs, and is not compared with the password', async () => {
    const { client } = await signedIn('root', { staff: true, superuser: true });
    assert.is((await client.get('/admin/users/new/')).status, 200);
    const size = 8 * 1024 * 1024;
    const password = 'a fine passphrase';
    // The same body size each time; only the padded forms' fields are all short.
    // Each giant field is weighed against a pad like it: one escape (the email's
    // "@", %40) in a value sends Node's form decoding down a slower path, which
    // costs about 100 ms more at this size, a cost of reading the form.
    const forms = {
      username: { username: 'x'.repeat(size) },
      email: { username: 'fine', email: `${'x'.repeat(size)}@example.com` },
      padded: { username: 'fine', email: 'bad', pad: 'x'.repeat(size) },
      paddedEscaped: { username: 'fine', email: 'bad', pad: `${'x'.repeat(size)}@example.com` },
    };
    const bodies = Object.fromEntries(
      Object.entries(forms).map(([name, fields]) => [
        name,
        client.formBody({ ...fields, password1: password, password2: password }),
      ]),
    ) as Record<keyof typeof forms, Buffer>;
    const refused = async (name: keyof typeof forms): Promise<void> => {
      const res = await client.postBody('/admin/users/new/', bodies[name]);
      const page = markupOf(res);
      assert.is(res.status, 200, name);
      assert.match(
        page,
        name === 'username'
          ? `id="id_username_error">Ensure this value has at most 150 characters (it has ${size}).<`
          : 'id="id_email_error">Enter a valid email address.<',
      );
      // Django compares the password only with the fields that passed.
      assert.not.match(page, /too similar/, name);
      assert.ok(res.body.length < 64 * 1024, `${name}: a page (${res.body.length} bytes)`);
    };
    const cpu = await cpuMsOfEach({
      username: () => refused('username'),
      email: () => refused('email'),
      padded: () => refused('padded'),
      paddedEscaped: () => refused('paddedEscaped'),
    });
    // Before, NFKC, arrays of 8 million characters and the similarity check made
    // either cost several times the padded form; now about as much.
    assertCostsAsMuch(cpu.username, cpu.padded, 'giant username');
    assertCostsAsMuch(cpu.email, cpu.paddedEscaped, 'giant email');
    // Django checks the password against the user its form built, which has only
    // the fields that passed: a refused username or email is not compared with it.
    const invalid = await client.submit('/admin/users/new/', {
      username: 'bad name!',
      email: 'bad name!',
      password1: 'bad name!!',
      password2: 'bad name!!',
    });
    assert.match(markupOf(invalid), /id="id_username_error">Enter a valid username/);
    assert.match(markupOf(invalid), /id="id_email_error">Enter a valid email address/);
    assert.not.match(markupOf(invalid), /too similar/);
    assert.equal(
      (await fixtures.users.list()).map((u) => u.username),
      ['root'],
    );
  });

  test("user form errors: passwords empty, different or refused by Django's validators, bad or taken usernames, bad emails → 200, nothing stored", async () => {
    const { client } = await signedIn('root', { staff: true, superuser: true });
    const OK = 'a fine passphrase';
    const cases: [Record<string, string>, string, RegExp][] = [
      [{ username: 'a', password1: '', password2: '' }, 'password1', /This field is required\./],
      [{ username: 'a', password1: 'x', password2: '' }, 'password2', /This field is required\./],
      [{ username: 'a', password1: 'one', password2: 'two' }, 'password2', /didn’t match/],
      [{ username: 'a', password1: 'short', password2: 'short' }, 'password2', /too short/],
      [
        { username: 'robert', password1: 'robert99', password2: 'robert99' },
        'password2',
        /^The password is too similar to the username\.$/,
      ],
      [
        { username: 'n', password1: '20262027', password2: '20262027' },
        'password2',
        /^This password is entirely numeric\.$/,
      ],
      [
        { username: 'bad name', password1: OK, password2: OK },
        'username',
        /Enter a valid username/,
      ],
      [
        { username: '<b>x</b>', password1: OK, password2: OK },
        'username',
        /Enter a valid username/,
      ],
      [{ username: '', password1: OK, password2: OK }, 'username', /cannot be blank/],
      [{ username: 'root', password1: OK, password2: OK }, 'username', /already exists/],
      [
        { username: 'fine', email: 'not an email <x>', password1: OK, password2: OK },
        'email',
        /^Enter a valid email address\.$/,
      ],
      [
        { username: 'fine', email: `${'e'.repeat(300)}@x.org`, password1: OK, password2: OK },
        'email',
        /^Enter a valid email address\.$/,
      ],
    ];
    for (const [fields, errorField, message] of cases) {
      const res = await client.submit('/admin/users/new/', { is_staff: 'on', ...fields });
      const page = markupOf(res);
      assert.is(res.status, 200, JSON.stringify(fields));
      assert.match(
        page,
        new RegExp(
          `aria-invalid="true" aria-describedby="(id_${errorField}_help )?id_${errorField}_error"`,
        ),
      );
      const error = new RegExp(`id="id_${errorField}_error">([^<]*)<`).exec(page)?.[1] ?? '';
      assert.match(error, message, `${errorField}: ${error}`);
      assert.not.match(
        page,
        /value="(one|two|x|short|robert99|20262027|a fine passphrase)"/,
        'passwords are never sent back',
      );
      assert.match(page, /id="id_is_staff"[^>]*checked/, 'flags are kept');
    }
    assert.equal(
      (await fixtures.users.list()).map((u) => u.username),
      ['root'],
    );
    // Editing a user checks the email the same way.
    const root = (await fixtures.users.findByUsername('root'))!;
    const edit = await client.submit(`/admin/users/${root.id}/`, {
      email: 'not an email <x>',
      is_active: 'on',
      is_staff: 'on',
      is_superuser: 'on',
    });
    assert.is(edit.status, 200);
    assert.match(markupOf(edit), /id="id_email_error">Enter a valid email address\./);
    assert.is((await fixtures.users.findById(root.id))!.email, root.email, 'unchanged');
  });

  test('superusers edit flags; deactivating a user ends their sessions and closes their sockets', async () => {
    const { client } = await signedIn('root', { staff: true, superuser: true });
    const { client: bob, user } = await signedIn('bob');
    const bobsChat = await chatOf(bob);
    const form = markupOf(await client.get(`/admin/users/${user.id}/`));
    assert.match(form, /id="id_is_active"[^>]*checked/);
    assert.not.match(form, /id="id_is_staff"[^>]*checked/);
    assert.is(
      (await client.post(`/admin/users/${user.id}/`, { is_active: 'on', is_staff: 'on' })).status,
      303,
    );
    let saved = (await fixtures.users.findById(user.id))!;
    assert.equal([saved.isActive, saved.isStaff, saved.isSuperuser], [true, true, false]);
    assert.is((await bob.get('/admin/')).status, 200, 'bob is staff now');
    assert.is(
      bobsChat.ws.readyState,
      WebSocket.OPEN,
      'an edit that keeps him active leaves it open',
    );
    // No longer staff: his sockets close with 4002, to join their rooms afresh.
    const demotedChat = await chatOf(bob);
    await client.get(`/admin/users/${user.id}/`);
    assert.is((await client.post(`/admin/users/${user.id}/`, { is_active: 'on' })).status, 303);
    assert.is((await within(demotedChat.closed, 3000, 'his socket to close')).code, 4002);
    assert.is((await bob.get('/')).status, 200, 'still logged in');
    await client.get(`/admin/users/${user.id}/`);
    await client.post(`/admin/users/${user.id}/`, { is_active: 'on', is_staff: 'on' });
    const bobsChatAgain = await chatOf(bob);
    await client.get(`/admin/users/${user.id}/`);
    assert.is((await client.post(`/admin/users/${user.id}/`, { is_superuser: 'on' })).status, 303);
    saved = (await fixtures.users.findById(user.id))!;
    assert.equal([saved.isActive, saved.isStaff, saved.isSuperuser], [false, false, true]);
    assert.is((await bob.get('/')).status, 302, "bob's session ended");
    assert.is((await within(bobsChatAgain.closed, 3000, 'his chat socket to close')).code, 4001);
    assert.is((await db.knex('gredis_session').where('user_id', user.id)).length, 0);
    assert.is(
      (await new BrowserlessClient(port).login('bob', PASSWORD)).status,
      200,
      'inactive: no login',
    );
  });

  test('superusers set a password: both boxes must match; the old password and sessions stop working', async () => {
    const { client } = await signedIn('root', { staff: true, superuser: true });
    const { client: bob, user } = await signedIn('bob');
    const path = `/admin/users/${user.id}/password/`;
    const mismatch = await client.submit(path, { password1: 'new one', password2: 'new 1' });
    assert.is(mismatch.status, 200);
    assert.match(
      markupOf(mismatch),
      /id="id_password2_error">The two password fields didn’t match\./,
    );
    const empty = await client.submit(path, { password1: '', password2: '' });
    assert.is(empty.status, 200);
    assert.is(
      (await new BrowserlessClient(port).login('bob', PASSWORD)).status,
      302,
      'unchanged so far',
    );
    const bobsChat = await chatOf(bob);
    const weak = await client.submit(path, { password1: 'Bob', password2: 'Bob' });
    assert.match(
      markupOf(weak),
      /id="id_password2_error">The password is too similar to the username\. This password is too short\./,
    );
    const res = await client.submit(path, {
      password1: 'new one 2026',
      password2: 'new one 2026',
    });
    assert.is(res.status, 303);
    assert.is(res.headers.location, `/admin/users/${user.id}/`);
    assert.is((await bob.get('/')).status, 302, "bob's old session ended");
    assert.is((await within(bobsChat.closed, 3000, 'his chat socket to close')).code, 4001);
    assert.is((await new BrowserlessClient(port).login('bob', PASSWORD)).status, 200);
    assert.is((await new BrowserlessClient(port).login('bob', 'new one 2026')).status, 302);
    // Changing one's own password keeps one signed in (a new session).
    const self = await client.submit(
      `/admin/users/${(await fixtures.users.findByUsername('root'))!.id}/password/`,
      {
        password1: 'root password 2',
        password2: 'root password 2',
      },
    );
    assert.is(self.status, 303);
    // Still signed in, and told it worked: the notice moved to the new session.
    const after = await client.get(String(self.headers.location));
    assert.is(after.status, 200, 'still signed in');
    assert.match(
      markupOf(after),
      '<p class="flash flash-success">Password changed successfully.</p>',
    );
  });

  test("setting a password is one transaction with the end of the user's sessions: when their DELETE fails, the old password and sessions stand", async () => {
    const { client } = await signedIn('root', { staff: true, superuser: true });
    const { client: bob, user } = await signedIn('bob');
    const allow = await refuseSessionDeletes();
    let res: HttpResult;
    try {
      res = await client.submit(`/admin/users/${user.id}/password/`, {
        password1: 'new one 2026',
        password2: 'new one 2026',
      });
    } finally {
      await allow();
    }
    assert.is(res.status, 500, 'the change failed');
    assert.is((await bob.get('/')).status, 200, "bob's session stands");
    assert.is((await new BrowserlessClient(port).login('bob', 'new one 2026')).status, 200);
    assert.is((await new BrowserlessClient(port).login('bob', PASSWORD)).status, 302);
  });

  test('deactivating a user is one transaction with the end of their sessions: when their DELETE fails, nothing changed, and trying again closes their chat socket', async () => {
    const { client } = await signedIn('root', { staff: true, superuser: true });
    const { client: bob, user } = await signedIn('bob');
    const bobsChat = await chatOf(bob);
    const path = `/admin/users/${user.id}/`;
    const allow = await refuseSessionDeletes();
    let res: HttpResult;
    try {
      res = await client.submit(path, { email: '' });
    } finally {
      await allow();
    }
    assert.is(res.status, 500, 'the change failed');
    assert.ok((await fixtures.users.findById(user.id))!.isActive, 'still active');
    assert.is((await bob.get('/')).status, 200, "bob's session stands");
    // Done again, it is done whole: were bob inactive already, his socket would stay open.
    assert.is((await client.submit(path, { email: '' })).status, 303);
    assert.is((await within(bobsChat.closed, 3000, 'his chat socket to close')).code, 4001);
    assert.is((await bob.get('/')).status, 302, "bob's session ended");
  });

  // Interleaved by a lock: PostgreSQL's row versions let the page read the user
  // while another transaction changes them, as in production.
  if (database.name === 'postgres')
    test('a save that leaves a user inactive ends their sessions, a reactivation and a login committed after the page read them included', async () => {
      const { client } = await signedIn('root', { staff: true, superuser: true });
      const { client: bob, user } = await signedIn('bob');
      const path = `/admin/users/${user.id}/`;
      await client.submit(path, { email: '' }); // deactivated: his session ends
      // The save's UPDATE (the only one setting "email" here) waits, once it read
      // bob inactive, for a lock the test holds. Advisory locks are the whole
      // server's: a random key keeps other tests' out.
      const key = randomInt(1, 2 ** 31 - 1);
      await db.knex.raw(`create function admin_save_waits() returns trigger language plpgsql
        as $$ begin
          if current_query() like '%"email"%' then perform pg_advisory_xact_lock(${key}); end if;
          return null;
        end $$`);
      await db.knex.raw(`create trigger admin_save_waits before update on auth_user
        for each statement execute function admin_save_waits()`);
      let release = (): void => undefined;
      const held = new Promise<void>((resolve) => (release = resolve));
      let locked = (): void => undefined;
      const lockTaken = new Promise<void>((resolve) => (locked = resolve));
      const holding = db.knex.transaction(async (trx) => {
        await trx.raw('select pg_advisory_xact_lock(?)', [key]);
        locked();
        await held;
      });
      try {
        await lockTaken;
        const saving = client.submit(path, { email: 'bob@example.com' }); // left inactive
        const waiting = async (): Promise<boolean> =>
          (
            await db.knex.raw(
              `select 1 from pg_locks where locktype = 'advisory' and objid = ? and not granted`,
              [key],
            )
          ).rows.length > 0;
        await waitFor(waiting, 5000, 'the save to read bob, then wait');
        // Meanwhile another admin reactivates bob, and he logs in.
        await fixtures.users.update(user.id, { isActive: true });
        assert.is((await bob.login('bob', PASSWORD)).status, 302, 'bob logs in');
        release();
        await holding;
        assert.is((await saving).status, 303);
      } finally {
        release();
        await holding;
        await db.knex.raw('drop function admin_save_waits() cascade');
      }
      assert.not.ok((await fixtures.users.findById(user.id))!.isActive, 'inactive');
      assert.is((await db.knex('gredis_session').where('user_id', user.id)).length, 0);
      // Reactivated again later, bob logs in afresh: that session did not come back.
      await fixtures.users.update(user.id, { isActive: true });
      assert.is((await bob.get('/')).status, 302, "bob's session ended");
    });

  test('superusers delete a user only by POST from the confirmation page', async () => {
    const { client } = await signedIn('root', { staff: true, superuser: true });
    const { client: bob, user } = await signedIn('bob');
    const bobsChat = await chatOf(bob);
    const confirm = await client.get(`/admin/users/${user.id}/delete/`);
    assert.is(confirm.status, 200);
    assert.ok(markupOf(confirm).includes('Are you sure you want to delete the user "bob"?'));
    assert.ok(await fixtures.users.findById(user.id));
    const res = await client.post(`/admin/users/${user.id}/delete/`, {});
    assert.is(res.status, 303);
    assert.is(await fixtures.users.findById(user.id), undefined);
    assert.is((await bob.get('/')).status, 302, 'their session went with them');
    assert.is((await within(bobsChat.closed, 3000, 'their chat socket to close')).code, 4001);
    assert.match(
      markupOf(await client.get('/admin/users/')),
      '<p class="flash flash-success">The user “bob” was deleted successfully.</p>',
    );
  });

  test("unknown ids, ids past the id column's range included: to the dashboard with a warning as in Django's admin; a password page is 404, as Django's", async () => {
    const { client } = await signedIn('root', { staff: true, superuser: true });
    // 2^31 and 2^53 - 1 are well-formed ids no integer column holds (PostgreSQL refuses to look).
    for (const id of [999999, 2 ** 31, Number.MAX_SAFE_INTEGER]) {
      for (const path of [...USER_PAGES.slice(2), ...ROOM_PAGES.slice(2)]) {
        const url = fill(path, { user: id, room: id });
        const fields = { password1: 'p', password2: 'p', title: 'x' };
        if (path === '/admin/users/:user/password/') {
          const page = await client.get(url);
          assert.is(page.status, 404, `GET ${url}`);
          assert.match(markupOf(page), /Page not found/);
          await client.get('/admin/');
          assert.is((await client.post(url, fields)).status, 404, `POST ${url}`);
          continue;
        }
        const kind = path.startsWith('/admin/users/') ? 'user' : 'room';
        await assertMissing(client, await client.get(url), kind, String(id), `GET ${url}`);
        await client.get('/admin/');
        await assertMissing(
          client,
          await client.post(url, fields),
          kind,
          String(id),
          `POST ${url}`,
        );
      }
    }
    assert.equal(await fixtures.rooms.list(), [], 'nothing made by the POSTs');
  });

  test('checkboxes are read as Django reads them: "false" and an empty value are unticked, the last of two counts', async () => {
    const { client } = await signedIn('root', { staff: true, superuser: true });
    const bob = await fixtures.user('bob');
    const flagsOf = async (id: number) => {
      const user = (await fixtures.users.findById(id))!;
      return [user.isActive, user.isStaff, user.isSuperuser];
    };
    const edit = `/admin/users/${bob.id}/`;
    const res = await client.submit(edit, {
      is_active: 'true',
      is_staff: 'false',
      is_superuser: 'FALSE',
    });
    assert.is(res.status, 303);
    assert.equal(await flagsOf(bob.id), [true, false, false], 'a script cannot grant by "false"');
    // Sent twice (a ticked box with a hidden "false" after it): Django takes the last.
    await client.get(edit);
    const token = client.formToken()!;
    const body = `csrfmiddlewaretoken=${token}&is_active=on&is_staff=on&is_staff=false&is_superuser=`;
    const last = await httpRequest(port, edit, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        origin: client.origin,
        ...client.cookieHeader(),
      },
      body,
    });
    assert.is(last.status, 303);
    assert.equal(await flagsOf(bob.id), [true, false, false], 'the last value counts');

    const created = await client.submit('/admin/users/new/', {
      username: 'carol',
      password1: 'a long passphrase 7',
      password2: 'a long passphrase 7',
      is_active: 'on',
      is_staff: 'false',
      is_superuser: 'false',
    });
    assert.is(created.status, 303);
    const carol = (await fixtures.users.findByUsername('carol'))!;
    assert.equal([carol.isStaff, carol.isSuperuser], [false, false]);

    assert.is(
      (await client.submit('/admin/rooms/new/', { title: 'Open', staff_only: 'false' })).status,
      303,
    );
    const [room] = await fixtures.rooms.list();
    assert.equal(room, { id: room!.id, title: 'Open', staffOnly: false });
    await client.submit(`/admin/rooms/${room!.id}/`, { title: 'Open', staff_only: '' });
    assert.is((await fixtures.rooms.find(room!.id))!.staffOnly, false);
    await client.submit(`/admin/rooms/${room!.id}/`, { title: 'Open', staff_only: 'true' });
    assert.is((await fixtures.rooms.find(room!.id))!.staffOnly, true, 'a ticked box still ticks');
  });

  test("a superuser deletes their own user as in Django's admin: the Delete link is on their page, the confirmation says they will be logged out, and they are, told on the login page they land on that it was deleted", async () => {
    const { client, user } = await signedIn('root', { staff: true, superuser: true });
    const session = client.cookies.get('sessionid')!;
    const ownChat = await chatOf(client);
    const own = markupOf(await client.get(`/admin/users/${user.id}/`));
    assert.match(own, `<a class="danger-link" href="/admin/users/${user.id}/delete/">Delete</a>`);
    const confirm = await client.get(`/admin/users/${user.id}/delete/`);
    assert.is(confirm.status, 200);
    assert.ok(markupOf(confirm).includes('Are you sure you want to delete the user "root"?'));
    assert.ok(markupOf(confirm).includes('This is your own account: you will be logged out.'));
    assert.ok(await fixtures.users.findById(user.id), 'the GET deleted nothing');
    const res = await client.post(`/admin/users/${user.id}/delete/`, {});
    assert.is(res.status, 303);
    assert.is(res.headers.location, '/admin/users/');
    assert.is(await fixtures.users.findById(user.id), undefined);
    const [, anonymous] = /sessionid=([^;]*);/.exec(String(res.headers['set-cookie'])) ?? [];
    assert.ok(anonymous, 'a new session, for the notice');
    assert.is.not(anonymous, session, 'under a new key');
    assert.is(await fixtures.sessions.load(session), undefined, 'the old session is gone');
    assert.is((await within(ownChat.closed, 3000, 'their chat socket to close')).code, 4001);
    const after = await client.get('/admin/users/');
    assert.is(after.status, 302, 'logged out');
    assert.is(after.headers.location, '/accounts/login/?next=/admin/users/');
    // Where they land, Django's admin login page says it (checked against Django 3.2).
    const login = String(after.headers.location);
    const landing = await client.get(login);
    assert.is(landing.status, 200);
    assert.match(
      markupOf(landing),
      '<p class="flash flash-success">The user “root” was deleted successfully.</p>',
    );
    const again = await client.get(login);
    assert.not.match(markupOf(again), 'flash', 'said once');
    assert.is((await client.get('/admin/')).status, 302, 'still logged out');
  });

  test('superusers cannot take away their own active, staff or superuser flags (docs/security.md: an unticked box is no confirmation)', async () => {
    const { client, user } = await signedIn('root', { staff: true, superuser: true });
    const res = await client.submit(`/admin/users/${user.id}/`, { is_active: 'on' });
    assert.is(res.status, 200);
    assert.match(
      markupOf(res),
      /id="id_is_staff_error">You cannot remove this from your own account\./,
    );
    const saved = (await fixtures.users.findById(user.id))!;
    assert.equal([saved.isActive, saved.isStaff, saved.isSuperuser], [true, true, true]);
  });

  test('a staff non-superuser manages rooms but gets 403 on every users page and no Users link', async () => {
    const { client, user } = await signedIn('mod', { staff: true });
    const other = await fixtures.user('other');
    const home = markupOf(await client.get('/admin/'));
    assert.not.match(home, /href="\/admin\/users\/"/);
    assert.match(home, /href="\/admin\/rooms\/"/);
    for (const path of [...USER_PAGES, '/admin/users/999999/', '/admin/users/abc/delete/']) {
      for (const id of [user.id, other.id]) {
        const url = fill(path, { user: id });
        const res = await client.get(url);
        assert.is(res.status, 403, `GET ${url}`);
        assert.match(markupOf(res), /Forbidden/);
        await client.get('/admin/');
        const post = await client.post(url, {
          username: 'x',
          password1: 'p',
          password2: 'p',
          is_staff: 'on',
          is_superuser: 'on',
        });
        // The forms, and the list's actions, refuse them.
        assert.is(post.status, 403, `POST ${url}`);
      }
    }
    assert.equal(
      (await fixtures.users.list()).map((u) => [u.username, u.isSuperuser]),
      [
        ['mod', false],
        ['other', false],
      ],
    );
    assert.is((await client.submit('/admin/rooms/new/', { title: 'Mine' })).status, 303);
  });

  test('CSRF: every admin POST without the token, with a wrong one or from another origin is 403', async () => {
    const { client } = await signedIn('root', { staff: true, superuser: true });
    const room = await fixtures.room('Safe');
    const victim = await fixtures.user('victim', { password: PASSWORD });
    const posts: [string, Record<string, string>][] = [
      ['/admin/rooms/new/', { title: 'Forged' }],
      [`/admin/rooms/${room.id}/`, { title: 'Forged', staff_only: 'on' }],
      [`/admin/rooms/${room.id}/delete/`, {}],
      [
        '/admin/users/new/',
        { username: 'forged', password1: 'p', password2: 'p', is_superuser: 'on' },
      ],
      [`/admin/users/${victim.id}/`, { is_active: 'on', is_staff: 'on', is_superuser: 'on' }],
      [`/admin/users/${victim.id}/password/`, { password1: 'p', password2: 'p' }],
      [`/admin/users/${victim.id}/delete/`, {}],
    ];
    for (const [path, fields] of posts) {
      await client.get(path);
      const missing = await client.post(path, fields, { csrf: false });
      assert.is(missing.status, 403, `no token: ${path}`);
      assert.match(markupOf(missing), /CSRF token missing/);
      const wrong = await client.post(path, { ...fields, csrfmiddlewaretoken: 'A'.repeat(64) });
      assert.is(wrong.status, 403, `wrong token: ${path}`);
      await client.get(path);
      const foreign = await client.post(path, fields, {
        headers: { origin: 'http://evil.example' },
      });
      assert.is(foreign.status, 403, `foreign origin: ${path}`);
    }
    assert.equal(await fixtures.rooms.list(), [room]);
    assert.equal(
      (await fixtures.users.list()).map((u) => u.username),
      ['root', 'victim'],
    );
    const after = (await fixtures.users.findById(victim.id))!;
    assert.is(after.isSuperuser, false);
    assert.is(
      (await new BrowserlessClient(port).login('victim', PASSWORD)).status,
      302,
      'password unchanged',
    );
  });

  test.run();
}
