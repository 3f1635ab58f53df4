/**
 * Every MultiChat page, in the states a user meets it in (a form sent back with
 * errors, the chat with a room open and an alert shown, the CSRF 403, a 404),
 * audited in Debian's headless Chromium against what multichat.md asks of them
 * ("accessible (labels, keyboard), pleasant on a laptop and a phone"), in WCAG
 * 2.2 AA's terms: names, headings, landmarks, focus, contrast, tap targets.
 * MultiChat is embedded in this process (in-process layer, SQLite).
 */
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { suite } from './helpers/suite.js';
import * as assert from 'uvu/assert';
import type { Room } from '../src/apps/multichat/rooms.js';
import type { User } from '../src/auth/users.js';
import { addSessionCookie } from './helpers/chromium.js';
import { useBrowserOnEmbeddedChat } from './helpers/browser-chat.js';
import { contrastRatio } from './helpers/contrast.js';
import type { Fixtures } from './helpers/deployment.js';

/** The whole file must finish well inside the runner's budget, whatever hangs. */
const FILE_DEADLINE_MS = 120_000;
const PHONE = { viewport: { width: 375, height: 667 }, isMobile: true, hasTouch: true };
const LAPTOP = { viewport: { width: 1280, height: 800 } };

const test = suite('accessibility [sqlite, memory layer, Chromium]');
let fixtures: Fixtures;
let browser: Browser;
let base: string;
let admin: User;
let lee: User;
let general: Room;
let staffRoom: Room;

useBrowserOnEmbeddedChat(test, 'e2e-accessibility', FILE_DEADLINE_MS, async (state) => {
  ({ fixtures, browser, base } = state);
  admin = await fixtures.user('sam', { staff: true, superuser: true });
  lee = await fixtures.user('lee', { password: 'lee pw 12345' });
  general = await fixtures.room('General');
  staffRoom = await fixtures.room('Staff lounge', true);
});

/** A browser context logged in as `user`, or as nobody. */
async function contextFor(
  user: User | undefined,
  options: Parameters<Browser['newContext']>[0],
): Promise<BrowserContext> {
  const context = await browser.newContext(options);
  context.setDefaultTimeout(10_000);
  if (user) {
    await addSessionCookie(context, await fixtures.login(user));
  }
  return context;
}

async function submit(page: Page, button: string): Promise<void> {
  await Promise.all([
    page.waitForNavigation(),
    page.getByRole('button', { name: button, exact: true }).click(),
  ]);
}

/** The chat page, connected. */
async function openChat(page: Page): Promise<void> {
  await page.goto(`${base}/`);
  await page.locator('#connection-status[data-state="connected"]').waitFor();
}

/** The chat page with General open, and a refusal shown in its pane (a message too long). */
async function openChatWithAlert(page: Page): Promise<void> {
  await openChat(page);
  await page.locator(`.room-link[data-room-id="${general.id}"]`).click();
  const input = page.locator(`#room-${general.id}-input`);
  await input.fill('x'.repeat(5000));
  await input.press('Enter');
  await page.locator(`#room-${general.id} .alert-item`).waitFor();
}

interface PageState {
  name: string;
  /** Logged in as the superuser, else as nobody. */
  admin: boolean;
  open(page: Page): Promise<void>;
}

