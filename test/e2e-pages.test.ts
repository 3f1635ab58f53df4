/**
 * MultiChat's server-rendered pages (the chat page, the admin) in a real browser,
 * as a user on a phone or on the keyboard meets them: Debian's headless Chromium
 * driven by playwright-core, against MultiChat embedded in this process
 * (in-process layer, SQLite), logged in as a superuser.
 */
import type { Browser, Page } from 'playwright-core';
import { suite } from './helpers/suite.js';
import * as assert from 'uvu/assert';
import { addSessionCookie, untilInPage } from './helpers/chromium.js';
import { useBrowserOnEmbeddedChat } from './helpers/browser-chat.js';
import { joinedClient, type EmbeddedChat, type Fixtures } from './helpers/deployment.js';
import type { TestClient } from './helpers/ws-client.js';

/** The whole file must finish well inside the runner's budget, whatever hangs. */
const FILE_DEADLINE_MS = 60_000;
/** No space to break at: only a break inside the word keeps it on a phone's screen. */
const LONG_WORD = 'Supercalifragilisticexpialidocious'.repeat(4);

const test = suite('pages [sqlite, memory layer, Chromium]');
let fixtures: Fixtures;
let chat: EmbeddedChat;
let browser: Browser;
let page: Page;
let base: string;

useBrowserOnEmbeddedChat(test, 'e2e-pages', FILE_DEADLINE_MS, async (state) => {
  ({ fixtures, chat, browser, base } = state);
  const sam = await fixtures.user('sam', { staff: true, superuser: true });
  const context = await browser.newContext();
  context.setDefaultTimeout(10_000);
  await addSessionCookie(context, await fixtures.login(sam));
  page = await context.newPage();
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
    await assertNoSidewaysScroll(path);
  }
  // The notice after a save names the room or user, in a link (Django's words).
  for (const [form, list] of [
    [`/admin/rooms/${room.id}/`, '/admin/rooms/'],
    [`/admin/users/${user.id}/`, '/admin/users/'],
  ] as const) {
    await page.goto(base + form);
    await Promise.all([
      page.waitForURL(base + list),
      page.getByRole('button', { name: 'Save', exact: true }).click(),
    ]);
    await page.locator('.flash-messages a').waitFor();
    await assertNoSidewaysScroll(`${list} with its notice`);
  }
  // Those saves are logged: their history pages and the dashboard's Recent actions name them.
  for (const path of [
    `/admin/rooms/${room.id}/history/`,
    `/admin/users/${user.id}/history/`,
    '/admin/',
  ]) {
    await page.goto(base + path);
    await assertNoSidewaysScroll(path);
  }
});

async function assertNoSidewaysScroll(what: string): Promise<void> {
  const [scroll, visible] = (await page.evaluate(
    '[document.documentElement.scrollWidth, document.documentElement.clientWidth]',
  )) as [number, number];
  assert.ok(scroll <= visible, `${what}: ${scroll} px wide on a ${visible} px screen`);
}

test("on a phone with 12 rooms joined: no sideways scroll, and every pane's send box can be reached and used", async () => {
  const rooms = await Promise.all(
    Array.from({ length: 12 }, (_, i) =>
      fixtures.room(`Room ${i + 1} ${i % 3 === 0 ? LONG_WORD : ''}`),
    ),
  );
  await page.setViewportSize({ width: 375, height: 667 });
  await page.goto(`${base}/`);
  await page.locator('#connection-status[data-state="connected"]').waitFor();
  for (const room of rooms) {
    await page.locator(`.room-link[data-room-id="${room.id}"]`).click();
    await page.locator(`#room-${room.id}`).waitFor();
  }
  const [scroll, visible] = (await page.evaluate(
    '[document.documentElement.scrollWidth, document.documentElement.clientWidth]',
  )) as [number, number];
  assert.ok(scroll <= visible, `${scroll} px wide on a ${visible} px screen`);
  for (const room of rooms) {
    const input = page.locator(`#room-${room.id} input[name="message"]`);
    const send = page.locator(`#room-${room.id} button[type="submit"]`);
    await input.scrollIntoViewIfNeeded();
    for (const [what, control] of [
      ['box', input],
      ['button', send],
    ] as const) {
      const box = (await control.boundingBox())!;
      assert.ok(box, `${room.title}: its ${what} is shown`);
      assert.ok(
        box.x >= 0 && box.x + box.width <= visible,
        `${room.title}: its ${what} at x ${box.x}, ${box.width} wide`,
      );
      assert.ok(
        box.height >= 24 && box.width >= 24,
        `${room.title}: its ${what} is ${box.width}×${box.height}`,
      );
    }
    // The pane fits the screen: its latest messages and its box are seen together.
    const pane = (await page.locator(`#room-${room.id}`).boundingBox())!;
    assert.ok(pane.height <= 667, `${room.title}: its pane is ${pane.height} px tall`);
    // The box is on top, not covered: a tap there reaches it.
    await input.click();
    await input.fill('hi');
  }
});

