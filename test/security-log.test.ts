/**
 * Requests Gredis refuses as tampering are logged as Django 3.2 logs them, over
 * real HTTP with the log read: a SuspiciousOperation at error under
 * `django.security.<its class>` (Django's core/handlers/exception.py), a CSRF
 * failure at warn under `django.security.csrf` as "Forbidden (reason): /path"
 * (middleware/csrf.py), with status and path, no stack. Anyone can send them at
 * line rate: a burst of one logger's is the first line at once, then one counting the rest.
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
// Counted bursts are written after 1 s, not the default 10: each flood's test waits for its count.
process.env.GREDIS_LOG_FOLD_SECONDS = '1';
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

/** What a refusal is logged as; `path` the login page's unless said. */
function refusal(
  level: number,
  name: string,
  msg: string,
  status: number,
  path = '/accounts/login/',
): Record<string, unknown> {
  return { level, msg, security: `django.security.${name}`, status, path };
}

/** A line counting like ones, as written at the end of each of the burst's intervals. */
const COUNT = /^(.*) \((\d+) more like it in 1 s, the last \d+\.\d s ago\)$/s;

/**
 * After a burst of `sent` like refusals: the first written at once, in full;
 * the rest counted, in a line at the end of each of the burst's intervals (1 s
 * here) while they came: one if the flood took under a second, more if not.
 * A count line carries the first's message and the last refusal's details
 * (`last`, the first's unless said).
 */
async function assertFolded(
  first: Record<string, unknown>,
  sent: number,
  last = first,
): Promise<void> {
  let counted = 0;
  const countedIn = (line: Record<string, unknown>) => {
    const said = COUNT.exec(String(line.msg));
    assert.ok(said, `written in full, not counted: ${String(line.msg)}`);
    assert.equal({ ...line, msg: said[1] }, { ...last, msg: first.msg }, 'what a count carries');
    counted += Number(said[2]);
  };
  const [written, ...counts] = securityLines();
  assert.equal(written, first, 'the first, in full, at once');
  counts.forEach(countedIn);
  await waitFor(
    () => {
      securityLines().forEach(countedIn);
      return counted >= sent - 1;
    },
    5_000,
    'the count',
  );
  assert.is(counted, sent - 1);
}

/** A multipart form POSTed to the login page with `client`'s CSRF cookie and origin. */
async function postMultipart(client: BrowserlessClient, form: FormData): Promise<number> {
  return (await client.postMultipart('/accounts/login/', form)).status;
}

/** A form of `count` fields, or of `count` files. */
function formOf(count: number, what: 'fields' | 'files'): FormData {
  const form = new FormData();
  for (let i = 0; i < count; i++)
    if (what === 'fields') form.set(`f${i}`, 'x');
    else form.append('f', new Blob(['']), `f${i}.txt`);
  return form;
}

/** A client logged in as a superuser, its login's lines taken off. */
async function superuser(): Promise<BrowserlessClient> {
  await fixtures.user('root', { password: PASSWORD, staff: true, superuser: true });
  const client = new BrowserlessClient(port);
  assert.is((await client.login('root', PASSWORD)).status, 302);
  lines.splice(0);
  return client;
}

const BURST = 20;

const csrf = (reason: string) =>
  refusal(WARN, 'csrf', `Forbidden (${reason}): /accounts/login/`, 403);

test('a CSRF failure: warn, django.security.csrf, "Forbidden (reason): /path", 403: no cookie', async () => {
  const anonymous = new BrowserlessClient(port);
  const noCookie = await anonymous.post('/accounts/login/', { username: 'x', password: 'y' });
  assert.is(noCookie.status, 403);
  assert.equal(securityLines(), [csrf('CSRF cookie not set.')]);
});

test('a CSRF failure: warn, django.security.csrf, "Forbidden (reason): /path", 403: no token', async () => {
  const anonymous = new BrowserlessClient(port);
  await anonymous.get('/accounts/login/');
  const noToken = await anonymous.post(
    '/accounts/login/',
    { username: 'x', password: 'y' },
    { csrf: false },
  );
  assert.is(noToken.status, 403);
  assert.equal(securityLines(), [csrf('CSRF token missing.')]);
  assert.is((await anonymous.login('nobody', PASSWORD)).status, 200, 'a good form');
  assert.equal(securityLines(), [], 'a request that passes is not logged');
});

test('a flood of CSRF failures: the first line at once, then one counting the rest', async () => {
  const anonymous = new BrowserlessClient(port);
  for (let i = 0; i < BURST; i++) {
    const refused = await anonymous.post('/accounts/login/', { username: 'x', password: 'y' });
    assert.is(refused.status, 403);
  }
  await assertFolded(csrf('CSRF cookie not set.'), BURST);
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
  await assertFolded(firstLine, more + 1, { ...firstLine, path: '/chat/stream/' });
});