/** Every page and the states of it that look different: what each test audits. */
function pageStates(): PageState[] {
  const path = (name: string, loggedIn = true): PageState => ({
    name,
    admin: loggedIn,
    open: async (page) => void (await page.goto(base + name)),
  });
  return [
    path('/accounts/login/', false),
    {
      name: 'a refused login',
      admin: false,
      async open(page) {
        await page.goto(`${base}/accounts/login/`);
        await page.getByLabel('Username').fill('lee');
        await page.getByLabel('Password').fill('not it');
        await submit(page, 'Log in');
      },
    },
    {
      name: 'the CSRF 403 page',
      admin: false,
      async open(page) {
        await page.goto(`${base}/accounts/login/`);
        await page.evaluate(
          `document.querySelector('[name=csrfmiddlewaretoken]').value = 'x'.repeat(64)`,
        );
        await page.getByLabel('Username').fill('lee');
        await page.getByLabel('Password').fill('lee pw 12345');
        await submit(page, 'Log in');
        await page.getByRole('heading', { name: 'Forbidden' }).waitFor();
      },
    },
    { name: 'the chat', admin: true, open: openChat },
    { name: 'the chat with a room open and an alert', admin: true, open: openChatWithAlert },
    path('/admin/'),
    path('/admin/rooms/'),
    path('/admin/rooms/new/'),
    path(`/admin/rooms/${general.id}/`),
    path(`/admin/rooms/${general.id}/delete/`),
    path(`/admin/rooms/${general.id}/history/`),
    path('/admin/users/'),
    path('/admin/users/new/'),
    path(`/admin/users/${lee.id}/`),
    path(`/admin/users/${lee.id}/password/`),
    path(`/admin/users/${lee.id}/delete/`),
    path(`/admin/users/${lee.id}/history/`),
    {
      name: 'the add-user form sent back with errors',
      admin: true,
      async open(page) {
        await page.goto(`${base}/admin/users/new/`);
        await page.getByLabel('Username', { exact: true }).fill('no spaces allowed');
        await page.getByLabel('Password', { exact: true }).fill('one password 123');
        await page.getByLabel('Password confirmation').fill('another one 456');
        await submit(page, 'Save');
      },
    },
    {
      name: 'the set-password form sent back empty',
      admin: true,
      async open(page) {
        await page.goto(`${base}/admin/users/${lee.id}/password/`);
        // The server's errors, not the browser's: this page is what a user sees without them.
        await page.evaluate(`document.querySelector('form.admin-form').noValidate = true`);
        await submit(page, 'Change password');
      },
    },
    {
      name: 'the rooms list with a notice',
      admin: true,
      async open(page) {
        await page.goto(`${base}/admin/rooms/${staffRoom.id}/`);
        await submit(page, 'Save');
        await page.locator('.flash-messages').waitFor();
      },
    },
    // That save is logged: its room's history lists it, the dashboard's Recent actions too.
    path(`/admin/rooms/${staffRoom.id}/history/`),
    {
      name: "the dashboard's Recent actions, after that save",
      admin: true,
      open: async (page) => void (await page.goto(`${base}/admin/`)),
    },
    path('/no/such/page/'),
  ];
}

/** Opens every page state in `options`' browser and collects `check`'s findings, named by page. */
async function auditEvery(
  options: Parameters<Browser['newContext']>[0],
  check: (page: Page) => Promise<string[]>,
): Promise<string[]> {
  const contexts = {
    admin: await contextFor(admin, options),
    guest: await contextFor(undefined, options),
  };
  const findings: string[] = [];
  try {
    const pages = { admin: await contexts.admin.newPage(), guest: await contexts.guest.newPage() };
    for (const state of pageStates()) {
      const page = state.admin ? pages.admin : pages.guest;
      await state.open(page);
      for (const finding of await check(page)) findings.push(`${state.name}: ${finding}`);
    }
  } finally {
    await contexts.admin.close();
    await contexts.guest.close();
  }
  return findings;
}

/** Controls and landmarks without a name, in Chromium's own accessibility tree. */
async function unnamed(page: Page): Promise<string[]> {
  const cdp = await page.context().newCDPSession(page);
  try {
    const { nodes } = (await cdp.send('Accessibility.getFullAXTree')) as {
      nodes: { ignored: boolean; role?: { value: string }; name?: { value: string } }[];
    };
    const named = ['button', 'link', 'textbox', 'checkbox', 'combobox', 'region', 'navigation'];
    return nodes
      .filter((n) => !n.ignored && named.includes(n.role?.value ?? '') && !n.name?.value?.trim())
      .map((n) => `a ${n.role!.value} without a name`);
  } finally {
    await cdp.detach();
  }
}