test('a name or title at its limit in characters fits its form: 150 astral letters to log in, 255 emoji for a room', async () => {
  // Each character is two UTF-16 units, which is what a browser's maxlength counts.
  const name = '𠀀'.repeat(150);
  const title = '😀'.repeat(255);
  await fixtures.user(name, { password: 'astral pw 123' });
  const guest = await browser.newContext();
  try {
    const login = await guest.newPage();
    await login.goto(`${base}/accounts/login/`);
    await login.getByLabel('Username').fill(name);
    assert.is(await login.getByLabel('Username').inputValue(), name, 'the login form kept it all');
    await login.getByLabel('Password').fill('astral pw 123');
    await Promise.all([
      login.waitForURL(`${base}/`),
      login.getByRole('button', { name: 'Log in' }).click(),
    ]);
  } finally {
    await guest.close();
  }
  await page.goto(`${base}/admin/rooms/new/`);
  await page.getByLabel('Title').fill(title);
  assert.is(await page.getByLabel('Title').inputValue(), title, 'the room form kept it all');
  await Promise.all([
    page.waitForURL(`${base}/admin/rooms/`),
    page.getByRole('button', { name: 'Save', exact: true }).click(),
  ]);
  assert.ok((await fixtures.rooms.list()).some((room) => room.title === title));
});

test('a form sent back with errors: focus is on the first field in error, which its error describes', async () => {
  const room = await fixtures.room('General');
  const forms = [
    {
      path: `/admin/rooms/${room.id}/`,
      fill: { Title: '   ' },
      error: 'A title is required.',
    },
    {
      path: '/admin/users/new/',
      fill: { Username: 'zed', Password: 'first try 123', 'Password confirmation': 'second' },
      error: 'The two password fields didn’t match.',
    },
  ];
  for (const { path, fill, error } of forms) {
    await page.goto(base + path);
    for (const [label, value] of Object.entries(fill))
      await page.getByLabel(label, { exact: true }).fill(value);
    await Promise.all([
      page.waitForNavigation(),
      page.getByRole('button', { name: 'Save', exact: true }).click(),
    ]);
    // The browser applies `autofocus` when it next renders the page, just after the load.
    await untilInPage(page, 'document.activeElement !== document.body', 5000, 'focus').catch(
      () => undefined, // the assertions below say what had focus instead
    );
    const focused = (await page.evaluate(`(() => {
      const el = document.activeElement;
      const notes = (el.getAttribute('aria-describedby') || '')
        .split(' ')
        .map((id) => document.getElementById(id)?.textContent)
        .join(' ');
      return { name: el.tagName + '#' + el.id, invalid: el.getAttribute('aria-invalid'), notes };
    })()`)) as { name: string; invalid: string | null; notes: string };
    assert.is(
      focused.invalid,
      'true',
      `${path}: focus is on ${focused.name}, not a field in error`,
    );
    assert.ok(focused.notes.includes(error), `${path}: its description is "${focused.notes}"`);
  }
});

test('a failed login: focus is on the username, which the error describes', async () => {
  await fixtures.user('lee', { password: 'lee pw 12345' });
  const guest = await browser.newContext();
  try {
    const login = await guest.newPage();
    await login.goto(`${base}/accounts/login/`);
    await login.getByLabel('Username').fill('lee');
    await login.getByLabel('Password').fill('not it');
    await Promise.all([
      login.waitForNavigation(),
      login.getByRole('button', { name: 'Log in' }).click(),
    ]);
    // An alert already in the page when it loads is not announced: the error is
    // heard only as the description of the field that has focus.
    await untilInPage(
      login,
      "document.activeElement.id === 'id_username'",
      5000,
      'focus on the username',
    );
    const notes =
      (await login.evaluate(`(document.activeElement.getAttribute('aria-describedby') || '')
      .split(' ')
      .map((id) => document.getElementById(id)?.textContent)
      .join(' ')`)) as string;
    assert.ok(
      notes.includes('Please enter a correct username and password.'),
      `the username's description is "${notes}"`,
    );
  } finally {
    await guest.close();
  }
});

