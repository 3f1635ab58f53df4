/**
 * The lists' one action, Django 3.2's delete_selected, over real HTTP on SQLite
 * and PostgreSQL: the checkbox column and the action bar, the confirmation page,
 * the deletion with its history and what the single delete view does besides
 * (a deleted room's sockets told, a deleted user's closed and logged out), the
 * warnings for a POST without a selection or an action, select_across within
 * the list's search, and who may (staff for rooms, superusers for users, with
 * the CSRF token). The texts are Django's (test/python/django_admin_actions.py
 * renders them with Django itself).
 */
import { suite } from './helpers/suite.js';
import * as assert from 'uvu/assert';
import type { Database } from '../src/db/connection.js';
import { fromDbInteger } from '../src/db/values.js';
import { BrowserlessClient } from './helpers/browserless.js';
import { runPython } from './helpers/cli.js';
import { allDatabases } from './helpers/databases.js';
import { Fixtures, useEmbeddedChat, useSignedInClients } from './helpers/deployment.js';
import { markupOf } from './helpers/markup.js';
import { within } from './helpers/wait.js';

const PASSWORD = 'correct horse';

/** Django's words, however the page's markup wraps them. */
function spaced(words: string): RegExp {
  return new RegExp(words.replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replaceAll(' ', '\\s+'));
}

/** The bar's Go: the action chosen, the rows ticked. */
function go(ids: readonly number[], extra: [string, string][] = []): [string, string][] {
  return [
    ['action', 'delete_selected'],
    ['select_across', '0'],
    ['index', '0'],
    ...ids.map((id): [string, string] => ['_selected_action', String(id)]),
    ...extra,
  ];
}

/** The confirmation page's form, as a browser submits it: its hidden fields. */
function confirmed(page: string): [string, string][] {
  const form = /<form method="post" action="[^"]*" class="form-actions">([\s\S]*?)<\/form>/.exec(
    page,
  )?.[1];
  assert.ok(form, 'the confirmation form');
  return Array.from(
    form.matchAll(/<input type="hidden" name="([^"]*)" value="([^"]*)"/g),
    ([, name, value]): [string, string] => [name!, value!],
  );
}

/** Django's texts, rendered by Django 3.2 for rooms "A" and "B" (test/python/django_admin_actions.py). */
interface DjangoTexts {
  bar: { action_label: string; choices: [string, string][]; go_title: string; counter: string };
  checkbox: string;
  confirmation: {
    title: string;
    question: string;
    summary: string[];
    objects: string[];
    yes: string;
    no: string;
  };
  hidden: [string, string][];
  messages: { nothing_selected: string[]; no_action: string[]; deleted: string[]; one: string[] };
}

