/**
 * The HTTP side of the worker framework as MultiChat uses it: sessions, CSRF as
 * Django does it, login/logout, throttling, error pages, and bad input. On SQLite
 * and PostgreSQL, embedded (Thyme + worker in this process).
 */
import { suite } from './helpers/suite.js';
import * as assert from 'uvu/assert';
import { makePassword } from '../src/auth/hashers.js';
import { SessionStore } from '../src/auth/sessions.js';
import type { Database } from '../src/db/connection.js';
import { createLayer } from '../src/index.js';
import { Thyme } from '../src/server/index.js';
import type { Application } from '../src/worker/app.js';
import { html } from '../src/worker/http/html.js';
import { Request } from '../src/worker/http/request.js';
import { Response } from '../src/worker/http/response.js';
import { compose, Router } from '../src/worker/http/router.js';
import { Worker } from '../src/worker/runner.js';
import { BrowserlessClient } from './helpers/browserless.js';
import { runPython } from './helpers/cli.js';
import { allDatabases } from './helpers/databases.js';
import {
  Fixtures,
  useEmbeddedChat,
  TEST_SECRET_KEY,
  type EmbeddedChat,
} from './helpers/deployment.js';
import { assertCostsAsMuch, cpuMsOfEach } from './helpers/cpu.js';
import { httpRequest } from './helpers/http-client.js';
import { within } from './helpers/wait.js';
import { TestClient } from './helpers/ws-client.js';

