/**
 * Requests Gredis refuses as tampering are logged as Django 3.2 logs them, over
 * real HTTP with the log read: a SuspiciousOperation at error under
 * `django.security.<its class>` (Django's core/handlers/exception.py), a CSRF
 * failure at warn under `django.security.csrf` as "Forbidden (reason): /path"
 * (middleware/csrf.py), one line each, with status and path, no stack.
 */
import { suite } from './helpers/suite.js';
import * as assert from 'uvu/assert';
import type { Database } from '../src/db/connection.js';
import { BrowserlessClient } from './helpers/browserless.js';
import { sqliteBackend } from './helpers/databases.js';
import { EmbeddedChat, Fixtures, useMigratedDatabase } from './helpers/deployment.js';
import { captureLogs, ERROR, WARN, type CapturedLine } from './helpers/log-capture.js';
import { httpRequest, rawExchange } from './helpers/http-client.js';
import { handshakeStatus } from './helpers/ws-client.js';
import { waitFor } from './helpers/wait.js';

const PASSWORD = 'correct horse';
const database = sqliteBackend();
const test = suite('security log');
let db: Database;
let fixtures: Fixtures;
let chat: EmbeddedChat;
let port: number;
let lines: CapturedLine[];

useMigratedDatabase(test, database, (opened, made) => ([db, fixtures] = [opened, made]));
test.before.each(async () => {
  const logs = captureLogs('info');
  lines = logs.lines;
  chat = await EmbeddedChat.start(db, { logger: logs.logger });
  port = chat.ports[0]!;
});
test.after.each(async () => {
  await chat.stop();
  await database.truncate(db);
});

/** The security lines logged so far (taken off the list), as Django's records would have them. */
function securityLines(): Record<string, unknown>[] {
  const security = lines.filter((line) => 'security' in line);
  lines.splice(0);
  for (const line of security) assert.not.ok('err' in line, 'no stack: a refusal, not a bug');
  return security.map(({ level, msg, security, status, path }) => ({
    level,
    msg,
    security,
    status,
    path,
  }));
}

test('a CSRF failure: warn, django.security.csrf, "Forbidden (reason): /path", 403', async () => {
  const anonymous = new BrowserlessClient(port);
  const noCookie = await anonymous.post('/accounts/login/', { username: 'x', password: 'y' });
  assert.is(noCookie.status, 403);
  await anonymous.get('/accounts/login/');
  const noToken = await anonymous.post(
    '/accounts/login/',
    { username: 'x', password: 'y' },
    { csrf: false },
  );
  assert.is(noToken.status, 403);
  const csrf = (reason: string) => ({
    level: WARN,
    msg: `Forbidden (${reason}): /accounts/login/`,
    security: 'django.security.csrf',
    status: 403,
    path: '/accounts/login/',
  });
  assert.equal(securityLines(), [csrf('CSRF cookie not set.'), csrf('CSRF token missing.')]);
  assert.is((await anonymous.login('nobody', PASSWORD)).status, 200, 'a good form');
  assert.equal(securityLines(), [], 'a request that passes is not logged');
});

test("a Host not allowed: error, django.security.DisallowedHost, Django's message, for a page", async () => {
  const page = await httpRequest(port, '/accounts/login/', {
    headers: { host: 'Evil.example:8000' },
  });
  assert.is(page.status, 400);
  assert.equal(securityLines(), [
    {
      level: ERROR,
      msg: "Invalid HTTP_HOST header: 'Evil.example:8000'. You may need to add 'evil.example' to ALLOWED_HOSTS.",
      security: 'django.security.DisallowedHost',
      status: 400,
      path: '/accounts/login/',
    },
  ]);
  assert.is((await httpRequest(port, '/accounts/login/')).status, 200);
  assert.equal(securityLines(), [], 'an allowed Host is not logged');
});

test("a Host not allowed: error, django.security.DisallowedHost, Django's message, for a handshake", async () => {
  const handshake = await handshakeStatus(`ws://127.0.0.1:${port}/chat/stream/`, {
    origin: `http://localhost:${port}`,
    headers: { host: "it's.bad" },
  });
  assert.is(handshake, 400);
  assert.equal(securityLines(), [
    {
      level: ERROR,
      msg: `Invalid HTTP_HOST header: "it's.bad". The domain name provided is not valid according to RFC 1034/1035.`,
      security: 'django.security.DisallowedHost',
      status: 400,
      path: '/chat/stream/',
    },
  ]);
});

test('a flood of Hosts not allowed, pages and handshakes, any Host: the first line at once, then one counting the rest', async () => {
  const first = await httpRequest(port, '/accounts/login/', { headers: { host: 'evil0.example' } });
  assert.is(first.status, 400);
  const firstLine = {
    level: ERROR,
    msg: "Invalid HTTP_HOST header: 'evil0.example'. You may need to add 'evil0.example' to ALLOWED_HOSTS.",
    security: 'django.security.DisallowedHost',
    status: 400,
    path: '/accounts/login/',
  };
  assert.equal(securityLines(), [firstLine], 'the first, in full, at once');
  const more = 200;
  for (let i = 1; i <= more / 2; i++) {
    const host = `evil${i}.example`;
    assert.is((await httpRequest(port, `/p${i}`, { headers: { host } })).status, 400);
    const handshake = await handshakeStatus(`ws://127.0.0.1:${port}/chat/stream/`, {
      origin: `http://localhost:${port}`,
      headers: { host },
    });
    assert.is(handshake, 400);
  }
  assert.equal(securityLines(), [], 'the rest counted, not written');
  // The count goes out when the burst's interval (10 s) ends.
  await waitFor(() => lines.some((line) => 'security' in line), 15_000, 'the count');
  const [count, ...rest] = lines.splice(0).filter((line) => 'security' in line);
  assert.equal(rest, []);
  assert.match(
    String(count!.msg),
    /^Invalid HTTP_HOST header: 'evil0\.example'\. You may need to add 'evil0\.example' to ALLOWED_HOSTS\. \(200 more like it in 10 s, the last \d+\.\d s ago\)$/,
  );
  assert.equal(
    [count!.level, count!.security, count!.status, count!.more],
    [ERROR, 'django.security.DisallowedHost', 400, more],
  );
});