/** Headings in order (h1 first, no level skipped), one main, references that resolve, unique ids. */
const STRUCTURE = `(() => {
  const found = [];
  const headings = [...document.querySelectorAll('h1, h2, h3, h4, h5, h6')];
  let level = 0;
  for (const h of headings) {
    const next = Number(h.tagName[1]);
    if (next > level + 1) found.push('h' + next + ' "' + h.textContent.trim() + '" after h' + level);
    level = next;
  }
  if (document.querySelectorAll('h1').length !== 1) found.push(document.querySelectorAll('h1').length + ' h1');
  const mains = document.querySelectorAll('main, [role=main]').length;
  if (mains !== 1) found.push(mains + ' main landmarks');
  const ids = new Set();
  for (const el of document.querySelectorAll('[id]')) {
    if (ids.has(el.id)) found.push('id ' + el.id + ' twice');
    ids.add(el.id);
  }
  for (const el of document.querySelectorAll('[aria-describedby], [aria-labelledby], label[for]'))
    for (const attr of ['aria-describedby', 'aria-labelledby', 'for'])
      for (const id of (el.getAttribute(attr) || '').split(/\\s+/).filter(Boolean))
        if (!document.getElementById(id)) found.push(attr + ' names no element: ' + id);
  for (const el of document.querySelectorAll('[aria-invalid=true]'))
    if (!el.getAttribute('aria-describedby')) found.push(el.id + ' is invalid, and no error describes it');
  return found;
})()`;

/**
 * Tabs through the page from its top: every stop shows a focus ring (an
 * outline of 2 px or more) and is on screen and not under anything (WCAG 2.4.7,
 * 2.4.11). Returns the findings and the stops' names.
 */
async function tabThrough(page: Page): Promise<{ findings: string[]; stops: string[] }> {
  // The focus starting point: the top of the page, wherever autofocus put focus.
  await page.evaluate(`(() => {
    const start = document.createElement('span');
    start.id = 'tab-start';
    start.tabIndex = -1;
    document.body.prepend(start);
    start.focus();
    window.scrollTo(0, 0);
  })()`);
  const findings: string[] = [];
  const stops: string[] = [];
  for (let i = 0; i < 60; i++) {
    await page.keyboard.press('Tab');
    const stop = (await page.evaluate(`(() => {
      const el = document.activeElement;
      if (!el || el === document.body) return null;
      const style = getComputedStyle(el);
      const box = el.getBoundingClientRect();
      const x = Math.min(innerWidth - 1, Math.max(0, box.left + box.width / 2));
      const y = Math.min(innerHeight - 1, Math.max(0, box.top + box.height / 2));
      const top = document.elementFromPoint(x, y);
      return {
        name: el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') + ' "' +
          (el.getAttribute('aria-label') || el.textContent || el.name || '').trim().slice(0, 30) + '"',
        ring: style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) >= 2,
        onScreen: box.bottom > 0 && box.top < innerHeight && box.right > 0 && box.left < innerWidth,
        covered: top !== null && !el.contains(top) && !top.contains(el) && !(top.control === el),
      };
    })()`)) as { name: string; ring: boolean; onScreen: boolean; covered: boolean } | null;
    if (!stop || stops.includes(stop.name)) break;
    stops.push(stop.name);
    if (!stop.ring) findings.push(`${stop.name} has focus and no visible ring`);
    if (!stop.onScreen) findings.push(`${stop.name} has focus off screen`);
    if (stop.covered) findings.push(`${stop.name} has focus under something else`);
  }
  await page.evaluate(`document.getElementById('tab-start').remove()`);
  return { findings, stops };
}

/**
 * Every piece of text shown, placeholders and generated content (::before,
 * ::after) included, with its colour and what is behind it, both composited to
 * opaque rgb() (backgrounds of ancestors, opacity): Node computes the ratio.
 * Disabled controls are exempt (WCAG 1.4.3).
 */
