/**
 * The admin's log, as Django 3.2's LogEntry keeps it, over real HTTP on SQLite and
 * PostgreSQL: every add, change and delete made through the admin is recorded in
 * its own transaction, with Django's change messages; an object's History page
 * and the dashboard's "Recent actions" show them in Django's words, checked
 * against Django itself (test/python/django_admin_log.py).
 */
import { suite } from './helpers/suite.js';
import * as assert from 'uvu/assert';
import type { Database } from '../src/db/connection.js';
import { fromDbInteger, fromDbTimestamp } from '../src/db/values.js';
import { BrowserlessClient } from './helpers/browserless.js';
import { runPython } from './helpers/cli.js';
import { allDatabases } from './helpers/databases.js';
import { Fixtures, useEmbeddedChat, useSignedInClients } from './helpers/deployment.js';
import type { HttpResult } from './helpers/http-client.js';
import { markupOf, plain } from './helpers/markup.js';

const PASSWORD = 'correct horse';
const NEW_PASSWORD = 'a new one 2026';

/** A log row as stored. */
interface StoredEntry {
  user_id: number;
  model: string;
  object_id: string;
  object_repr: string;
  action_flag: number;
  change_message: string;
  action_time: Date;
}

/** What Django answers for the same entries and changes (django_admin_log.py). */
interface DjangoAnswers {
  stored: string[];
  times: string[];
  /** Messages as stored (json.dumps). */
  rooms: string[];
  users: string[];
  /** The email each of `users` saves (null: the form refused it). */
  emails: (string | null)[];
  added: string;
  password: string;
}

type FormValues = Record<string, string | boolean>;

function askDjango(request: {
  stored?: string[];
  times?: number[];
  rooms?: [FormValues, FormValues][];
  users?: [FormValues, FormValues][];
}): Promise<DjangoAnswers> {
  return runPython<DjangoAnswers>('django_admin_log.py', {
    stored: [],
    times: [],
    rooms: [],
    users: [],
    ...request,
  });
}

/** The History page's rows: [date/time, user, action], as read. */
function historyRows(page: string): string[][] {
  const table = /<table [^>]*id="change-history">([\s\S]*?)<\/table>/.exec(page)?.[1] ?? '';
  return Array.from(table.matchAll(/<tr>\s*<th scope="row">([\s\S]*?)<\/tr>/g), ([row]) =>
    Array.from(row.matchAll(/<t[hd][^>]*>([\s\S]*?)<\/t[hd]>/g), (cell) => plain(cell[1]!)),
  );
}

/** The "Recent actions" entries: their class, link (if any), what they say, and their model. */
function recentActions(page: string): [string, string | null, string, string][] {
  const box = /<section[^>]*id="recent-actions-module"[\s\S]*?<\/section>/.exec(page)?.[0] ?? '';
  return Array.from(box.matchAll(/<li class="([^"]*)">([\s\S]*?)<\/li>/g), ([, cls, item]) => {
    const href = /<a href="([^"]*)">/.exec(item!)?.[1] ?? null;
    const model = /<span class="mini quiet">([^<]*)<\/span>/.exec(item!)?.[1] ?? '';
    const said = plain(item!.replace(/<span class="mini quiet">[^<]*<\/span>/, ''));
    return [cls!, href, said, model];
  });
}