const tooManyFields = refusal(
  ERROR,
  'TooManyFieldsSent',
  'a form may have at most 1000 fields',
  400,
);
const tooManyFiles = refusal(ERROR, 'TooManyFilesSent', 'a form may have at most 100 files', 400);

test('too many form fields: error, django.security.TooManyFieldsSent, 400, urlencoded', async () => {
  const client = new BrowserlessClient(port);
  await client.get('/accounts/login/');
  const urlencoded = await client.postBody('/accounts/login/', Buffer.from('a=1&'.repeat(1000)));
  assert.is(urlencoded.status, 400);
  assert.equal(securityLines(), [tooManyFields]);
});

test('too many form fields: error, django.security.TooManyFieldsSent, 400, multipart', async () => {
  const client = new BrowserlessClient(port);
  await client.get('/accounts/login/');
  assert.is(await postMultipart(client, formOf(1001, 'fields')), 400);
  assert.equal(securityLines(), [tooManyFields]);
});

test('too many form files: error, django.security.TooManyFilesSent, 400', async () => {
  const client = new BrowserlessClient(port);
  await client.get('/accounts/login/');
  assert.is(await postMultipart(client, formOf(101, 'files')), 400);
  assert.equal(securityLines(), [tooManyFiles]);
});

test('a flood of forms with too many fields: the first line at once, then one counting the rest', async () => {
  const client = new BrowserlessClient(port);
  await client.get('/accounts/login/');
  for (let i = 0; i < BURST; i++) {
    const body = Buffer.from('a=1&'.repeat(1000));
    assert.is((await client.postBody('/accounts/login/', body)).status, 400);
  }
  await assertFolded(tooManyFields, BURST);
});

test('a flood of forms with too many files: the first line at once, then one counting the rest', async () => {
  const client = new BrowserlessClient(port);
  await client.get('/accounts/login/');
  for (let i = 0; i < BURST; i++) assert.is(await postMultipart(client, formOf(101, 'files')), 400);
  await assertFolded(tooManyFiles, BURST);
});

// Django's parse_qsl counts one more field than there are '&'s; a search, which any list takes.
const queryOf = (count: number) => `?${'q=&'.repeat(count - 1)}q=`;
const queryRefused = (path: string) =>
  refusal(ERROR, 'TooManyFieldsSent', 'a query string may have at most 1000 fields', 400, path);

test('a query string past 1000 fields: error, django.security.TooManyFieldsSent, 400, where a page reads its query: an admin list', async () => {
  const client = await superuser();
  assert.is((await client.get(`/admin/users/${queryOf(1000)}`)).status, 200, '1000 fields');
  assert.is((await client.get(`/admin/users/${queryOf(1001)}`)).status, 400);
  // As Django's request.GET, read only when a view asks: the chat page does not.
  assert.is((await client.get(`/${queryOf(1001)}`)).status, 200);
  assert.equal(securityLines(), [queryRefused('/admin/users/')]);
});

test('a query string past 1000 fields: error, django.security.TooManyFieldsSent, 400, where a page reads its query: the login page', async () => {
  const client = new BrowserlessClient(port);
  assert.is((await client.get(`/accounts/login/${queryOf(1000)}`)).status, 200, '1000 fields');
  assert.is((await client.get(`/accounts/login/?${'&'.repeat(1000)}`)).status, 400);
  assert.equal(securityLines(), [queryRefused('/accounts/login/')]);
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

const lookupRefused = refusal(
  ERROR,
  'DisallowedModelAdminLookup',
  'Filtering by password__startswith not allowed',
  400,
  '/admin/users/',
);
const toFieldRefused = refusal(
  ERROR,
  'DisallowedModelAdminToField',
  'The field password cannot be referenced.',
  400,
  '/admin/users/',
);

test("a list filtered by a lookup the admin refuses: error, django.security.DisallowedModelAdminLookup, Django's message", async () => {
  const client = await superuser();
  assert.is((await client.get('/admin/users/?password__startswith=pbkdf2')).status, 400);
  assert.equal(securityLines(), [lookupRefused]);
});

test('a flood of lookups the admin refuses: the first line at once, then one counting the rest', async () => {
  const client = await superuser();
  for (let i = 0; i < BURST; i++)
    assert.is((await client.get('/admin/users/?password__startswith=pbkdf2')).status, 400);
  await assertFolded(lookupRefused, BURST);
});

test('a flood of `_to_field`s the admin refuses: the first line at once, then one counting the rest', async () => {
  const client = await superuser();
  for (let i = 0; i < BURST; i++)
    assert.is((await client.get('/admin/users/?_to_field=password')).status, 400);
  await assertFolded(toFieldRefused, BURST);
});

test.run();