for (const database of allDatabases()) {
  const test = suite(`worker http [${database.name}]`);
  let db: Database;
  let fixtures: Fixtures;
  let port: number;
  let chat: EmbeddedChat;

  useEmbeddedChat(test, database, (state) => ({ db, fixtures, port, chat } = state));

  const browser = (): BrowserlessClient => new BrowserlessClient(port);

  test('anonymous visitors are sent to the login page with next', async () => {
    const res = await browser().get('/');
    assert.is(res.status, 302);
    assert.is(res.headers.location, '/accounts/login/?next=/');
  });

  test('next is quoted as Django quotes it: slashes kept, the query escaped whole', async () => {
    // Locations Django's login_required gives for the same requests.
    const cases: [string, string][] = [
      ['/admin/', '/accounts/login/?next=/admin/'],
      [
        '/?x=1&y=%C3%A9&s=a+b%20c',
        '/accounts/login/?next=/%3Fx%3D1%26y%3D%25C3%25A9%26s%3Da%2Bb%2520c',
      ],
      ["/admin/?q=(!*')~&n=/x", '/accounts/login/?next=/admin/%3Fq%3D%28%21%2A%27%29~%26n%3D/x'],
    ];
    for (const [path, location] of cases) {
      const res = await browser().get(path);
      assert.is(res.status, 302, path);
      assert.is(res.headers.location, location, path);
    }
  });

  test('the login page sets a CSRF cookie and a masked token that changes per render', async () => {
    const client = browser();
    const first = await client.get('/accounts/login/');
    assert.is(first.status, 200);
    const cookie = client.cookies.get('csrftoken');
    assert.match(cookie ?? '', /^[A-Za-z0-9]{32}$/);
    const token1 = client.formToken();
    await client.get('/accounts/login/');
    const token2 = client.formToken();
    assert.match(token1 ?? '', /^[A-Za-z0-9]{64}$/);
    assert.is.not(token1, token2, 'masked differently each time');
    assert.is(client.cookies.get('csrftoken'), cookie, 'the secret stays');
    assert.match(String(first.headers['set-cookie']), /SameSite=Lax/);
  });

  test('login: right credentials log in, rotate the session key and the CSRF secret', async () => {
    await fixtures.user('alice', { password: 's3cret pass' });
    const client = browser();
    // A session planted before login (fixation) must not survive it.
    const planted = await fixtures.sessions.create(null, { planted: true });
    client.cookies.set('sessionid', planted.key);
    await client.get('/accounts/login/?next=/');
    const csrfBefore = client.cookies.get('csrftoken');
    const res = await client.post('/accounts/login/', {
      username: 'alice',
      password: 's3cret pass',
      next: '/',
    });
    assert.is(res.status, 302);
    assert.is(res.headers.location, '/');
    const setCookie = ([] as string[])
      .concat(res.headers['set-cookie'] ?? [])
      .find((c) => c.startsWith('sessionid='))!;
    assert.match(setCookie, /HttpOnly/);
    assert.match(setCookie, /SameSite=Lax/);
    const key = client.cookies.get('sessionid')!;
    assert.is.not(key, planted.key, 'a new session key at login');
    assert.is(await fixtures.sessions.load(planted.key), undefined, 'the planted key is dead');
    assert.is.not(client.cookies.get('csrftoken'), csrfBefore, 'CSRF secret rotated');
    const home = await client.get('/');
    assert.is(home.status, 200);
    assert.match(home.body.toString(), /Signed in as <strong>alice<\/strong>/);
  });

  test('login: wrong credentials show the form again with an error (200)', async () => {
    await fixtures.user('alice', { password: 'right' });
    for (const [username, password] of [
      ['alice', 'wrong'],
      ['nobody', 'right'],
      ['ALICE', 'right'],
    ]) {
      const client = browser();
      const res = await client.login(username!, password!);
      assert.is(res.status, 200);
      assert.match(res.body.toString(), /Please enter a correct username and password/);
      assert.is(client.cookies.get('sessionid'), undefined);
    }
  });

  test("login: an empty field says 'This field is required.' under it, as Django's AuthenticationForm, and has focus", async () => {
    await fixtures.user('alice', { password: 'pw' });
    const inputOf = (page: string, name: string): string =>
      new RegExp(`<input\\s[^>]*name="${name}"[^>]*>`).exec(page)?.[0] ?? '';
    for (const [username, password, empty] of [
      [' \t ', 'pw', 'username'],
      ['alice', '', 'password'],
    ] as const) {
      const client = browser();
      await client.get('/accounts/login/');
      const res = await client.post('/accounts/login/', { username, password });
      const page = res.body.toString();
      assert.is(res.status, 200);
      assert.match(
        page,
        `<span class="error" id="id_${empty}_error">This field is required.</span>`,
      );
      const other = empty === 'username' ? 'password' : 'username';
      assert.not.match(page, `id="id_${other}_error"`);
      assert.match(inputOf(page, empty), /\sautofocus\b/, `${empty} has focus`);
      assert.match(inputOf(page, empty), /aria-invalid="true"/);
      assert.not.match(inputOf(page, other), /\sautofocus\b/, `${other} has not`);
      assert.is(client.cookies.get('sessionid'), undefined);
    }
  });

  test("login as another user ends the first user's session and keeps none of its data", async () => {
    const alice = await fixtures.user('alice', { password: 'pw' });
    const bob = await fixtures.user('bob', { password: 'pw' });
    /** Bob logs in through the form of a browser whose session is `sessionKey`'s. */
    const loginOver = async (sessionKey: string): Promise<string> => {
      const client = browser();
      await client.get('/accounts/login/'); // the form and its CSRF cookie
      client.cookies.set('sessionid', sessionKey);
      const res = await client.post('/accounts/login/', { username: 'bob', password: 'pw' });
      assert.is(res.status, 302);
      return client.cookies.get('sessionid')!;
    };
    const loggedIn = async (user: { id: number }, data: Record<string, unknown>) =>
      fixtures.sessions.create(user.id, data, await fixtures.users.sessionAuthHash(user.id));
    const aliceSession = await loggedIn(alice, { flash: 'for alice' });
    const key = await loginOver(aliceSession.key);
    assert.is(await fixtures.sessions.load(aliceSession.key), undefined, "alice's session ended");
    const bobSession = await fixtures.sessions.load(key);
    assert.is(bobSession?.userId, bob.id);
    assert.equal(bobSession?.data, {}, "nothing of alice's session carried over");
    // The same user logging in again keeps the session's data (under a new key).
    const kept = await loggedIn(bob, { flash: 'for bob' });
    const rotated = await fixtures.sessions.load(await loginOver(kept.key));
    assert.is(rotated?.data.flash, 'for bob');
    assert.is(await fixtures.sessions.load(kept.key), undefined, 'its old key is dead');
  });

  test('login: next is followed only to paths on this site', async () => {
    await fixtures.user('alice', { password: 'pw' });
    for (const [next, expected] of [
      ['/admin/', '/admin/'],
      ['//evil.example/', '/'],
      ['https://evil.example/', '/'],
      ['/\\evil.example', '/'],
      // Characters a header cannot carry are percent-encoded, never cut to their
      // low byte (U+012F would become "/", U+015C a backslash).
      ['/\u012fevil.example/', '/%C4%AFevil.example/'],
      ['/\u015cevil.example/', '/%C5%9Cevil.example/'],
      ['/r\u00e9sum\u00e9 ok', '/r%C3%A9sum%C3%A9%20ok'],
      ['/rooms/?q=a%20b#top', '/rooms/?q=a%20b#top'],
    ]) {
      const res = await browser().login('alice', 'pw', next!);
      assert.is(res.headers.location, expected, `next=${next}`);
      // A form posted without the hidden field takes the query's, as Django reads it.
      const bare = browser();
      await bare.get('/accounts/login/');
      const viaQuery = await bare.post(`/accounts/login/?next=${encodeURIComponent(next!)}`, {
        username: 'alice',
        password: 'pw',
      });
      assert.is(viaQuery.headers.location, expected, `query next=${next}`);
    }
  });

  test("a signed-in user gets the login form, as from Django's LoginView, and can log in as someone else there", async () => {
    await fixtures.user('alice', { password: 'pw', staff: true });
    const bob = await fixtures.user('bob', { password: 'pw' });
    const client = browser();
    await client.login('alice', 'pw');
    for (const path of ['/accounts/login/', '/accounts/login/?next=/admin/']) {
      const form = await client.get(path);
      assert.is(form.status, 200, path);
      assert.match(form.body.toString(), /<form method="post" action="\/accounts\/login\/">/);
      assert.match(form.body.toString(), /Signed in as <strong>alice<\/strong>/);
      // Only a user sent away from a page they cannot see is told so.
      assert.not.match(form.body.toString(), /not authorized/, path);
    }
    assert.match(client.formToken() ?? '', /^[A-Za-z0-9]{64}$/);
    const res = await client.post('/accounts/login/', {
      username: 'bob',
      password: 'pw',
      next: '/admin/',
    });
    assert.is(res.status, 302);
    assert.is(res.headers.location, '/admin/');
    const session = await fixtures.sessions.load(client.cookies.get('sessionid')!);
    assert.is(session?.userId, bob.id, 'now bob');
  });

  test('CSRF: missing, wrong or foreign-origin submissions get 403 and change nothing', async () => {
    await fixtures.user('alice', { password: 'pw' });
    const client = browser();
    await client.get('/accounts/login/');
    const fields = { username: 'alice', password: 'pw' };
    const noToken = await client.post('/accounts/login/', fields, { csrf: false });
    assert.is(noToken.status, 403);
    assert.match(noToken.body.toString(), /CSRF token missing/);
    const wrong = await client.post('/accounts/login/', {
      ...fields,
      csrfmiddlewaretoken: 'x'.repeat(64),
    });
    assert.is(wrong.status, 403);
    await client.get('/accounts/login/');
    const foreign = await client.post('/accounts/login/', fields, {
      headers: { origin: 'http://evil.example' },
    });
    assert.is(foreign.status, 403);
    assert.match(foreign.body.toString(), /Origin checking failed/);
    const noCookie = new BrowserlessClient(port);
    noCookie.lastPage = client.lastPage;
    await client.get('/accounts/login/');
    noCookie.lastPage = client.lastPage;
    const res = await noCookie.post('/accounts/login/', fields);
    assert.is(res.status, 403);
    assert.match(res.body.toString(), /CSRF cookie not set/);
    assert.is(client.cookies.get('sessionid'), undefined, 'nobody logged in');
    // The header form works too (for scripts): X-CSRFToken.
    await client.get('/accounts/login/');
    const viaHeader = await client.post('/accounts/login/', fields, {
      csrf: false,
      headers: { 'x-csrftoken': client.formToken()! },
    });
    assert.is(viaHeader.status, 302);
    // The form's field comes first, as in Django: an empty or wrong header beside
    // it changes nothing.
    for (const header of ['', 'x'.repeat(64)]) {
      const other = browser();
      await other.get('/accounts/login/');
      const both = await other.post('/accounts/login/', fields, {
        headers: { 'x-csrftoken': header },
      });
      assert.is(both.status, 302, `X-CSRFToken ${JSON.stringify(header)} beside a good field`);
    }
  });

  test('CSRF refusals an honest browser meets say what to do: reload a form older than a login, turn cookies on', async () => {
    await fixtures.user('alice', { password: 'pw' });
    const tabA = browser();
    await tabA.get('/accounts/login/');
    // Tab B: the same browser (same cookies), its form rendered before tab A logs in.
    const tabB = browser();
    for (const [name, value] of tabA.cookies) tabB.cookies.set(name, value);
    await tabB.get('/accounts/login/');
    assert.is(
      (await tabA.post('/accounts/login/', { username: 'alice', password: 'pw' })).status,
      302,
    );
    for (const [name, value] of tabA.cookies) tabB.cookies.set(name, value);
    const stale = await tabB.post('/accounts/login/', { username: 'alice', password: 'pw' });
    assert.is(stale.status, 403);
    assert.match(stale.body.toString(), /CSRF token incorrect\./);
    assert.match(stale.body.toString(), /reload the page with the form and submit it again/);
    // Reloading is the whole fix.
    await tabB.get('/accounts/login/');
    assert.is(
      (await tabB.post('/accounts/login/', { username: 'alice', password: 'pw' })).status,
      302,
    );

    const noCookies = browser();
    noCookies.lastPage = (await browser().get('/accounts/login/')).body.toString();
    const refused = await noCookies.post('/accounts/login/', { username: 'alice', password: 'pw' });
    assert.is(refused.status, 403);
    assert.match(refused.body.toString(), /CSRF cookie not set\./);
    assert.match(
      refused.body.toString(),
      /this site requires a CSRF cookie when submitting forms\. This cookie is required for security reasons/,
    );
    assert.match(refused.body.toString(), /please re-enable them, at least for this site/);
  });

  test('logout: POST with CSRF ends the session; the old cookie no longer works; GET is refused', async () => {
    await fixtures.user('alice', { password: 'pw' });
    const client = browser();
    await client.login('alice', 'pw');
    const key = client.cookies.get('sessionid')!;
    const page = await client.get('/');
    assert.is(page.status, 200);
    assert.is((await client.get('/accounts/logout/')).status, 405);
    const res = await client.post('/accounts/logout/', {});
    assert.is(res.status, 302);
    assert.is(res.headers.location, '/accounts/login/');
    assert.is(client.cookies.get('sessionid'), undefined, 'cookie cleared');
    assert.is(await fixtures.sessions.load(key), undefined, 'session deleted');
    const replay = await httpRequest(port, '/', { headers: { cookie: `sessionid=${key}` } });
    assert.is(replay.status, 302, 'the old key is worthless');
  });

  test('throttling: after 5 failures for a username and address, even the right password is refused', async () => {
    await fixtures.user('alice', { password: 'pw' });
    await fixtures.user('bob', { password: 'pw' });
    for (let i = 0; i < 5; i++)
      assert.is((await browser().login('alice', `wrong${i}`)).status, 200);
    const blocked = await browser().login('alice', 'pw');
    // multichat.md: a failed login gets the form again with an error, status 200.
    assert.is(blocked.status, 200);
    assert.match(blocked.body.toString(), /Too many failed login attempts/);
    assert.not.match(String(blocked.headers['set-cookie'] ?? ''), /sessionid=/, 'not logged in');
    assert.is((await browser().login('bob', 'pw')).status, 302, 'other usernames are not affected');
    // A look-alike spelling that logs in as the same user is the same key (NFKC):
    const fullwidth = await browser().login('\uff41lice', 'pw');
    assert.match(fullwidth.body.toString(), /Too many failed login attempts/, '"ａlice" is alice');
  });

  test("login: field errors get Django's login.html error note above the form, counting the fields with errors; a refused login gets its own message instead", async () => {
    await fixtures.user('alice', { password: 'pw' });
    const [one, many] = ['Please correct the error below.', 'Please correct the errors below.'];
    const cases: [string, string, string][] = [
      ['', '', many],
      ['alice', '', one],
      ['   ', 'pw', one],
      // Past 150 characters is no field error in Django 3.2.25's login form.
      ['a'.repeat(151), '', one],
      [
        'alice',
        'wrong',
        'Please enter a correct username and password. Note that both fields may be case-sensitive.',
      ],
      [
        'a'.repeat(151),
        'pw',
        'Please enter a correct username and password. Note that both fields may be case-sensitive.',
      ],
    ];
    for (const [username, password, note] of cases) {
      const client = browser();
      await client.get('/accounts/login/');
      const page = (await client.post('/accounts/login/', { username, password })).body.toString();
      const what = JSON.stringify({ username: username.slice(0, 10), password });
      const alerts = Array.from(
        page.matchAll(/<p class="error form-error"[^>]*role="alert">\s*([^<]*?)\s*<\/p>/g),
        (match) => match[1],
      );
      assert.equal(alerts, [note], what);
      // Above the form, as Django's, so it is read before the fields it is about.
      assert.ok(
        page.indexOf(note) < page.indexOf('<form method="post" action="/accounts/login/"'),
        what,
      );
    }
  });

  test("a username past 150 characters gets Django 3.2.25's invalid-login error: not checked, nothing kept in the layer", async () => {
    await fixtures.user('alice', { password: 'pw' });
    // NFKC first, as Django's UsernameField: "ﬀ" is "ff", 2 characters.
    for (const [username, length] of [
      ['a'.repeat(151), 151],
      ['\ufb00'.repeat(76), 152],
      ['x'.repeat(1_000_000), 1_000_000],
    ] as const) {
      const res = await browser().login(username, 'pw');
      assert.is(res.status, 200);
      // Django's UsernameField leaves it unnormalised, with no max_length
      // validator on the login form: authenticate() finds nobody.
      assert.match(res.body.toString(), /Please enter a correct username/);
      assert.not.match(res.body.toString(), /id_username_error/);
      // A failure would keep the name, megabytes of it, as a key for the whole window.
      const key = `login-failures:${username.normalize('NFKC').toLowerCase()}:127.0.0.1`;
      assert.is(await chat.layer.counters.get(key), 0, `${length} characters: no failure counted`);
    }
    // 150 is still a name to check (and to count, as any other failure).
    const fits = await browser().login('b'.repeat(150), 'pw');
    assert.match(fits.body.toString(), /Please enter a correct username/);
    assert.is(await chat.layer.counters.get(`login-failures:${'b'.repeat(150)}:127.0.0.1`), 1);
    assert.is((await browser().login('alice', 'pw')).status, 302);
  });

  test('a username of megabytes is refused for about what reading the form costs: not normalised, counted in place, not sent back', async () => {
    const client = browser();
    await client.get('/accounts/login/');
    const size = 8 * 1024 * 1024;
    // The same body size both ways: a giant username, or a short one (refused too,
    // 151 characters) and a giant field nobody reads. What reading and parsing
    // the form costs is in both; only the name's own cost is not.
    const giant = client.formBody({ username: 'x'.repeat(size), password: 'pw' });
    const padded = client.formBody({
      username: 'x'.repeat(151),
      password: 'pw',
      pad: 'x'.repeat(size - 151),
    });
    const refused = async (body: Buffer): Promise<void> => {
      const res = await client.postBody('/accounts/login/', body);
      assert.is(res.status, 200);
      assert.match(res.body.toString(), /Please enter a correct username/);
      // Django would show the name again; megabytes of it are not worth sending back.
      assert.ok(res.body.length < 64 * 1024, `a page, not the name (${res.body.length} bytes)`);
    };
    const cpu = await cpuMsOfEach({
      giant: () => refused(giant),
      padded: () => refused(padded),
    });
    // Before, NFKC and an array of 8 million characters made the giant name cost
    // some 400 ms more than the padded form (5-9 times it); now about as much.
    assertCostsAsMuch(cpu.giant, cpu.padded, 'giant username');
  });

  test('throttling: attempts made all at once are counted before any is checked', async () => {
    await fixtures.user('carol', { password: 'pw' });
    const answers = await Promise.all(
      Array.from({ length: 12 }, (_, i) => browser().login('carol', `wrong${i}`)),
    );
    const checked = answers.filter((a) =>
      /Please enter a correct username/.test(a.body.toString()),
    ).length;
    assert.is(checked, 5, 'only the first five were checked; the rest were refused');
  });

  test('throttling: right passwords sent all at once are never taken for failures', async () => {
    // A hash slow enough (tens of milliseconds) that the checks overlap.
    const dave = await fixtures.user('dave');
    await db
      .knex('auth_user')
      .where('id', dave.id)
      .update({ password: await makePassword('pw', 100_000) });
    // Every tab has its form first, so the logins themselves are sent at once.
    const tabs = Array.from({ length: 12 }, browser);
    await Promise.all(tabs.map((tab) => tab.get('/accounts/login/')));
    const fields = { username: 'dave', password: 'pw', next: '/' };
    const answers = await Promise.all(tabs.map((tab) => tab.post('/accounts/login/', fields)));
    const refused = answers.filter((a) => a.status !== 302).map((a) => a.body.toString());
    assert.ok(answers.filter((a) => a.status === 302).length >= 5, 'five log in at least');
    assert.ok(refused.length > 0, 'the checks overlapped (else this tests nothing)');
    for (const body of refused) assert.match(body, /Too many login attempts at once/);
    assert.is((await browser().login('dave', 'pw')).status, 302, 'and the next one logs in');
  });

  test('a password hashed by Django itself logs in', async () => {
    const [encoded] = await runPython<string[]>('django_hashes.py', [
      { make: 'from django', algorithm: 'pbkdf2_sha256', iterations: 260000 },
    ]);
    const user = await fixtures.user('djangouser');
    await db.knex('auth_user').where('id', user.id).update({ password: encoded });
    assert.is((await browser().login('djangouser', 'from django')).status, 302);
    assert.is((await browser().login('djangouser', 'not it')).status, 200);
  });

  test('a cookie sent twice: the last one counts, as in Django (a planted first one changes nothing)', async () => {
    await fixtures.user('alice', { password: 'pw' });
    const client = browser();
    await client.login('alice', 'pw');
    const key = client.cookies.get('sessionid')!;
    const planted = 'x'.repeat(32);
    const withOwnLast = await httpRequest(port, '/', {
      headers: { cookie: `sessionid=${planted}; sessionid=${key}` },
    });
    assert.is(withOwnLast.status, 200, 'the session sent last is used');
    const withOwnFirst = await httpRequest(port, '/', {
      headers: { cookie: `sessionid=${key}; sessionid=${planted}` },
    });
    assert.is(withOwnFirst.status, 302, 'the last one is a bad key: nobody');
  });

  test('bad input: malformed cookies, forged and expired session ids are nobody, and are cleared', async () => {
    const user = await fixtures.user('alice');
    const expiredStore = new SessionStore(db, {
      secret: TEST_SECRET_KEY,
      now: () => new Date(Date.now() - 15 * 24 * 3600 * 1000),
    });
    const expired = await expiredStore.create(user.id);
    for (const cookie of [
      '===;;; sessionid=%%%; =x',
      `sessionid=${'a'.repeat(32)}`,
      'sessionid=../../etc/passwd',
      `sessionid=${expired.key}`,
      "sessionid=' OR 1=1 --",
      'csrftoken=<script>; sessionid=\u00ff\u00fe',
    ]) {
      const res = await httpRequest(port, '/', { headers: { cookie: cookie } });
      assert.is(res.status, 302, cookie);
    }
    const forged = await httpRequest(port, '/accounts/login/', {
      headers: { cookie: `sessionid=${'b'.repeat(32)}` },
    });
    assert.ok(
      ([] as string[])
        .concat(forged.headers['set-cookie'] ?? [])
        .some((c) => /^sessionid=;.*Max-Age=0/.test(c)),
    );
  });

  test('bad input: SQL metacharacters in login fields are just text', async () => {
    await fixtures.user('alice', { password: 'pw' });
    for (const value of [
      "' OR '1'='1",
      "alice'; DROP TABLE auth_user; --",
      '"; --',
      '\u0000',
      'a'.repeat(5000),
      '%00%27',
    ]) {
      const client = browser();
      const res = await client.login(value, value, value);
      assert.is(res.status, 200, JSON.stringify(value.slice(0, 20)));
    }
    assert.is((await browser().login('alice', 'pw')).status, 302, 'auth_user is intact');
  });

  test('bad input: oversized forms get 413 or 400, never a crash', async () => {
    const client = browser();
    await client.get('/accounts/login/');
    const many: Record<string, string> = {};
    for (let i = 0; i < 2000; i++) many[`f${i}`] = 'x';
    assert.is((await client.post('/accounts/login/', many)).status, 400);
    const huge = await httpRequest(port, '/accounts/login/', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', origin: client.origin },
      body: Buffer.alloc(11 * 1024 * 1024, 'a'),
    }).catch(() => ({ status: 413 }));
    assert.is(huge.status, 413);
    await client.get('/accounts/login/');
    const multipart = await client.post(
      '/accounts/login/',
      {},
      { headers: { 'content-type': 'multipart/form-data; boundary=x' } },
    );
    assert.is(multipart.status, 400, 'a malformed multipart body');
    assert.is((await browser().get('/accounts/login/')).status, 200, 'still serving');
  });

  test("forms as Django reads them: a multipart form (a page's FormData) logs in; a body that is no form has no fields, so no token: 403", async () => {
    await fixtures.user('alice', { password: 'pw' });
    const client = browser();
    await client.get('/accounts/login/');
    // FormData encoded as a browser encodes it (multipart), posted to the login form.
    const post = async (form: FormData) => {
      const encoded = new globalThis.Response(form);
      return httpRequest(port, '/accounts/login/', {
        method: 'POST',
        headers: {
          'content-type': encoded.headers.get('content-type')!,
          origin: client.origin,
          ...client.cookieHeader(),
        },
        body: Buffer.from(await encoded.arrayBuffer()),
      });
    };
    const login = (): FormData => {
      const form = new FormData();
      form.set('csrfmiddlewaretoken', client.formToken()!);
      form.set('username', 'alice');
      form.set('password', 'pw');
      return form;
    };
    const form = login();
    form.set('avatar', new Blob(['not read']), 'avatar.png'); // files are left out
    const multipart = await post(form);
    assert.is(multipart.status, 302, multipart.body.toString().slice(0, 200));
    assert.match(String(multipart.headers['set-cookie']), /(^|,)sessionid=/, 'logged in');

    const fields = new FormData();
    for (let i = 0; i < 1001; i++) fields.set(`f${i}`, 'x');
    const refused = await post(fields);
    assert.is(refused.status, 400, 'at most 1000 fields');
    assert.is(refused.headers['x-frame-options'], 'DENY', 'the 400 is a page like any other');

    const files = new FormData();
    for (let i = 0; i < 101; i++) files.append('f', new Blob(['']), `f${i}.txt`);
    assert.is((await post(files)).status, 400, 'at most 100 files, as Django');

    // Exactly the limits is still a form (busboy counts the closing boundary too).
    const full = login();
    for (let i = 0; i < 997; i++) full.set(`f${i}`, 'x');
    for (let i = 0; i < 100; i++) full.append('file', new Blob(['']), `f${i}.txt`);
    assert.is((await post(full)).status, 302, '1000 fields and 100 files: a form');

    // A body cut short inside a file part: the parser errors on the file's stream.
    const truncated = await httpRequest(port, '/accounts/login/', {
      method: 'POST',
      headers: { 'content-type': 'multipart/form-data; boundary=XX', origin: client.origin },
      body: '--XX\r\nContent-Disposition: form-data; name="f"; filename="x.txt"\r\n\r\nabc',
    });
    assert.is(truncated.status, 400, 'a malformed form, not a crash');
    assert.is((await browser().get('/accounts/login/')).status, 200, 'still serving');

    await client.login('alice', 'pw');
    for (const [type, body] of [
      ['application/json', '{"csrfmiddlewaretoken": "x"}'],
      ['text/plain', 'csrfmiddlewaretoken=x'],
    ]) {
      const res = await httpRequest(port, '/accounts/logout/', {
        method: 'POST',
        headers: { 'content-type': type!, origin: client.origin, ...client.cookieHeader() },
        body,
      });
      assert.is(res.status, 403, type);
      assert.match(res.body.toString(), /CSRF token missing/);
    }
    assert.is((await client.get('/')).status, 200, 'still logged in');
  });

  test('with no rooms, the index sends staff to the admin and tells others whom to ask', async () => {
    await fixtures.user('alice', { password: 'pw' });
    await fixtures.user('sam', { password: 'pw', staff: true });
    const visitor = browser();
    await visitor.login('alice', 'pw');
    const forAlice = (await visitor.get('/')).body.toString();
    assert.match(forAlice, /No rooms yet\.\s*Ask an administrator to create one\./);
    assert.not.match(forAlice, /href="\/admin\//, 'no link to a page she cannot use');
    const staff = browser();
    await staff.login('sam', 'pw');
    assert.match((await staff.get('/')).body.toString(), /href="\/admin\/rooms\/new\/"/);
  });

  test('unknown paths get a 404 page in the site layout', async () => {
    const res = await browser().get('/no/such/page/');
    assert.is(res.status, 404);
    assert.match(res.body.toString(), /Page not found/);
    assert.match(res.body.toString(), /class="site-header"/);
  });

  test("a page's path typed without its slash redirects there (Django's APPEND_SLASH), to this site only", async () => {
    const client = browser();
    const admin = await client.get('/admin');
    assert.is(admin.status, 301);
    assert.is(admin.headers.location, '/admin/');
    // The query goes along as it came.
    const login = await client.get('/accounts/login?next=/admin/&a&b=%20');
    assert.is(login.status, 301);
    assert.is(login.headers.location, '/accounts/login/?next=/admin/&a&b=%20');
    for (const path of ['/no/such/page', '//evil.example', '/%2Fevil.example']) {
      assert.is((await client.get(path)).status, 404, path);
    }
    // Under /admin/, not a page: to log in (the admin's catch-all), never to "//".
    assert.is((await client.get('/admin//')).headers.location, '/accounts/login/?next=/admin//');
    // A POST would lose its body on the way: no redirect.
    await client.get('/accounts/login/');
    assert.is((await client.post('/accounts/login', { username: 'x', password: 'y' })).status, 404);
  });

  test('error pages go out through the middleware: security headers, and a signed-in page stays private', async () => {
    await fixtures.user('alice', { password: 'pw' });
    const client = browser();
    await client.login('alice', 'pw');
    for (const [path, status] of [
      ['/no/such/page/', 404],
      ['/accounts/logout/', 405], // GET on a POST-only view
    ] as const) {
      const res = await client.get(path);
      assert.is(res.status, status, path);
      assert.match(res.body.toString(), /Signed in as <strong>alice<\/strong>/, path);
      assert.is(res.headers['x-frame-options'], 'DENY', path);
      assert.match(String(res.headers['content-security-policy']), /default-src 'self'/, path);
      assert.match(String(res.headers.vary), /cookie/i, `${path}: varies by cookie`);
    }
  });

  test('pages carry security headers and a CSP with no third-party sources', async () => {
    const res = await browser().get('/accounts/login/');
    assert.is(res.headers['x-frame-options'], 'DENY');
    assert.is(res.headers['x-content-type-options'], 'nosniff');
    assert.match(String(res.headers['content-security-policy']), /default-src 'self'/);
    assert.not.match(res.body.toString(), /https?:\/\/(?!localhost)/, 'no external resources');
    // An anonymous visitor's login form sets the CSRF cookie: no shared cache may keep it.
    assert.match(String(res.headers['set-cookie']), /csrftoken=/);
    assert.is(res.headers['cache-control'], 'private, no-store');
  });

  test('a page holding the CSRF token is never cached, though the visitor already had the cookie', async () => {
    // Django's login view is never_cache. The form's token unmasks to the
    // visitor's secret: a shared cache that kept it (one that ignores Vary:
    // Cookie, as CDNs do) would hand that secret to everyone, and a token that
    // matches nobody else's cookie.
    const client = browser();
    await client.get('/accounts/login/');
    assert.ok(client.cookies.get('csrftoken'), 'the first visit set the cookie');
    const again = await client.get('/accounts/login/');
    assert.is(again.headers['set-cookie'], undefined, 'nothing new to set');
    assert.ok(client.formToken(), 'the form carries the token');
    assert.is(again.headers['cache-control'], 'private, no-store', 'the form again');
    const failed = await client.post('/accounts/login/', { username: 'nobody', password: 'x' });
    assert.is(failed.status, 200);
    assert.is(failed.headers['cache-control'], 'private, no-store', 'the form after a failure');
    // A page without the token stays cacheable by the rules it had.
    assert.is((await client.get('/no/such/page/')).headers['cache-control'], undefined);
  });

  test.run();
}