const TEXT_COLOURS = `(() => {
  const parse = (css) => {
    const m = css.match(/^rgba?\\(([^)]+)\\)$/);
    if (!m) throw new Error('a colour the audit cannot read: ' + css);
    const [r, g, b, a = 1] = m[1].split(/[\\s,/]+/).filter(Boolean).map(Number);
    return { r, g, b, a };
  };
  const over = (top, bottom) => ({
    r: top.r * top.a + bottom.r * (1 - top.a),
    g: top.g * top.a + bottom.g * (1 - top.a),
    b: top.b * top.a + bottom.b * (1 - top.a),
    a: 1,
  });
  const css = (c) => 'rgb(' + c.r + ', ' + c.g + ', ' + c.b + ')';
  const behind = (el) => {
    const layers = [];
    for (let node = el; node; node = node.parentElement) {
      const colour = parse(getComputedStyle(node).backgroundColor);
      if (colour.a > 0) layers.unshift(colour);
      if (colour.a >= 1) break;
    }
    return layers.reduce((bottom, top) => over(top, bottom), { r: 255, g: 255, b: 255, a: 1 });
  };
  const opacity = (el) => {
    let value = 1;
    for (let node = el; node; node = node.parentElement) value *= Number(getComputedStyle(node).opacity);
    return value;
  };
  const shown = (el) => {
    const box = el.getBoundingClientRect();
    return box.width > 1 && box.height > 1 && getComputedStyle(el).visibility !== 'hidden';
  };
  const describe = (el, what) =>
    el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') + (el.className ? '.' + String(el.className).trim().replace(/\\s+/g, '.') : '') + ' ' + what;
  const samples = [];
  const sample = (el, style, what) => {
    const bg = behind(el);
    const fg = parse(style.color);
    const size = parseFloat(style.fontSize);
    const large = size >= 24 || (Number(style.fontWeight) >= 700 && size >= 18.66);
    samples.push({
      what: describe(el, what),
      text: css(over({ ...fg, a: fg.a * opacity(el) }, bg)),
      behind: css(bg),
      large,
    });
  };
  const exempt = (el) => el.closest(':disabled');
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const done = new Set();
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const el = node.parentElement;
    if (!node.textContent.trim() || done.has(el) || !shown(el) || exempt(el)) continue;
    done.add(el);
    sample(el, getComputedStyle(el), '"' + el.textContent.trim().slice(0, 30) + '"');
  }
  for (const el of document.querySelectorAll('*')) {
    if (!shown(el) || exempt(el)) continue;
    for (const pseudo of ['::before', '::after']) {
      const style = getComputedStyle(el, pseudo);
      if (/^"[^"]*\\w/.test(style.content)) sample(el, style, pseudo + ' ' + style.content);
    }
    // Its colour whenever it is shown, which is while the box is empty.
    if (el.matches('input[placeholder]'))
      sample(el, getComputedStyle(el, '::placeholder'), 'placeholder "' + el.placeholder + '"');
  }
  return samples;
})()`;

interface TextSample {
  what: string;
  text: string;
  behind: string;
  large: boolean;
}

async function lowContrast(page: Page): Promise<string[]> {
  const samples = (await page.evaluate(TEXT_COLOURS)) as TextSample[];
  return samples.flatMap(({ what, text, behind, large }) => {
    const ratio = contrastRatio(text, behind);
    return ratio < (large ? 3 : 4.5)
      ? [`${what}: ${text} on ${behind}, ${ratio.toFixed(2)}:1`]
      : [];
  });
}

/**
 * Controls smaller than 24×24 CSS px (WCAG 2.5.8), but for links within a
 * sentence (its exception: their size is the line's).
 */
const SMALL_TARGETS = `(() => {
  const found = [];
  const controls = document.querySelectorAll(
    'a[href], button, input:not([type=hidden]), select, textarea, [tabindex="0"]',
  );
  for (const el of controls) {
    const box = el.getBoundingClientRect();
    if (box.width === 0 || el.closest('.visually-hidden') || el.matches('.skip-link')) continue;
    if (el.matches('a')) {
      const rest = el.parentElement.textContent.replace(el.textContent, '');
      if (/\\p{L}/u.test(rest)) continue;
    }
    if (box.width < 24 || box.height < 24)
      found.push(el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') + ' "' +
        (el.textContent || el.name).trim().slice(0, 30) + '" is ' +
        box.width.toFixed(1) + '×' + box.height.toFixed(1));
  }
  const root = document.documentElement;
  if (root.scrollWidth > root.clientWidth)
    found.push('the page is ' + root.scrollWidth + ' px wide on a ' + root.clientWidth + ' px screen');
  return found;
})()`;

test('every page: each control and region has a name, headings go in order, one main, and Tab reaches every control with its focus ring in view', async () => {
  const findings = await auditEvery(LAPTOP, async (page) => {
    const { findings, stops } = await tabThrough(page);
    return [
      ...(await unnamed(page)),
      ...((await page.evaluate(STRUCTURE)) as string[]),
      ...findings,
      ...(stops.length === 0 ? ['Tab reaches nothing'] : []),
      ...(stops[0]?.startsWith('a "Skip to content"') ? [] : [`the first stop is ${stops[0]}`]),
    ];
  });
  assert.equal(findings, []);
});

