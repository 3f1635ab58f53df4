/**
 * The lists' action checkboxes in Debian's headless Chromium, where only a
 * browser can tell: Django 3.2's shift-click (a row ticked or unticked with
 * Shift held does the same to every row since the one before, by mouse or by
 * Shift+Space), and the list on a phone (390×844), its action bar and checkbox
 * column within the screen and tappable, the page not scrolling sideways but
 * in the table's own scroller; a screenshot of it is saved in test-artifacts/.
 * MultiChat is embedded in this process (in-process layer, SQLite).
 */
import { mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser, BrowserContext, Locator, Page } from 'playwright-core';
import { suite } from './helpers/suite.js';
import * as assert from 'uvu/assert';
import type { User } from '../src/auth/users.js';
import { addSessionCookie } from './helpers/chromium.js';
import { useBrowserOnEmbeddedChat } from './helpers/browser-chat.js';
import type { Fixtures } from './helpers/deployment.js';

const ARTIFACTS = fileURLToPath(new URL('../../test-artifacts/', import.meta.url));
/** The whole file must finish well inside the runner's budget, whatever hangs. */
const FILE_DEADLINE_MS = 90_000;
const PHONE = { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true };
const LAPTOP = { viewport: { width: 1280, height: 800 } };

const test = suite('admin actions [sqlite, memory layer, Chromium]');
let fixtures: Fixtures;
let browser: Browser;
let base: string;
let admin: User;

useBrowserOnEmbeddedChat(test, 'e2e-admin-actions', FILE_DEADLINE_MS, async (state) => {
  ({ fixtures, browser, base } = state);
  admin = await fixtures.user('sam', { staff: true, superuser: true });
  // A name with nowhere to wrap: the users' table is wider than a phone.
  await fixtures.user(`user_${'without_a_break_'.repeat(5)}`);
  // Sorted by title: "Row 0" first.
  for (let i = 0; i < 10; i++) await fixtures.room(`Row ${i}`);
  await fixtures.room(`A room whose title is long enough to ${'widen the table '.repeat(4)}`);
});

async function adminContext(
  options: Parameters<Browser['newContext']>[0],
): Promise<BrowserContext> {
  const context = await browser.newContext(options);
  context.setDefaultTimeout(10_000);
  await addSessionCookie(context, await fixtures.login(admin));
  return context;
}

/** Which of "Row 0"…"Row 9" are ticked, by number. */
async function ticked(page: Page): Promise<number[]> {
  const rows: number[] = [];
  for (let i = 0; i < 10; i++) if (await box(page, i).isChecked()) rows.push(i);
  return rows;
}

function box(page: Page, row: number): Locator {
  return page.getByRole('checkbox', {
    name: `Select this object for an action - Row ${row}`,
    exact: true,
  });
}

test("shift-click ticks, and unticks, every row between it and the row clicked before, as Django's actions.js; so does Shift+Space", async () => {
  const context = await adminContext(LAPTOP);
  try {
    const page = await context.newPage();
    await page.goto(`${base}/admin/rooms/?q=row`);
    const counter = page.locator('.action-counter');
    await box(page, 2).click();
    await box(page, 6).click({ modifiers: ['Shift'] });
    assert.equal(await ticked(page), [2, 3, 4, 5, 6]);
    assert.is(await counter.textContent(), '5 of 10 selected');
    assert.is(await page.locator('tr.selected').count(), 5, 'the rows marked too');
    // Upwards, and unticking: the range takes the state of the box clicked.
    await box(page, 5).click();
    await box(page, 3).click({ modifiers: ['Shift'] });
    assert.equal(await ticked(page), [2, 6]);
    assert.is(await counter.textContent(), '2 of 10 selected');
    // Without Shift, one box only.
    await box(page, 9).click();
    assert.equal(await ticked(page), [2, 6, 9]);
    // By keyboard: Shift+Space on another box ticks those since the last.
    await box(page, 7).focus();
    await page.keyboard.press('Shift+Space');
    assert.equal(await ticked(page), [2, 6, 7, 8, 9]);
    assert.is(await counter.textContent(), '5 of 10 selected');
  } finally {
    await context.close();
  }
});

