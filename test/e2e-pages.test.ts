/**
 * MultiChat's server-rendered pages (the chat page, the admin) in a real browser,
 * as a user on a phone or on the keyboard meets them: Debian's headless Chromium
 * driven by playwright-core, against MultiChat embedded in this process
 * (in-process layer, SQLite), logged in as a superuser.
 */
import { chromium, type Browser, type Page } from 'playwright-core';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { CHROMIUM, CHROMIUM_ARGS, killChildren } from './helpers/chromium.js';
import { sqliteBackend } from './helpers/databases.js';
import { EmbeddedChat, Fixtures } from './helpers/deployment.js';

/** The whole file must finish well inside the runner's budget, whatever hangs. */
const FILE_DEADLINE_MS = 60_000;
/** No space to break at: only a break inside the word keeps it on a phone's screen. */
const LONG_WORD = 'Supercalifragilisticexpialidocious'.repeat(4);

const test = suite('pages [sqlite, memory layer, Chromium]');
const database = sqliteBackend();
let fixtures: Fixtures;
let chat: EmbeddedChat;
let browser: Browser | undefined;
let page: Page;
let base: string;

const watchdog = setTimeout(() => {
  console.error(`e2e-pages: still running after ${FILE_DEADLINE_MS} ms; killing everything`);
  killChildren();
  process.exit(1);
}, FILE_DEADLINE_MS);
watchdog.unref();

test.before(async () => {
  await database.setup();
  fixtures = new Fixtures(await database.openMigrated());
  const sam = await fixtures.user('sam', { staff: true, superuser: true });
  chat = await EmbeddedChat.start(fixtures.db);
  base = `http://localhost:${chat.ports[0]}`;
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
    timeout: 30_000,
  });
  const context = await browser.newContext();
  context.setDefaultTimeout(10_000);
  await context.addCookies([
    { name: 'sessionid', value: await fixtures.login(sam), domain: 'localhost', path: '/' },
  ]);
  page = await context.newPage();
});

test.after(async () => {
  await browser?.close();
  await chat?.stop();
  killChildren();
  await database.teardown();
  clearTimeout(watchdog);
});

test('on a phone, no page scrolls sideways: a room title or a username without spaces breaks', async () => {
  const room = await fixtures.room(LONG_WORD);
  const user = await fixtures.user('u'.repeat(150));
  await page.setViewportSize({ width: 375, height: 667 });
  for (const path of [
    '/',
    `/admin/rooms/${room.id}/`,
    `/admin/rooms/${room.id}/delete/`,
    `/admin/users/${user.id}/`,
    `/admin/users/${user.id}/delete/`,
  ]) {
    await page.goto(base + path);
    const [scroll, visible] = (await page.evaluate(
      '[document.documentElement.scrollWidth, document.documentElement.clientWidth]',
    )) as [number, number];
    assert.ok(scroll <= visible, `${path}: ${scroll} px wide on a ${visible} px screen`);
  }
});

test.run();