test("the last room in the list deleted while its pane has focus: focus goes to the room list's heading, not to nowhere, and the list says it is empty", async () => {
  for (const room of await fixtures.rooms.list()) await fixtures.rooms.delete(room.id);
  const room = await fixtures.room('Only room');
  await page.setViewportSize({ width: 375, height: 667 });
  await page.goto(`${base}/`);
  await page.locator('#connection-status[data-state="connected"]').waitFor();
  await page.locator(`.room-link[data-room-id="${room.id}"]`).focus();
  await page.keyboard.press('Enter');
  await page.locator(`#room-${room.id} input[name="message"]:focus`).waitFor();
  const admin = await page.context().newPage();
  try {
    await admin.goto(`${base}/admin/rooms/${room.id}/delete/`);
    await Promise.all([
      admin.waitForURL(`${base}/admin/rooms/`),
      admin.getByRole('button', { name: 'Yes, I’m sure' }).click(),
    ]);
  } finally {
    await admin.close();
  }
  await page.locator(`#room-${room.id}`).waitFor({ state: 'detached' });
  await page.locator('#alerts .alert-item').waitFor();
  const focused = (await page.evaluate(
    "document.activeElement.tagName + '#' + document.activeElement.id",
  )) as string;
  assert.is(focused, 'H1#rooms-heading');
  // What is read next: not how to use a list now empty, but that it is.
  assert.ok(await page.getByText('No rooms yet.').isVisible(), 'the list says it is empty');
  assert.not.ok(await page.locator('#rooms-hint').isVisible(), 'no hint for an empty list');
});

test("on a phone (360 and 375 px wide), the admin's tables fit their box: none scrolls sideways, cutting off the action links", async () => {
  await fixtures.room('Lobby');
  for (const width of [360, 375]) {
    await page.setViewportSize({ width, height: 667 });
    // The dashboard has no table: it counts rooms and users and links to their lists.
    for (const path of ['/admin/rooms/', '/admin/users/']) {
      await page.goto(base + path);
      const boxes = (await page.evaluate(
        "[...document.querySelectorAll('.table-wrap')].map((w) => [w.scrollWidth, w.clientWidth])",
      )) as [number, number][];
      assert.ok(boxes.length > 0, `${path}: a table is shown`);
      for (const [scroll, visible] of boxes)
        assert.ok(
          scroll <= visible,
          `${width} px, ${path}: a table ${scroll} px wide in ${visible}`,
        );
    }
  }
});

test("on a phone, a username box does not capitalise its first letter: usernames are case-sensitive ('sam' is not 'Sam')", async () => {
  const guest = await browser.newContext({ isMobile: true, hasTouch: true });
  try {
    const login = await guest.newPage();
    await login.goto(`${base}/accounts/login/`);
    assert.is(await login.getByLabel('Username').getAttribute('autocapitalize'), 'none');
  } finally {
    await guest.close();
  }
  await page.goto(`${base}/admin/users/new/`);
  assert.is(
    await page.getByLabel('Username', { exact: true }).getAttribute('autocapitalize'),
    'none',
  );
});

test('enter and leave notices are read as words: their arrows are for the eye only', async () => {
  const room = await fixtures.room('Notices');
  await page.setViewportSize({ width: 1280, height: 800 });
  await page.goto(`${base}/`);
  await page.locator('#connection-status[data-state="connected"]').waitFor();
  await page.locator(`.room-link[data-room-id="${room.id}"]`).click();
  await page.locator(`#room-${room.id}`).waitFor();
  const clients: TestClient[] = [];
  try {
    const ann = await joinedClient(chat.ports[0]!, fixtures, 'ann', room.id, clients);
    ann.close();
    await page.locator(`#room-${room.id} .notice-leave`).waitFor();
  } finally {
    for (const client of clients) client.close();
  }
  // What a screen reader reads of the list, and announces as the notices come (aria-live).
  const read = await page.locator(`#room-${room.id} .messages`).ariaSnapshot();
  assert.match(read, /ann joined/);
  assert.match(read, /ann left/);
  assert.not.match(read, /[→←]/, `the list reads:\n${read}`);
});

test.run();
