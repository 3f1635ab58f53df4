/**
 * What the chat page (chat.js) says when several things happen to it at once, in
 * Debian's headless Chromium against MultiChat embedded in this process
 * (in-process layer, SQLite), its socket through a relay the test steers
 * (helpers/chat-page.ts): each thing is shown and announced, once, and what it
 * says holds for what the page then does.
 */
import type { Browser, Page } from 'playwright-core';
import * as assert from 'uvu/assert';
import {
  CLOSE_ACCESS_CHANGED,
  roomDeletedFrame,
  roomGroup,
} from '../src/apps/multichat/chat-protocol.js';
import { closeSessionSockets, closeUserSockets } from '../src/auth/socket-groups.js';
import {
  alertText,
  announced,
  box,
  delivered,
  inChatTab,
  join,
  joinBefore,
  pane,
  recordAnnouncements,
  type Tab,
  write,
} from './helpers/chat-page.js';
import { useBrowserOnEmbeddedChat } from './helpers/browser-chat.js';
import type { Fixtures } from './helpers/deployment.js';
import { suite } from './helpers/suite.js';
import { sleep, waitFor } from './helpers/wait.js';

/** The whole file must finish well inside the runner's budget (300 s), whatever hangs. */
const FILE_DEADLINE_MS = 120_000;

const test = suite('chat page announcements [sqlite, memory layer, Chromium]');
let fixtures: Fixtures;
let browser: Browser;

// Its chat is not used: each test's page has a chat of its own (inChatTab).
useBrowserOnEmbeddedChat(test, 'e2e-chat-announcements', FILE_DEADLINE_MS, (state) => {
  ({ fixtures, browser } = state);
});

/** Runs `work` in a page of the holder of `session` (inChatTab). */
function inTab(session: string, work: (tab: Tab) => Promise<void>): Promise<void> {
  return inChatTab({ browser, db: fixtures.db, session }, {}, work);
}

/** The page's own alerts (not a pane's), each as a screen reader reads it. */
function pageAlerts(page: Page): Promise<string[]> {
  return page.locator('#alerts .alert-item').allTextContents();
}

/** How many of the page's alert announcements (recordAnnouncements) match `pattern`. */
async function announcedTimes(page: Page, pattern: RegExp): Promise<number> {
  return (await announced(page, 'alerts')).filter((text) => pattern.test(text)).length;
}

/** Waits for the status to say the page stopped for its ended session. */
async function loggedOutShown(page: Page): Promise<void> {
  await page
    .locator('#connection-status[data-state="disconnected"]', { hasText: 'logged out' })
    .waitFor();
}

test('the staff flag taken from a user in two staff-only rooms: both rooms are shown and announced as closed, once each', async () => {
  const first = await fixtures.room('Staff first', true);
  const second = await fixtures.room('Staff second', true);
  const open = await fixtures.room('Open to all');
  const user = await fixtures.user('nora-unstaffed', { staff: true });
  await inTab(await fixtures.login(user), async ({ page, relay, chat }) => {
    await joinBefore(page, first, second);
    await join(page, open);
    await recordAnnouncements(page);
    // One admin action: the flag goes, and the user's sockets close (4002).
    await fixtures.users.update(user.id, { isStaff: false });
    await closeUserSockets(chat.layer, user.id, CLOSE_ACCESS_CHANGED);
    await waitFor(() => relay.connected.length === 2, 5000, 'the reconnect');
    for (const room of [first, second]) await pane(page, room).waitFor({ state: 'detached' });
    await page.locator(`#room-${open.id}:not(.is-offline)`).waitFor();
    // Past both refusals: a later one would be in `passed` by now too.
    await sleep(300);
    const shown = await pageAlerts(page);
    for (const title of [first.title, second.title]) {
      const closed = new RegExp(`Could not rejoin “${title}”\\. You don’t have access`);
      assert.is(shown.filter((text) => closed.test(text)).length, 1, `${title}: shown once`);
      assert.is(await announcedTimes(page, closed), 1, `${title}: announced once`);
    }
    assert.is(shown.length, 2, 'nothing else');
    assert.is(await page.locator('#panes .pane').count(), 1, 'only the open room');
  });
});

test('two joins refused at once, and two rooms deleted at once: each room named in an alert of its own', async () => {
  const locked = [await fixtures.room('Locked one', true), await fixtures.room('Locked two', true)];
  const doomed = [await fixtures.room('Doomed one'), await fixtures.room('Doomed two')];
  await inTab(await fixtures.login(await fixtures.user('nora-twice')), async ({ page, chat }) => {
    await recordAnnouncements(page);
    // Clicked faster than the server answers: two refusals, one after the other.
    for (const room of locked) await page.locator(`.room-link[data-room-id="${room.id}"]`).click();
    await waitFor(async () => /Locked two/.test(await alertText(page)), 5000, 'the second');
    await sleep(300);
    for (const room of locked) {
      const refused = new RegExp(`Could not join “${room.title}”\\.`);
      assert.is((await pageAlerts(page)).filter((text) => refused.test(text)).length, 1);
      assert.is(await announcedTimes(page, refused), 1, `${room.title}: announced once`);
    }
    // Deleted together (as an admin's bulk delete does): each pane's room gets its leave.
    await joinBefore(page, doomed[0]!, doomed[1]!);
    for (const room of doomed) await fixtures.rooms.delete(room.id);
    for (const room of doomed)
      await chat.layer.groupSend(roomGroup(room.id), roomDeletedFrame(room.id));
    for (const room of doomed) await pane(page, room).waitFor({ state: 'detached' });
    for (const room of doomed) {
      const gone = new RegExp(`The room “${room.title}” was deleted\\.`);
      assert.is((await pageAlerts(page)).filter((text) => gone.test(text)).length, 1);
      assert.is(await announcedTimes(page, gone), 1, `${room.title}: announced once`);
    }
  });
});