test('too many form fields or files: error, django.security.TooManyFieldsSent / TooManyFilesSent, 400', async () => {
  const client = new BrowserlessClient(port);
  await client.get('/accounts/login/');
  const urlencoded = await client.postBody('/accounts/login/', Buffer.from('a=1&'.repeat(1000)));
  assert.is(urlencoded.status, 400);
  const multipart = async (form: FormData): Promise<number> => {
    const encoded = new Response(form);
    const res = await httpRequest(port, '/accounts/login/', {
      method: 'POST',
      headers: {
        'content-type': encoded.headers.get('content-type')!,
        origin: client.origin,
        ...client.cookieHeader(),
      },
      body: Buffer.from(await encoded.arrayBuffer()),
    });
    return res.status;
  };
  const fields = new FormData();
  for (let i = 0; i < 1001; i++) fields.set(`f${i}`, 'x');
  assert.is(await multipart(fields), 400);
  const files = new FormData();
  for (let i = 0; i < 101; i++) files.append('f', new Blob(['']), `f${i}.txt`);
  assert.is(await multipart(files), 400);
  const refused = (name: string, msg: string) => ({
    level: ERROR,
    msg,
    security: `django.security.${name}`,
    status: 400,
    path: '/accounts/login/',
  });
  assert.equal(securityLines(), [
    refused('TooManyFieldsSent', 'a form may have at most 1000 fields'),
    refused('TooManyFieldsSent', 'a form may have at most 1000 fields'),
    refused('TooManyFilesSent', 'a form may have at most 100 files'),
  ]);
});

test('a query string past 1000 fields: error, django.security.TooManyFieldsSent, 400, where a page reads its query', async () => {
  await fixtures.user('root', { password: PASSWORD, staff: true, superuser: true });
  const client = new BrowserlessClient(port);
  assert.is((await client.login('root', PASSWORD)).status, 302);
  lines.splice(0);
  // Django's parse_qsl counts one more field than there are '&'s; a search, which any list takes.
  const fields = (count: number) => `?${'q=&'.repeat(count - 1)}q=`;
  assert.is((await client.get(`/admin/users/${fields(1000)}`)).status, 200, '1000 fields');
  assert.is((await client.get(`/accounts/login/${fields(1000)}`)).status, 200, '1000 fields');
  assert.is((await client.get(`/admin/users/${fields(1001)}`)).status, 400);
  assert.is((await client.get(`/accounts/login/?${'&'.repeat(1000)}`)).status, 400);
  // As Django's request.GET, read only when a view asks: the chat page does not.
  assert.is((await client.get(`/${fields(1001)}`)).status, 200);
  const refused = (path: string) => ({
    level: ERROR,
    msg: 'a query string may have at most 1000 fields',
    security: 'django.security.TooManyFieldsSent',
    status: 400,
    path,
  });
  assert.equal(securityLines(), [refused('/admin/users/'), refused('/accounts/login/')]);
});

test('a body past --http-max-body-size: 413, logged as Django logs RequestDataTooBig, a burst folded', async () => {
  const limit = 10 * 1024 * 1024;
  // The second is counted, as a Host not allowed is: anyone can send these at line rate.
  for (let i = 0; i < 2; i++) {
    const answer = await rawExchange(
      port,
      `POST /accounts/login/ HTTP/1.1\r\nHost: localhost\r\nContent-Length: ${limit + 1}\r\n\r\n`,
    );
    assert.match(answer, /^HTTP\/1\.1 413 /);
  }
  assert.equal(securityLines(), [
    {
      level: ERROR,
      msg: `Request body exceeded --http-max-body-size (${limit} bytes).`,
      security: 'django.security.RequestDataTooBig',
      status: 413,
      path: '/accounts/login/',
    },
  ]);
});

test("a list filtered by a lookup the admin refuses: error, django.security.DisallowedModelAdminLookup, Django's message", async () => {
  await fixtures.user('root', { password: PASSWORD, staff: true, superuser: true });
  const client = new BrowserlessClient(port);
  assert.is((await client.login('root', PASSWORD)).status, 302);
  lines.splice(0);
  assert.is((await client.get('/admin/users/?password__startswith=pbkdf2')).status, 400);
  assert.equal(securityLines(), [
    {
      level: ERROR,
      msg: 'Filtering by password__startswith not allowed',
      security: 'django.security.DisallowedModelAdminLookup',
      status: 400,
      path: '/admin/users/',
    },
  ]);
});

test.run();