for (const database of allDatabases()) {
  const test = suite(`admin history [${database.name}]`);
  let db: Database;
  let fixtures: Fixtures;
  let port: number;

  useEmbeddedChat(test, database, (state) => ({ db, fixtures, port } = state));

  const { signedIn } = useSignedInClients(test, () => ({ fixtures, port }), PASSWORD);

  async function entries(): Promise<StoredEntry[]> {
    const rows = (await db
      .knex('gredis_admin_log')
      .select(
        'user_id',
        'model',
        'object_id',
        'object_repr',
        'action_flag',
        'change_message',
        'action_time',
      )
      .orderBy('id')) as Record<string, unknown>[];
    return rows.map((row) => ({
      ...(row as unknown as StoredEntry),
      user_id: fromDbInteger(row.user_id),
      action_flag: fromDbInteger(row.action_flag),
      action_time: fromDbTimestamp(row.action_time),
    }));
  }

  /** A trigger that fails every statement of `event` on `table`; the function returned drops it. */
  async function refuse(table: string, event: 'insert' | 'delete'): Promise<() => Promise<void>> {
    const name = `refuse_${table}_${event}`;
    if (database.name === 'sqlite') {
      await db.knex.raw(`create trigger ${name} before ${event} on ${table}
        begin select raise(abort, '${event} refused'); end`);
      return async () => void (await db.knex.raw(`drop trigger ${name}`));
    }
    await db.knex.raw(`create function ${name}() returns trigger language plpgsql
      as $$ begin raise exception '${event} refused'; end $$`);
    await db.knex.raw(`create trigger ${name} before ${event} on ${table}
      for each statement execute function ${name}()`);
    return async () => void (await db.knex.raw(`drop function ${name}() cascade`));
  }

  /** Asserts `res` led to the dashboard, which warns that the object is gone (missingObject). */
  async function assertMissing(
    client: BrowserlessClient,
    res: HttpResult,
    kind: 'room' | 'user',
    id: string,
  ): Promise<void> {
    assert.is(res.status, 303, `${kind} ${id}`);
    assert.is(res.headers.location, '/admin/');
    assert.match(
      markupOf(await client.get('/admin/')),
      `${kind} with ID “${id}” doesn’t exist. Perhaps it was deleted?`,
    );
  }

  test("a room's add and changes are logged with Django's change messages, and its History page lists them as Django's object_history.html, in Django's words and dates", async () => {
    const { client, user: root } = await signedIn('root', { staff: true, superuser: true });
    await db.knex('auth_user').where('id', root.id).update({ first_name: 'Ada', last_name: 'R' });
    assert.is((await client.submit('/admin/rooms/new/', { title: 'Lobby' })).status, 303);
    const [room] = await fixtures.rooms.list();
    const path = `/admin/rooms/${room!.id}/`;
    const saves: [FormValues, FormValues][] = [
      [
        { title: 'Lobby', staff_only: false },
        { title: 'Hall', staff_only: true },
      ],
      // Stripped as Django's form strips it: the same title, nothing changed.
      [
        { title: 'Hall', staff_only: true },
        { title: ' Hall ', staff_only: true },
      ],
      [
        { title: 'Hall', staff_only: true },
        { title: 'Hall', staff_only: false },
      ],
    ];
    for (const [, data] of saves) {
      const fields: Record<string, string> = { title: String(data.title) };
      if (data.staff_only) fields.staff_only = 'on';
      assert.is((await client.submit(path, fields)).status, 303);
    }

    const stored = await entries();
    const django = await askDjango({
      stored: stored.map((entry) => entry.change_message),
      times: stored.map((entry) => entry.action_time.getTime()),
      rooms: saves,
    });
    assert.equal(
      stored.map((entry) => [
        entry.user_id,
        entry.model,
        entry.object_id,
        entry.object_repr,
        entry.action_flag,
      ]),
      [
        [root.id, 'chat.room', String(room!.id), 'Lobby', 1],
        [root.id, 'chat.room', String(room!.id), 'Hall', 2],
        [root.id, 'chat.room', String(room!.id), 'Hall', 2],
        [root.id, 'chat.room', String(room!.id), 'Hall', 2],
      ],
    );
    // Stored as Django's construct_change_message stores the same saves of the same form.
    assert.equal(
      stored.map((entry) => entry.change_message),
      [django.added, ...django.rooms],
    );

    // The change page links to the history, as Django's object-tools do.
    assert.match(
      markupOf(await client.get(path)),
      `<a href="${path}history/" class="button historylink">History</a>`,
    );
    const page = markupOf(await client.get(`${path}history/`));
    const rows = historyRows(page);
    assert.equal(
      rows.map(([, , action]) => action),
      ['Added.', 'Changed Title and Staff only.', 'No fields changed.', 'Changed Staff only.'],
    );
    assert.equal(
      rows,
      stored.map((_, i) => [django.times[i]!, 'root (Ada R)', django.stored[i]!]),
    );
    assert.match(page, `<time datetime="${stored[0]!.action_time.toISOString()}"`);
  });

  test("a user's add, changes, password and delete are logged as UserAdmin logs them: its field labels, \"Changed password.\"; a deleted object's History is Django's redirect, its entries kept", async () => {
    const { client, user: root } = await signedIn('root', { staff: true, superuser: true });
    const created = await client.submit('/admin/users/new/', {
      username: 'bob',
      password1: PASSWORD,
      password2: PASSWORD,
      is_active: 'on',
    });
    assert.is(created.status, 303);
    const bob = (await fixtures.users.findByUsername('bob'))!;
    const path = `/admin/users/${bob.id}/`;
    const change: [FormValues, FormValues] = [
      { email: '', is_active: true, is_staff: false, is_superuser: false },
      { email: 'bob@example.com', is_active: false, is_staff: true, is_superuser: false },
    ];
    assert.is(
      (await client.submit(path, { email: 'bob@example.com', is_staff: 'on' })).status,
      303,
    );
    const password = { password1: NEW_PASSWORD, password2: NEW_PASSWORD };
    assert.is((await client.submit(`${path}password/`, password)).status, 303);
    assert.match(
      markupOf(await client.get(path)),
      `href="${path}history/" class="button historylink"`,
    );
    const django = await askDjango({ users: [change] });
    const stored = await entries();
    assert.equal(
      stored.map((entry) => entry.change_message),
      [django.added, django.users[0], django.password],
    );
    assert.equal(
      historyRows(markupOf(await client.get(`${path}history/`))).map(([, who, action]) => [
        who,
        action,
      ]),
      [
        ['root', 'Added.'],
        ['root', 'Changed Email address, Active and Staff status.'],
        ['root', 'Changed password.'],
      ],
    );

    assert.is((await client.submit(`${path}delete/`, {})).status, 303);
    const deletion = (await entries()).at(-1)!;
    assert.equal(
      [deletion.user_id, deletion.model, deletion.object_id, deletion.object_repr],
      [root.id, 'auth.user', String(bob.id), 'bob'],
    );
    assert.equal([deletion.action_flag, deletion.change_message], [3, '']);
    // Django's history_view finds no object: the dashboard, which says so, not its entries.
    await assertMissing(client, await client.get(`${path}history/`), 'user', String(bob.id));
    assert.is((await entries()).length, 4, 'its entries stay');
  });

  test("an email whose domain only changes case is saved as Django's UserChangeForm saves it, its domain lowercased, and logged as it logs it: changed when the box's text changed, whatever is stored", async () => {
    const { client } = await signedIn('root', { staff: true, superuser: true });
    await fixtures.user('bob');
    await fixtures.user('cy');
    // As a Django project sharing the database may have stored it: not normalised.
    await db.knex('auth_user').where('username', 'cy').update({ email: 'Cy@Example.COM' });
    await db.knex('auth_user').where('username', 'bob').update({ email: 'bob@example.com' });
    const flags = { is_active: true, is_staff: false, is_superuser: false };
    const changes: [string, string, string][] = [
      ['bob', 'bob@example.com', 'bob@EXAMPLE.COM'],
      ['cy', 'Cy@Example.COM', 'Cy@Example.COM'],
    ];
    for (const [username, , typed] of changes) {
      const user = (await fixtures.users.findByUsername(username))!;
      const saved = await client.submit(`/admin/users/${user.id}/`, {
        email: typed,
        is_active: 'on',
      });
      assert.is(saved.status, 303, `${username} saved`);
    }
    const django = await askDjango({
      users: changes.map(([, before, typed]) => [
        { email: before, ...flags },
        { email: typed, ...flags },
      ]),
    });
    for (const [i, [username]] of changes.entries()) {
      const user = (await fixtures.users.findByUsername(username))!;
      assert.is(user.email, django.emails[i], `${username}'s email as Django saves it`);
      const logged = (await entries()).filter((entry) => entry.object_id === String(user.id));
      assert.equal(
        logged.map((entry) => entry.change_message),
        [django.users[i]],
        `${username}'s change message`,
      );
    }
    const cy = (await fixtures.users.findByUsername('cy'))!;
    assert.equal(
      historyRows(markupOf(await client.get(`/admin/users/${cy.id}/history/`))).map(
        ([, , action]) => action,
      ),
      ['No fields changed.'],
    );
  });

  test("the dashboard's Recent actions are its user's own last 10, newest first, marked by action, linked but for deletions, with their model", async () => {
    const { client: root } = await signedIn('root', { staff: true, superuser: true });
    const { client: mod } = await signedIn('mod', { staff: true });
    assert.match(
      plain(markupOf(await root.get('/admin/'))),
      'Recent actions My actions None available',
    );
    assert.is((await mod.submit('/admin/rooms/new/', { title: 'Theirs' })).status, 303);
    for (let i = 1; i <= 10; i++)
      assert.is((await root.submit('/admin/rooms/new/', { title: `Room ${i}` })).status, 303);
    const rooms = await fixtures.rooms.list();
    const id = (title: string) => rooms.find((room) => room.title === title)!.id;
    const bob = await fixtures.user('bob');
    assert.is((await root.submit(`/admin/users/${bob.id}/`, { is_active: 'on' })).status, 303);
    assert.is((await root.submit(`/admin/rooms/${id('Theirs')}/delete/`, {})).status, 303);

    const mine = recentActions(markupOf(await root.get('/admin/')));
    assert.equal(mine.slice(0, 3), [
      ['deletelink', null, 'Deleted: Theirs', 'Room'],
      ['changelink', `/admin/users/${bob.id}/`, 'Changed: bob', 'User'],
      ['addlink', `/admin/rooms/${id('Room 10')}/`, 'Added: Room 10', 'Room'],
    ]);
    assert.equal(
      mine.map(([, , said]) => said),
      [
        'Deleted: Theirs',
        'Changed: bob',
        ...[10, 9, 8, 7, 6, 5, 4, 3].map((n) => `Added: Room ${n}`),
      ],
    );
    // Theirs is gone, and still linked from its addition, as in Django (its page says so).
    assert.equal(recentActions(markupOf(await mod.get('/admin/'))), [
      ['addlink', `/admin/rooms/${id('Theirs')}/`, 'Added: Theirs', 'Room'],
    ]);
  });

  test("who may see a history: staff a room's, superusers a user's (403 to other staff, as the change page), nobody signed out; a missing object leads to the dashboard; no `_to_field` is read", async () => {
    const { client: mod } = await signedIn('mod', { staff: true });
    const { client: root } = await signedIn('root', { staff: true, superuser: true });
    const { client: visitor } = await signedIn('visitor');
    const room = await fixtures.room('Lobby');
    const bob = await fixtures.user('bob');
    const [roomHistory, userHistory] = [
      `/admin/rooms/${room.id}/history/`,
      `/admin/users/${bob.id}/history/`,
    ];
    for (const path of [roomHistory, userHistory]) {
      for (const client of [new BrowserlessClient(port), visitor]) {
        const res = await client.get(path);
        assert.is(res.status, 302, path);
        assert.is(res.headers.location, `/accounts/login/?next=${path}`);
      }
      assert.is((await root.get(path)).status, 200, path);
      // Django's history_view reads no `_to_field`, so refuses none.
      assert.is((await root.get(`${path}?_to_field=username`)).status, 200, path);
    }
    assert.is((await mod.get(roomHistory)).status, 200);
    for (const path of [userHistory, '/admin/users/999999/history/']) {
      const res = await mod.get(path);
      assert.is(res.status, 403, path);
      assert.match(markupOf(res), /Forbidden/);
    }
    // Made outside the admin (as by the CLI): nothing logged, Django's sentence.
    assert.match(
      plain(markupOf(await mod.get(roomHistory))),
      'This object doesn’t have a change history. It probably wasn’t added via this admin site.',
    );
    await assertMissing(root, await root.get('/admin/rooms/999999/history/'), 'room', '999999');
    await assertMissing(root, await root.get('/admin/users/abc/history/'), 'user', 'abc');
    assert.is((await root.post(roomHistory, {})).status, 405);
    assert.equal(await entries(), []);
  });

  test('an entry is written in the transaction of its change: a change that fails leaves no entry, an entry that cannot be written leaves no change', async () => {
    const { client } = await signedIn('root', { staff: true, superuser: true });
    const room = await fixtures.room('Lobby');
    const bob = await fixtures.user('bob', { password: PASSWORD });
    // A session of bob's for the DELETE to find (SQLite's trigger fires for each row).
    await fixtures.login(bob);
    // The end of bob's sessions, after the entry, fails: neither the change nor its entry stands.
    const allowSessionDeletes = await refuse('gredis_session', 'delete');
    try {
      assert.is(
        (await client.submit(`/admin/users/${bob.id}/`, { email: 'x@example.com' })).status,
        500,
      );
      const password = { password1: NEW_PASSWORD, password2: NEW_PASSWORD };
      assert.is((await client.submit(`/admin/users/${bob.id}/password/`, password)).status, 500);
    } finally {
      await allowSessionDeletes();
    }
    assert.equal(await entries(), []);
    assert.is((await fixtures.users.findById(bob.id))!.email, '');

    const allowEntries = await refuse('gredis_admin_log', 'insert');
    try {
      for (const [path, fields] of [
        ['/admin/rooms/new/', { title: 'New' }],
        [`/admin/rooms/${room.id}/`, { title: 'Renamed', staff_only: 'on' }],
        [`/admin/rooms/${room.id}/delete/`, {}],
        ['/admin/users/new/', { username: 'carol', password1: PASSWORD, password2: PASSWORD }],
        [`/admin/users/${bob.id}/`, { email: 'bob@example.com', is_active: 'on' }],
        [`/admin/users/${bob.id}/password/`, { password1: NEW_PASSWORD, password2: NEW_PASSWORD }],
        [`/admin/users/${bob.id}/delete/`, {}],
      ] as const) {
        const res = await client.submit(path, fields);
        assert.is(res.status, 500, path);
      }
    } finally {
      await allowEntries();
    }
    assert.equal(
      (await fixtures.rooms.list()).map((r) => [r.title, r.staffOnly]),
      [['Lobby', false]],
    );
    assert.equal(
      (await fixtures.users.list()).map((u) => [u.username, u.email]),
      [
        ['root', ''],
        ['bob', ''],
      ],
    );
    assert.is((await new BrowserlessClient(port).login('bob', PASSWORD)).status, 302);
    assert.equal(await entries(), []);
  });

  test("a deleted user's entries go with them (Django's ON DELETE CASCADE), those of the objects they changed stay; one who deletes themselves takes their own entries along", async () => {
    const { client: root } = await signedIn('root', { staff: true, superuser: true });
    const { client: admin, user: adminUser } = await signedIn('admin', {
      staff: true,
      superuser: true,
    });
    assert.is((await admin.submit('/admin/rooms/new/', { title: 'By admin' })).status, 303);
    const [room] = await fixtures.rooms.list();
    assert.is(
      (await root.submit(`/admin/rooms/${room!.id}/`, { title: 'By admin, then root' })).status,
      303,
    );
    assert.is((await root.submit(`/admin/users/${adminUser.id}/delete/`, {})).status, 303);
    assert.equal(
      (await entries()).map((entry) => [entry.object_repr, entry.action_flag]),
      [
        ['By admin, then root', 2],
        ['admin', 3],
      ],
    );
    assert.equal(
      historyRows(markupOf(await root.get(`/admin/rooms/${room!.id}/history/`))).map(
        ([, who, action]) => [who, action],
      ),
      [['root', 'Changed Title.']],
    );
    // The deletion entry is written first (as Django's log_deletion): were it
    // written after, it would name a user no longer there.
    const rootUser = (await fixtures.users.findByUsername('root'))!;
    const res = await root.submit(`/admin/users/${rootUser.id}/delete/`, {});
    assert.is(res.status, 303);
    assert.equal(await entries(), []);
  });

  test('what users typed is text on the History page and in Recent actions, never markup', async () => {
    const { client, user } = await signedIn('root', { staff: true, superuser: true });
    await db.knex('auth_user').where('id', user.id).update({ first_name: '<i>Ada</i>' });
    const title = '<script>alert(1)</script> & "co"';
    assert.is((await client.submit('/admin/rooms/new/', { title })).status, 303);
    const [room] = await fixtures.rooms.list();
    const history = markupOf(await client.get(`/admin/rooms/${room!.id}/history/`));
    const dashboard = markupOf(await client.get('/admin/'));
    for (const page of [history, dashboard]) {
      assert.not.match(page, '<script>alert(1)');
      assert.match(page, '&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;co&quot;');
    }
    assert.not.match(history, '<i>Ada</i>');
    assert.equal(
      historyRows(history).map(([, who]) => who),
      ['root (<i>Ada</i>)'],
    );
    assert.equal(recentActions(dashboard)[0]![2], `Added: ${title}`);
  });

  test.run();
}