test('every page, in the light and the dark scheme: text, placeholders included, has a contrast of 4.5:1 at least (3:1 when large)', async () => {
  for (const colorScheme of ['light', 'dark'] as const) {
    // Reduced motion: no colour is caught halfway through a transition (a room's
    // button turning blue as it is joined).
    const options = { ...LAPTOP, colorScheme, reducedMotion: 'reduce' as const };
    const findings = await auditEvery(options, async (page) => {
      const found = await lowContrast(page);
      // The chat as it looks while the connection is down: what chat.js sets then.
      if (page.url() === `${base}/` && (await page.locator('.pane').count()) > 0) {
        await page.evaluate(`(() => {
          document.getElementById('connection-status').setAttribute('data-state', 'disconnected');
          for (const pane of document.querySelectorAll('.pane')) pane.classList.add('is-offline');
        })()`);
        for (const finding of await lowContrast(page)) found.push(`offline, ${finding}`);
      }
      return found;
    });
    assert.equal(findings, [], `${colorScheme} scheme`);
  }
});

test('every page on a phone (375×667): nothing scrolls sideways, and every control is 24×24 px at least, links within a sentence aside', async () => {
  const findings = await auditEvery(
    PHONE,
    async (page) => (await page.evaluate(SMALL_TARGETS)) as string[],
  );
  assert.equal(findings, []);
});

/** Presses Tab until `selector` has focus; fails after `most` presses. */
async function tabTo(page: Page, selector: string, most = 30): Promise<void> {
  for (let i = 0; i < most; i++) {
    await page.keyboard.press('Tab');
    if (
      (await page.evaluate(
        `document.activeElement.matches(${JSON.stringify(selector)})`,
      )) as boolean
    )
      return;
  }
  throw new Error(`${most} presses of Tab did not reach ${selector}`);
}

function focusedId(page: Page): Promise<string> {
  return page.evaluate(`document.activeElement.id`) as Promise<string>;
}

test('by keyboard alone on a phone: join (Enter), send (Enter), dismiss an alert (Escape, focus stays), leave (Space), and be refused a room with an alert Escape dismisses', async () => {
  const context = await contextFor(lee, PHONE);
  try {
    const page = await context.newPage();
    await openChat(page);
    await tabTo(page, `.room-link[data-room-id="${general.id}"]`);
    await page.keyboard.press('Enter');
    const input = `room-${general.id}-input`;
    await page.locator(`#${input}:focus`).waitFor();
    await page.keyboard.type('hello by keyboard');
    await page.keyboard.press('Enter');
    await page
      .locator(`#room-${general.id} .messages .text`, { hasText: 'hello by keyboard' })
      .waitFor();
    // Refused in the pane (too long): Escape takes the alert away, and nothing else.
    await page.keyboard.insertText('x'.repeat(5000));
    await page.keyboard.press('Enter');
    const paneAlert = page.locator(`#room-${general.id} .alert-item`);
    await paneAlert.waitFor();
    assert.is(
      await paneAlert.getByRole('button', { name: 'Dismiss' }).getAttribute('aria-keyshortcuts'),
      'Escape',
    );
    await page.keyboard.press('Escape');
    await paneAlert.waitFor({ state: 'detached', timeout: 5000 });
    assert.is(await focusedId(page), input, 'focus stays in the send box');
    assert.is((await page.locator(`#${input}`).inputValue()).length, 5000, 'the text stays');
    // Back from the box to the pane's Leave button: past the message list, which scrolls.
    await page.keyboard.press('Shift+Tab');
    await page.keyboard.press('Shift+Tab');
    assert.is(
      await page.evaluate(`document.activeElement.getAttribute('aria-label')`),
      'Leave General',
    );
    await page.keyboard.press('Space');
    await page.locator(`#room-${general.id}`).waitFor({ state: 'detached' });
    assert.is(
      await page.evaluate(`document.activeElement.getAttribute('data-room-id')`),
      String(general.id),
      "focus goes back to the room's button",
    );
    // A room lee may not enter: the page's alert, over the top of a phone's screen.
    await tabTo(page, `.room-link[data-room-id="${staffRoom.id}"]`);
    await page.keyboard.press('Enter');
    const pageAlert = page.locator('#alerts .alert-item');
    await pageAlert.waitFor();
    await page.keyboard.press('Escape');
    await pageAlert.waitFor({ state: 'detached', timeout: 5000 });
    assert.is(
      await page.evaluate(`document.activeElement.getAttribute('data-room-id')`),
      String(staffRoom.id),
      'focus stays on the button',
    );
  } finally {
    await context.close();
  }
});