test('logged out while a send is unconfirmed: the page says the message was not confirmed and it stays to copy, not that it is to send once reconnected', async () => {
  const room = await fixtures.room('Logged out mid-send');
  const user = await fixtures.user('nora-mid-send');
  const session = await fixtures.login(user);
  await inTab(session, async ({ page, relay, chat }) => {
    await join(page, room);
    await recordAnnouncements(page);
    // The server never gets it; then the session ends (a logout in another tab).
    relay.swallowing = /"command":"send"/;
    await write(page, room, 'did it go?');
    await waitFor(() => relay.swallowing === undefined, 5000, 'the send');
    const hash = fixtures.sessions.hashOf(session)!;
    await fixtures.sessions.delete(session);
    await closeSessionSockets(chat.layer, hash);
    await loggedOutShown(page);
    await page.locator('#alerts .alert-unconfirmed').waitFor();
    assert.is(await box(page, room).inputValue(), 'did it go?', 'in its box');
    assert.equal(await pageAlerts(page), [
      'Your session has ended, so you can no longer chat here. Log in again.×',
      'Your session ended before your message was confirmed: it may not have gone. It is back in its box, to copy.×',
    ]);
    assert.is(await announcedTimes(page, /reconnected/), 0, 'never said it would reconnect');
    assert.is(await announcedTimes(page, /before your message was confirmed/), 1, 'said once');
  });
});

test('a send given back as its connection dropped, the session then found over at the reconnect: the alert on it is said again in words that hold', async () => {
  const room = await fixtures.room('Dropped, then logged out');
  const session = await fixtures.login(await fixtures.user('nora-dropped'));
  await inTab(session, async ({ page, relay }) => {
    await join(page, room);
    await recordAnnouncements(page);
    relay.swallowing = /"command":"send"/;
    await write(page, room, 'still there?');
    await waitFor(() => relay.swallowing === undefined, 5000, 'the send');
    // Ended with no close to tell the page (outside Gredis); then its connection drops.
    await fixtures.sessions.delete(session);
    relay.cut();
    await loggedOutShown(page);
    assert.is(await box(page, room).inputValue(), 'still there?');
    const unconfirmed = await page.locator('#alerts .alert-unconfirmed').allTextContents();
    assert.equal(unconfirmed, [
      'Your session ended before your message was confirmed: it may not have gone. It is back in its box, to copy.×',
    ]);
    // True when said (the page was reconnecting), then corrected: each once.
    assert.is(await announcedTimes(page, /to send again once reconnected/), 1);
    assert.is(await announcedTimes(page, /Your session ended before/), 1);
  });
});

test("a send given back in a room then closed to the user: the alert saying it is in its box goes with the pane; the room's alert keeps the text", async () => {
  const closing = await fixtures.room('Closing mid-send');
  const open = await fixtures.room('Staying open');
  await inTab(
    await fixtures.login(await fixtures.user('nora-closed-mid-send')),
    async ({ page, relay, chat }) => {
      await joinBefore(page, closing, open);
      relay.swallowing = /"command":"send"/;
      await write(page, closing, 'knock knock');
      await waitFor(() => relay.swallowing === undefined, 5000, 'the send');
      // Made staff-only by an admin: the sockets in it close (4002), and its re-join is refused.
      await fixtures.rooms.update(closing.id, closing.title, true);
      await chat.layer.groupSend(roomGroup(closing.id), { close: CLOSE_ACCESS_CHANGED });
      await pane(page, closing).waitFor({ state: 'detached' });
      await page.locator(`#room-${open.id}:not(.is-offline)`).waitFor();
      const shut = page.locator('#alerts .alert-room_access_denied');
      assert.match((await shut.textContent()) ?? '', /Could not rejoin “Closing mid-send”/);
      assert.is(await shut.locator('.alert-quote').textContent(), 'knock knock');
      assert.is(
        await page.locator('#alerts .alert-unconfirmed').count(),
        0,
        'no box to send it again from',
      );
    },
  );
});

test("sends given back in two rooms, one then proved sent by its late copy: the alert stays for the other room's", async () => {
  const late = await fixtures.room('Copy comes late');
  const lost = await fixtures.room('Never got there');
  await inTab(
    await fixtures.login(await fixtures.user('nora-two-boxes')),
    async ({ page, relay }) => {
      await joinBefore(page, late, lost);
      relay.holding = /"message":"late copy"/;
      relay.swallowing = /"message":"lost"/;
      await write(page, late, 'late copy');
      await write(page, lost, 'lost');
      await waitFor(() => relay.held.length === 1 && relay.swallowing === undefined, 5000, 'both');
      relay.cut();
      await page.locator('#alerts .alert-unconfirmed').waitFor();
      for (const room of [late, lost])
        await page.locator(`#room-${room.id}:not(.is-offline)`).waitFor();
      relay.release();
      await waitFor(
        async () => (await box(page, late).inputValue()) === '',
        5000,
        'the box emptied',
      );
      assert.equal(await delivered(page, late), ['nora-two-boxes: late copy']);
      assert.is(await box(page, lost).inputValue(), 'lost');
      assert.is(await page.locator('#alerts .alert-unconfirmed').count(), 1, 'still said');
    },
  );
});

test.run();