/** The box of `locator` in CSS pixels, asserted within the viewport's width. */
async function withinWidth(locator: Locator, name: string, width: number): Promise<void> {
  const rect = await locator.boundingBox();
  assert.ok(rect, `${name} is shown`);
  assert.ok(
    rect.x >= 0 && rect.x + rect.width <= width,
    `${name} spans ${rect.x}–${rect.x + rect.width} px of ${width}`,
  );
  assert.ok(rect.width >= 24 && rect.height >= 24, `${name} is ${rect.width}×${rect.height} px`);
}

/**
 * On a phone: the page no wider than the screen, the action bar's controls,
 * the header's box and every row's checkbox cell (the first column, in view
 * however far the table scrolls) within it and 24 px at least.
 */
async function phoneLayout(page: Page): Promise<void> {
  const width = PHONE.viewport.width;
  const widths = (await page.evaluate(
    `[document.documentElement.scrollWidth, document.documentElement.clientWidth]`,
  )) as [number, number];
  assert.ok(widths[0] <= widths[1], `the page is ${widths[0]} px wide on ${widths[1]}`);
  await withinWidth(page.getByRole('combobox', { name: 'Action:' }), 'the action choice', width);
  await withinWidth(page.getByRole('button', { name: 'Go' }), 'Go', width);
  await withinWidth(page.locator('#action-toggle'), "the header's box", width);
  const cells = page.locator('td.action-checkbox');
  for (let i = 0; i < (await cells.count()); i++)
    await withinWidth(cells.nth(i), `row ${i + 1}'s checkbox cell`, width);
}

/** Saves a screenshot of the whole page in test-artifacts/. */
async function screenshot(page: Page, name: string): Promise<void> {
  mkdirSync(ARTIFACTS, { recursive: true });
  const path = join(ARTIFACTS, name);
  await page.screenshot({ path, fullPage: true });
  assert.ok(statSync(path).size > 10_000, `${name} is a picture of the list`);
}

test('on a phone (390×844): no sideways scroll of the page, the action bar and checkboxes within the screen and tappable, and Delete selected works by touch', async () => {
  const context = await adminContext(PHONE);
  try {
    const page = await context.newPage();
    await page.goto(`${base}/admin/rooms/`);
    await phoneLayout(page);
    const width = PHONE.viewport.width;
    const action = page.getByRole('combobox', { name: 'Action:' });
    await screenshot(page, 'e2e-admin-actions-phone.png');
    // The users' list, its longest name unbroken: the table wraps or scrolls
    // in its own box (.table-wrap), never the page (phoneLayout).
    const users = await context.newPage();
    await users.goto(`${base}/admin/users/`);
    await phoneLayout(users);
    const wrap = (await users.evaluate(
      `(() => { const w = document.querySelector('#changelist-form .table-wrap');
        return [getComputedStyle(w).overflowX, w.getBoundingClientRect().right]; })()`,
    )) as [string, number];
    assert.is(wrap[0], 'auto', "the table's own scroller");
    assert.ok(wrap[1] <= PHONE.viewport.width, `the scroller ends at ${wrap[1]} px`);
    await screenshot(users, 'e2e-admin-actions-users-phone.png');

    await box(page, 0).tap();
    await box(page, 1).tap();
    assert.is(await page.locator('.action-counter').textContent(), '2 of 11 selected');
    await action.selectOption('delete_selected');
    await Promise.all([page.waitForNavigation(), page.getByRole('button', { name: 'Go' }).tap()]);
    assert.ok(await page.getByText('Rooms: 2').isVisible(), 'the confirmation');
    const yes = page.getByRole('button', { name: 'Yes, I’m sure' });
    await withinWidth(yes, 'Yes', width);
    await Promise.all([page.waitForNavigation(), yes.tap()]);
    assert.ok(await page.getByText('Successfully deleted 2 rooms.').isVisible());
    const titles = (await fixtures.rooms.list()).map(({ title }) => title);
    assert.not.ok(titles.includes('Row 0') || titles.includes('Row 1'));
    assert.ok(titles.includes('Row 2'));
  } finally {
    await context.close();
  }
});

test.run();