test('by keyboard alone: the skip link passes the menus, and an admin form is filled in, a box ticked (Space) and sent (Enter)', async () => {
  const context = await contextFor(admin, PHONE);
  try {
    const page = await context.newPage();
    await page.goto(`${base}/admin/rooms/`);
    await page.keyboard.press('Tab');
    assert.is(await page.evaluate(`document.activeElement.textContent`), 'Skip to content');
    await page.keyboard.press('Enter');
    await page.keyboard.press('Tab');
    assert.is(await page.evaluate(`document.activeElement.textContent`), 'Add room');
    await Promise.all([page.waitForURL(`${base}/admin/rooms/new/`), page.keyboard.press('Enter')]);
    await page.locator('#id_title:focus').waitFor();
    await page.keyboard.type('Made by keyboard');
    await page.keyboard.press('Tab');
    assert.is(await focusedId(page), 'id_staff_only');
    await page.keyboard.press('Space');
    await page.keyboard.press('Shift+Tab');
    await Promise.all([page.waitForURL(`${base}/admin/rooms/`), page.keyboard.press('Enter')]);
    const made = (await fixtures.rooms.list()).find((room) => room.title === 'Made by keyboard');
    assert.ok(made?.staffOnly, 'a staff-only room was made');
  } finally {
    await context.close();
  }
});

test("by keyboard alone, a list's action checkboxes as Django's actions.js: the header's box ticks the page (Space), the counter says so, \"Select all 101 rooms\" (Enter) takes every page's, and Delete selected (chosen, Tab to Go, Enter) asks, then deletes them", async () => {
  for (let i = 0; i < 101; i++) await fixtures.room(`Bulk ${String(i).padStart(3, '0')}`);
  const context = await contextFor(admin, LAPTOP);
  try {
    const page = await context.newPage();
    await page.goto(`${base}/admin/rooms/?q=bulk`);
    const counter = page.locator('.action-counter');
    assert.is(await counter.textContent(), '0 of 100 selected');
    const across = page.getByRole('button', { name: 'Select all 101 rooms' });
    assert.not.ok(await across.isVisible(), 'offered only once the page is ticked');
    await tabTo(page, '#action-toggle');
    await page.keyboard.press('Space');
    assert.is(await counter.textContent(), '100 of 100 selected');
    const first = page.getByRole('checkbox', {
      name: 'Select this object for an action - Bulk 000',
    });
    assert.ok(await first.isChecked());
    await tabTo(page, 'input.action-select');
    await page.keyboard.press('Space');
    assert.is(await counter.textContent(), '99 of 100 selected');
    assert.not.ok(await across.isVisible(), 'withdrawn when a row is unticked');
    await page.keyboard.press('Space');
    assert.ok(await across.isVisible());
    await across.focus();
    await page.keyboard.press('Enter');
    assert.ok(await page.getByText('All 101 selected').isVisible());
    assert.not.ok(await counter.isVisible());
    const action = page.getByRole('combobox', { name: 'Action:' });
    await action.focus();
    await page.keyboard.press('ArrowDown');
    assert.is(await action.inputValue(), 'delete_selected');
    await page.keyboard.press('Tab');
    assert.is(
      await page.evaluate(`document.activeElement.textContent.trim()`),
      'Go',
      'Tab from the action choice reaches Go',
    );
    await Promise.all([page.waitForNavigation(), page.keyboard.press('Enter')]);
    assert.ok(await page.getByText('Rooms: 101').isVisible(), 'the confirmation, of all 101');
    await page.getByRole('button', { name: 'Yes, I’m sure' }).focus();
    await Promise.all([page.waitForNavigation(), page.keyboard.press('Enter')]);
    assert.ok(await page.getByText('Successfully deleted 101 rooms.').isVisible());
    const left = await fixtures.rooms.list();
    assert.not.ok(
      left.some((room) => room.title.startsWith('Bulk')),
      'every page of them',
    );
    assert.ok(
      left.some((room) => room.id === general.id),
      'and no other room',
    );
  } finally {
    await context.close();
  }
});

test.run();