const errors = suite('worker http: failing views');
errors(
  'a view that throws gets the 500 page, without a stack trace, and the worker goes on',
  async () => {
    const layer = createLayer('memory://');
    const router = new Router()
      .add('/boom/', () => {
        throw new Error('secret internal detail at /srv/app.ts:42');
      })
      .add('/ok/', () => Response.text('fine'), ['GET']);
    const app: Application = {
      name: 'failing',
      handleHttp: compose([], (request: Request) => router.dispatch(request)),
      consumerFor: () => undefined,
      errorResponse: (status) => Response.html(html`<h1>Error ${status}</h1>`, status),
    };
    const worker = new Worker(layer, app).start();
    const thyme = new Thyme(layer, { allowedHosts: ['localhost'] });
    const { port } = await thyme.listen(0, '127.0.0.1');
    try {
      const res = await httpRequest(port, '/boom/');
      assert.is(res.status, 500);
      assert.is(res.body.toString(), '<h1>Error 500</h1>');
      assert.is((await httpRequest(port, '/ok/')).body.toString(), 'fine');
      assert.is((await httpRequest(port, '/ok/', { method: 'DELETE' })).status, 405);
    } finally {
      await thyme.close();
      await worker.stop();
      await layer.close();
    }
  },
);
errors(
  'a consumer that throws (a bug) closes its socket with 1011, not 1013, and the worker goes on',
  async () => {
    const layer = createLayer('memory://');
    const app: Application = {
      name: 'failing',
      handleHttp: async () => Response.text('unused'),
      consumerFor: () => ({
        receive: (socket, frame) => {
          if (frame.text === 'boom') throw new TypeError('x is undefined');
          socket.send(frame.text ?? '');
        },
      }),
    };
    const worker = new Worker(layer, app).start();
    const thyme = new Thyme(layer, { allowedHosts: ['127.0.0.1'] });
    const { port } = await thyme.listen(0, '127.0.0.1');
    const clients: TestClient[] = [];
    try {
      const failing = await TestClient.open(`ws://127.0.0.1:${port}/`);
      clients.push(failing);
      failing.send('boom');
      assert.is((await within(failing.closed, 5000, 'the socket to close')).code, 1011);
      const next = await TestClient.open(`ws://127.0.0.1:${port}/`);
      clients.push(next);
      next.send('fine');
      assert.is(await next.next(), 'fine');
    } finally {
      for (const client of clients) client.ws.terminate();
      await thyme.close();
      await worker.stop();
      await layer.close();
    }
  },
);
errors.run();