for (const database of allDatabases()) {
  const test = suite(`admin actions [${database.name}]`);
  let db: Database;
  let fixtures: Fixtures;
  let port: number;

  useEmbeddedChat(test, database, (state) => ({ db, fixtures, port } = state));

  const { signedIn, chatOf } = useSignedInClients(test, () => ({ fixtures, port }), PASSWORD);

  async function roomIds(): Promise<number[]> {
    return (await db.knex('chat_room').select('id').orderBy('id')).map(({ id }) => Number(id));
  }

  async function deletions(): Promise<[string, number, string][]> {
    const rows = await db
      .knex('gredis_admin_log')
      .where('action_flag', 3)
      .select('model', 'object_id', 'object_repr')
      .orderBy('id');
    return rows.map((row) => [row.model, fromDbInteger(row.object_id), row.object_repr]);
  }

  /** The one-shot notices on the next page. */
  async function notices(client: BrowserlessClient, path: string): Promise<string[]> {
    const page = markupOf(await client.get(path));
    return Array.from(page.matchAll(/<p class="flash flash-(\w+)">([^<]*)<\/p>/g), ([, l, t]) =>
      [l, t].join(': '),
    );
  }

  test("the rooms' list has Django's checkbox column and action bar, which deletes the rooms ticked once confirmed: logged each, their sockets told", async () => {
    const django = await runPython<DjangoTexts>('django_admin_actions.py', {});
    const { client, user } = await signedIn('mod', { staff: true });
    const a = await fixtures.room('A');
    const b = await fixtures.room('B');
    const c = await fixtures.room('C');
    const list = markupOf(await client.get('/admin/rooms/'));
    assert.match(list, /<form id="changelist-form" method="post" novalidate>/);
    assert.match(list, `<label>${django.bar.action_label}`);
    for (const [value, label] of django.bar.choices)
      assert.match(list, new RegExp(`<option value="${value}"[^>]*>${label}</option>`));
    assert.match(
      list,
      new RegExp(
        `<button type="submit" class="button" title="${django.bar.go_title}" name="index" value="0">\\s*Go`,
      ),
    );
    assert.match(
      list,
      `<span class="action-counter" role="status">${django.bar.counter.replace('2', '3')}</span>`,
    );
    assert.not.match(list, /Select all \d/, 'one page: nothing to select across');
    // Django's row checkbox, named for screen readers (as Django 4.1's).
    assert.match(list, django.checkbox.replace('value="1"', `value="${a.id}"`).replace('>', ''));
    assert.match(list, `aria-label="Select this object for an action - A"`);
    assert.match(list, /<input\s+type="checkbox"\s+id="action-toggle"\s+aria-label="[^"]+"/);

    const bob = (await signedIn('bob')).client;
    const inRoom = await chatOf(bob);
    inRoom.send(JSON.stringify({ command: 'join', room: a.id }));
    assert.equal(JSON.parse(String(await inRoom.next())).join, String(a.id));

    const confirm = await client.post('/admin/rooms/', go([a.id, b.id]));
    assert.is(confirm.status, 200, 'the confirmation page');
    const page = markupOf(confirm);
    assert.match(page, `<h1 id="confirm-heading">${django.confirmation.title}</h1>`);
    assert.match(page, spaced(django.confirmation.question));
    assert.match(page, `<button type="submit" class="danger">${django.confirmation.yes}</button>`);
    assert.match(page, `>${django.confirmation.no}</a>`);
    for (const line of [...django.confirmation.summary, ...django.confirmation.objects])
      assert.match(
        page,
        `<li>${line}</li>`.replace(/\/admin\/auth\/room\/(\d+)\/change\//, (_, n: string) =>
          n === '1' ? `/admin/rooms/${a.id}/` : `/admin/rooms/${b.id}/`,
        ),
      );
    assert.match(page, 'Delete multiple objects', 'its breadcrumb');
    const fields = confirmed(page);
    assert.equal(
      fields.filter(([name]) => name !== 'csrfmiddlewaretoken'),
      django.hidden.map(([name, value]): [string, string] =>
        name === '_selected_action' ? [name, String(value === '1' ? a.id : b.id)] : [name, value],
      ),
    );
    assert.equal(await roomIds(), [a.id, b.id, c.id], 'nothing deleted yet');

    const done = await client.post('/admin/rooms/', fields);
    assert.is(done.status, 302);
    assert.is(done.headers.location, '/admin/rooms/');
    assert.equal(await roomIds(), [c.id]);
    assert.equal(JSON.parse(String(await inRoom.next())), { leave: String(a.id) });
    assert.equal(await deletions(), [
      ['chat.room', a.id, 'A'],
      ['chat.room', b.id, 'B'],
    ]);
    const logged = await db.knex('gredis_admin_log').where('action_flag', 3).select('user_id');
    assert.ok(
      logged.every((row) => fromDbInteger(row.user_id) === user.id),
      'by the admin',
    );
    assert.equal(await notices(client, '/admin/rooms/'), django.messages.deleted);
    // A second POST of the same form finds nothing: no message, as Django's n = 0.
    await client.get('/admin/rooms/');
    assert.is((await client.post('/admin/rooms/', fields)).status, 302);
    assert.equal(await notices(client, '/admin/rooms/'), []);
    // One room: Django's singular.
    await client.get('/admin/rooms/');
    await client.post('/admin/rooms/', go([c.id], [['post', 'yes']]));
    assert.equal(await notices(client, '/admin/rooms/'), django.messages.one);
  });

  test("without a row ticked, or without an action chosen, Django's warning and the list again, as it was; nothing deleted", async () => {
    const django = await runPython<DjangoTexts>('django_admin_actions.py', {});
    const { client } = await signedIn('mod', { staff: true });
    const a = await fixtures.room('A');
    const path = '/admin/rooms/?o=-2&q=A';
    await client.get(path);
    const none = await client.post(path, go([]));
    assert.is(none.status, 302);
    assert.is(none.headers.location, path, 'back to the list as it was');
    assert.equal(await notices(client, path), django.messages.nothing_selected);
    const noAction = await client.post(path, [
      ['action', ''],
      ['index', '0'],
      ['_selected_action', String(a.id)],
    ]);
    assert.is(noAction.status, 302);
    assert.equal(await notices(client, path), django.messages.no_action);
    assert.equal(await roomIds(), [a.id]);
    // A POST that is no action's (no `index`, nothing ticked) is the list.
    assert.is((await client.post(path, { q: 'x' })).status, 200);
  });

  test("select_across deletes every room the list's search and lookups match, on every page, and no other; a room ticked outside them is left", async () => {
    const { client } = await signedIn('mod', { staff: true });
    await db
      .knex('chat_room')
      .insert(Array.from({ length: 105 }, (_, i) => ({ title: `Old ${i}` })));
    const keep = await fixtures.room('Keep');
    const path = '/admin/rooms/?q=old';
    const list = markupOf(await client.get(path));
    assert.match(list, /0 of 100 selected/);
    assert.match(list, /Select all 105 rooms/);
    // Ticked outside the search: Django's queryset.filter(pk__in=…) of the list's own.
    await client.post(path, go([keep.id], [['post', 'yes']]));
    assert.is((await roomIds()).length, 106);
    assert.ok(await fixtures.rooms.find(keep.id), 'a room the search does not match is left');
    const [first] = await roomIds();
    await client.get(path);
    const confirm = markupOf(
      await client.post(path, [
        ['action', 'delete_selected'],
        ['select_across', '1'],
        ['index', '0'],
        ['_selected_action', String(first)],
      ]),
    );
    assert.match(confirm, /<li>Rooms: 105<\/li>/);
    assert.is(confirmed(confirm).filter(([name]) => name === '_selected_action').length, 105);
    const done = await client.post(path, confirmed(confirm));
    assert.is(done.headers.location, path);
    assert.equal(await roomIds(), [keep.id]);
    assert.equal(await notices(client, '/admin/rooms/'), [
      'success: Successfully deleted 105 rooms.',
    ]);
  });

  test("a name is text wherever the action shows it: the row's checkbox label and the confirmation; one room is Django's singular", async () => {
    const { client } = await signedIn('mod', { staff: true });
    const odd = await fixtures.room('<b>"Tom" & Jerry</b>');
    const escaped = '&lt;b&gt;&quot;Tom&quot; &amp; Jerry&lt;/b&gt;';
    const list = markupOf(await client.get('/admin/rooms/'));
    assert.match(list, `aria-label="Select this object for an action - ${escaped}"`);
    const confirm = markupOf(await client.post('/admin/rooms/', go([odd.id])));
    assert.match(confirm, spaced('Are you sure you want to delete the selected room?'));
    assert.match(confirm, '<li>Rooms: 1</li>');
    assert.match(confirm, `<li>Room: <a href="/admin/rooms/${odd.id}/">${escaped}</a></li>`);
    assert.not.match(list + confirm, '<b>"Tom"');
  });

  test('only staff act on rooms, only superusers on users, and only with the CSRF token', async () => {
    const a = await fixtures.room('A');
    const { user: victim } = await signedIn('victim');
    const { client: plain } = await signedIn('plain');
    await plain.get('/accounts/login/');
    const refused = await plain.post('/admin/rooms/', go([a.id], [['post', 'yes']]));
    assert.is(refused.status, 302, 'not staff: to the login page');
    assert.match(String(refused.headers.location), /^\/accounts\/login\//);
    const { client: mod } = await signedIn('mod', { staff: true });
    await mod.get('/admin/rooms/');
    const users = await mod.post('/admin/users/', go([victim.id], [['post', 'yes']]));
    assert.is(users.status, 403, 'staff but no superuser: 403 on users');
    assert.ok(await fixtures.users.findById(victim.id));
    await mod.get('/admin/rooms/');
    const forged = await mod.post('/admin/rooms/', go([a.id], [['post', 'yes']]), { csrf: false });
    assert.is(forged.status, 403, 'no CSRF token');
    assert.ok(await fixtures.rooms.find(a.id), 'the room stands');
    assert.equal(await deletions(), []);
  });

  test('superusers delete the users ticked: logged each, their sessions end, their sockets close', async () => {
    const { client, user: root } = await signedIn('root', { staff: true, superuser: true });
    const { client: bob, user: bobUser } = await signedIn('bob');
    const { user: amy } = await signedIn('amy');
    const { user: cat } = await signedIn('cat');
    const bobsChat = await chatOf(bob);
    await client.get('/admin/users/');
    const confirm = markupOf(await client.post('/admin/users/', go([bobUser.id, amy.id])));
    assert.match(confirm, 'Are you sure you want to delete the selected users?');
    assert.match(confirm, '<li>Users: 2</li>');
    assert.match(confirm, `<li>User: <a href="/admin/users/${bobUser.id}/">bob</a></li>`);
    assert.not.match(confirm, 'Your own account');
    const done = await client.post('/admin/users/', confirmed(confirm));
    assert.is(done.status, 302);
    assert.is(await fixtures.users.findById(bobUser.id), undefined);
    assert.is(await fixtures.users.findById(amy.id), undefined);
    assert.ok(await fixtures.users.findById(cat.id), 'cat was not ticked');
    assert.is((await bob.get('/')).status, 302, "bob's session went with him");
    assert.is((await within(bobsChat.closed, 3000, "bob's chat socket to close")).code, 4001);
    // Ordered by the list's sort, the username (UserAdmin.ordering).
    assert.equal(await deletions(), [
      ['auth.user', amy.id, 'amy'],
      ['auth.user', bobUser.id, 'bob'],
    ]);
    assert.equal(await notices(client, '/admin/users/'), [
      'success: Successfully deleted 2 users.',
    ]);
    assert.ok(await fixtures.users.findById(root.id));
  });

  test("a superuser's own user among those deleted logs them out, told on the login page they land on, as the user's delete view does", async () => {
    const { client, user: root } = await signedIn('root', { staff: true, superuser: true });
    const session = client.cookies.get('sessionid')!;
    const ownChat = await chatOf(client);
    const { user: amy } = await signedIn('amy');
    await client.get('/admin/users/');
    const confirm = markupOf(await client.post('/admin/users/', go([root.id, amy.id])));
    assert.match(confirm, 'Your own account is among them: you will be logged out.');
    assert.ok(await fixtures.users.findById(root.id), 'not yet');
    const done = await client.post('/admin/users/', confirmed(confirm));
    assert.is(done.status, 302);
    assert.is(await fixtures.users.findById(root.id), undefined);
    assert.is(await fixtures.users.findById(amy.id), undefined);
    assert.is(await fixtures.sessions.load(session), undefined, 'the old session is gone');
    assert.is((await within(ownChat.closed, 3000, 'their chat socket to close')).code, 4001);
    const after = await client.get('/admin/users/');
    assert.is(after.status, 302, 'logged out');
    assert.equal(await notices(client, String(after.headers.location)), [
      'success: Successfully deleted 2 users.',
    ]);
  });

  test('a selected value that names no row is dropped, a repeated one counts once: no 500 for one past the database integer', async () => {
    const { client } = await signedIn('mod', { staff: true });
    const a = await fixtures.room('A');
    const b = await fixtures.room('B');
    await client.get('/admin/rooms/');
    const odd = [
      'abc',
      '-1',
      '0',
      '2147483648',
      '9007199254740993',
      '1e3',
      String(a.id),
      String(a.id),
    ];
    const confirm = await client.post('/admin/rooms/', [
      ['action', 'delete_selected'],
      ['index', '0'],
      ...odd.map((id): [string, string] => ['_selected_action', id]),
    ]);
    assert.is(confirm.status, 200);
    const page = markupOf(confirm);
    assert.match(page, '<li>Rooms: 1</li>');
    assert.equal(
      confirmed(page).filter(([name]) => name === '_selected_action'),
      [['_selected_action', String(a.id)]],
    );
    const done = await client.post('/admin/rooms/', confirmed(page));
    assert.is(done.status, 302);
    assert.equal(await roomIds(), [b.id]);
    assert.equal(await notices(client, '/admin/rooms/'), ['success: Successfully deleted 1 room.']);
  });

  test("the bar's `index`, `action` and `select_across` are read as Django's QueryDict: each one's last value; `index` past the actions, the last action sent", async () => {
    const django = await runPython<DjangoTexts>('django_admin_actions.py', {});
    const { client } = await signedIn('mod', { staff: true });
    const a = await fixtures.room('A');
    await client.get('/admin/rooms/');
    const tick: [string, string] = ['_selected_action', String(a.id)];
    // request.POST.get('index') is the last `index`: 0, the empty choice.
    const lastIndex = await client.post('/admin/rooms/', [
      ['action', ''],
      ['action', 'delete_selected'],
      ['index', '1'],
      ['index', '0'],
      tick,
      ['post', 'yes'],
    ]);
    assert.is(lastIndex.status, 302);
    assert.equal(await notices(client, '/admin/rooms/'), django.messages.no_action);
    assert.equal(await roomIds(), [a.id], 'nothing deleted');
    // IndexError: no choice added, so the last `action` sent is the one run.
    for (const index of ['7', '-3', '99999999999999999999']) {
      const past = await client.post('/admin/rooms/', [
        ['action', 'delete_selected'],
        ['action', ''],
        ['index', index],
        tick,
        ['post', 'yes'],
      ]);
      assert.is(past.status, 302, `index ${index}`);
      assert.equal(await notices(client, '/admin/rooms/'), django.messages.no_action);
    }
    // An unknown action is no action, whatever else is sent.
    await client.post('/admin/rooms/', [['action', 'delete_everything'], ['index', '0'], tick]);
    assert.equal(await notices(client, '/admin/rooms/'), django.messages.no_action);
    assert.equal(await roomIds(), [a.id]);
    assert.equal(await deletions(), []);
  });

  test("a GET with the action's fields only shows a list; the confirmation and its answer need the CSRF token", async () => {
    const { client } = await signedIn('mod', { staff: true });
    const a = await fixtures.room('A');
    const query = new URLSearchParams([
      ['action', 'delete_selected'],
      ['index', '0'],
      ['select_across', '1'],
      ['_selected_action', String(a.id)],
      ['post', 'yes'],
    ]);
    const get = await client.get(`/admin/rooms/?${query}`);
    assert.ok(get.status === 200 || get.status === 302, `a list or ?e=1, not ${get.status}`);
    assert.not.match(markupOf(get), 'Are you sure?');
    assert.ok(await fixtures.rooms.find(a.id));
    await client.get('/admin/rooms/');
    const noToken = await client.post('/admin/rooms/', go([a.id]), { csrf: false });
    assert.is(noToken.status, 403, 'the confirmation page takes the token too');
    assert.not.match(markupOf(noToken), 'Are you sure?');
    const wrong = await client.post('/admin/rooms/', [
      ...go([a.id], [['post', 'yes']]),
      ['csrfmiddlewaretoken', 'x'.repeat(64)],
    ]);
    assert.is(wrong.status, 403, 'a token not of this session');
    assert.ok(await fixtures.rooms.find(a.id));
    assert.equal(await deletions(), []);
  });

  test("staff who are not superusers get 403 for the users' confirmation too, with no username on it", async () => {
    const { user: victim } = await signedIn('victim-name');
    const { client: mod } = await signedIn('mod', { staff: true });
    await mod.get('/admin/rooms/');
    for (const fields of [go([victim.id]), go([], [['select_across', '1']])]) {
      const refused = await mod.post('/admin/users/', fields);
      assert.is(refused.status, 403);
      assert.not.match(markupOf(refused), 'victim-name');
    }
    assert.ok(await fixtures.users.findById(victim.id));
  });

  test('select_across with a filter and a search deletes only the rows both match; ticked rows outside them are left', async () => {
    const { client } = await signedIn('mod', { staff: true });
    const hit = await fixtures.room('Old staff', true);
    const openOld = await fixtures.room('Old open');
    const staffNew = await fixtures.room('New staff', true);
    const path = '/admin/rooms/?q=old&staff_only__exact=1';
    await client.get(path);
    const confirm = markupOf(
      await client.post(path, [...go([openOld.id, staffNew.id]), ['select_across', '1']]),
    );
    assert.match(confirm, '<li>Rooms: 1</li>');
    assert.match(confirm, `<li>Room: <a href="/admin/rooms/${hit.id}/">Old staff</a></li>`);
    await client.post(path, confirmed(confirm));
    assert.equal(await roomIds(), [openOld.id, staffNew.id]);
    // Without select_across, the ticked rows the filter does not match are left too.
    await client.get(path);
    await client.post(path, go([openOld.id, staffNew.id], [['post', 'yes']]));
    assert.equal(await roomIds(), [openOld.id, staffNew.id]);
  });

  test('the redirect after an action is the list as POSTed to, its query quoted: no header from it, no other site', async () => {
    const { client } = await signedIn('mod', { staff: true });
    await fixtures.room('A');
    await client.get('/admin/rooms/');
    const sneaky = '/admin/rooms/?q=%0D%0ASet-Cookie:%20x=1%0D%0A&q=%22%3E%3Cscript%3E';
    const back = await client.post(sneaky, go([]));
    assert.is(back.status, 302);
    assert.is(
      back.headers.location,
      '/admin/rooms/?q=%0D%0ASet-Cookie:%20x=1%0D%0A&q=%22%3E%3Cscript%3E',
    );
    assert.not.match(String(back.headers['set-cookie'] ?? ''), 'x=1');
    const a = await fixtures.room('"><script>');
    await client.get('/admin/rooms/');
    const confirm = markupOf(await client.post(`/admin/rooms/?q=%22%3E%3Cscript%3E`, go([a.id])));
    assert.match(confirm, '<form method="post" action="/admin/rooms/?q=%22%3E%3Cscript%3E"');
    assert.not.match(confirm, '"><script>');
    for (const path of ['//evil.example/admin/rooms/', '/admin/rooms//evil.example/']) {
      await client.get('/admin/rooms/');
      const other = await client.post(path, go([a.id], [['post', 'yes']]));
      assert.not.match(String(other.headers.location ?? ''), /^\/\/|^https?:/);
    }
    assert.ok(await fixtures.rooms.find(a.id));
  });

  test('a row deleted between the confirmation and its answer is skipped: only those deleted are counted and logged', async () => {
    const { client } = await signedIn('mod', { staff: true });
    const a = await fixtures.room('A');
    const b = await fixtures.room('B');
    await client.get('/admin/rooms/');
    const confirm = markupOf(await client.post('/admin/rooms/', go([a.id, b.id])));
    await db.knex('chat_room').where('id', a.id).delete();
    await client.post('/admin/rooms/', confirmed(confirm));
    assert.equal(await roomIds(), []);
    assert.equal(await deletions(), [['chat.room', b.id, 'B']]);
    assert.equal(await notices(client, '/admin/rooms/'), ['success: Successfully deleted 1 room.']);
  });

  test("a superuser whose own user sorts first among those ticked deletes them all, themselves last, as the user's delete view would one by one", async () => {
    const { client, user: me } = await signedIn('aaa', { staff: true, superuser: true });
    const { user: bob } = await signedIn('bob');
    const { user: cat } = await signedIn('cat', { staff: true, superuser: true });
    await client.get('/admin/users/');
    const confirm = markupOf(await client.post('/admin/users/', go([me.id, bob.id, cat.id])));
    const done = await client.post('/admin/users/', confirmed(confirm));
    assert.is(done.status, 302);
    for (const user of [me, bob, cat])
      assert.is(await fixtures.users.findById(user.id), undefined, user.username);
    // Their entries went with them (user_id cascades), as Django's LogEntry's.
    assert.equal(await deletions(), []);
    const after = await client.get('/admin/users/');
    assert.is(after.status, 302, 'logged out');
    assert.equal(await notices(client, String(after.headers.location)), [
      'success: Successfully deleted 3 users.',
    ]);
  });

  test.run();
}
