/**
 * The chat page's client (chat.js) in a real browser, where frames meet it in an
 * order or at a moment the server cannot be made to choose: Debian's headless
 * Chromium driven by playwright-core, against MultiChat embedded in this process
 * (in-process layer, SQLite). The page's socket goes through a relay the test
 * steers (helpers/chat-page.ts): it holds back some of the server's frames, or
 * loses one of the page's with its connection.
 */
import type { Browser, Page } from 'playwright-core';
import { suite } from './helpers/suite.js';
import * as assert from 'uvu/assert';
import { roomGroup } from '../src/apps/multichat/chat-protocol.js';
import { closeSessionSockets } from '../src/auth/socket-groups.js';
import type { Room } from '../src/apps/multichat/rooms.js';
import type { Database } from '../src/db/connection.js';
import { BrowserlessClient } from './helpers/browserless.js';
import {
  addSessionCookie,
  fileWatchdog,
  killChildren,
  launchChromium,
} from './helpers/chromium.js';
import {
  alertText,
  announced,
  box,
  delivered,
  inChatTab,
  join,
  joinBefore,
  pane,
  paneAlertText,
  recordAnnouncements,
  Relay,
  sendWhatWasTyped,
  type Tab,
  write,
} from './helpers/chat-page.js';
import { sqliteBackend } from './helpers/databases.js';
import { chatClient, EmbeddedChat, Fixtures, joinSettled, nextJson } from './helpers/deployment.js';
import { sleep, waitFor } from './helpers/wait.js';

/** The whole file must finish well inside the runner's budget (300 s), whatever hangs. */
const FILE_DEADLINE_MS = 260_000;

const test = suite('chat page client [sqlite, memory layer, Chromium]');
const database = sqliteBackend();
let db: Database;
let fixtures: Fixtures;
let browser: Browser | undefined;
const PASSWORD = 'correct horse battery';
/** sam's session: every page is his. */
let samSession: string;

const watchdog = fileWatchdog('e2e-chat-client', FILE_DEADLINE_MS);

/** Runs `work` in a page of sam's (or of the holder of `session`): see inChatTab. */
function inTab(
  settings: Parameters<typeof EmbeddedChat.start>[1],
  work: (tab: Tab) => Promise<void>,
  session = samSession,
): Promise<void> {
  return inChatTab({ browser: browser!, db, session }, settings, work);
}

test.before(async () => {
  await database.setup();
  db = await database.openMigrated();
  fixtures = new Fixtures(db);
  samSession = await fixtures.login(
    await fixtures.user('sam', { password: PASSWORD, staff: true }),
  );
  browser = await launchChromium();
});

test.after(async () => {
  await browser?.close();
  killChildren();
  await database.teardown();
  clearTimeout(watchdog);
});

test('a send refused for the rate: its text is back in its box, and the user is told why', async () => {
  const room = await fixtures.room('Busy');
  // A burst of 2 commands and no third for 10 s: the join and one message go.
  await inTab({ chatBurst: 2, chatPerSecond: 0.1 }, async ({ page }) => {
    await join(page, room);
    await write(page, room, 'first');
    await waitFor(async () => (await delivered(page, room)).length === 1, 5000, 'the first');
    await write(page, room, 'second');
    await waitFor(
      async () => /sending too fast/.test(await paneAlertText(page, room)),
      5000,
      'the alert',
    );
    assert.is(await box(page, room).inputValue(), 'second');
    assert.equal(await delivered(page, room), ['sam: first']);
  });
});

test('a send refused after the user began another: the new text stays, the refused one is listed as not sent', async () => {
  const room = await fixtures.room('Busy too');
  await inTab({ chatBurst: 2, chatPerSecond: 0.1 }, async ({ page, relay }) => {
    await join(page, room);
    await write(page, room, 'first');
    await waitFor(async () => (await delivered(page, room)).length === 1, 5000, 'the first');
    relay.holding = /^\{"error"/;
    await write(page, room, '<b>second</b>');
    await waitFor(() => relay.held.length === 1, 5000, 'the refusal');
    await box(page, room).fill('third, being written');
    relay.release();
    await waitFor(
      async () => /sending too fast/.test(await paneAlertText(page, room)),
      5000,
      'the alert',
    );
    assert.is(await box(page, room).inputValue(), 'third, being written');
    const unsent = pane(page, room).locator('li.unsent');
    assert.is(await unsent.locator('.text').textContent(), '<b>second</b>', 'as text');
    assert.match((await unsent.textContent()) ?? '', /Not sent$/);
    assert.is(await pane(page, room).locator('b').count(), 0, 'no markup was made');
    assert.equal(await delivered(page, room), ['sam: first']);
  });
});

test('a refusal about a room is shown where that room is: in its pane beside the send box, or naming it; a room found deleted leaves the list', async () => {
  const staff = await fixtures.room('Staff lounge', true);
  const doomed = await fixtures.room('Doomed');
  const gone = await fixtures.room('Gone quietly');
  const chatty = await fixtures.room('Chatty');
  const nora = await fixtures.login(await fixtures.user('nora-refused'));
  // Six commands at once, then (nearly) none: the seventh is refused for the rate.
  const settings = { chatBurst: 6, chatPerSecond: 0.01 };
  await inTab(
    settings,
    async ({ page, relay }) => {
      const listed = (room: Room) => page.locator(`.room-link[data-room-id="${room.id}"]`);
      // A join refused: no pane to show it in, so the alert names the room.
      await listed(staff).click();
      await waitFor(
        async () => /Could not join “Staff lounge”.*staff only/.test(await alertText(page)),
        5000,
        'the alert naming the room',
      );
      assert.is(await pane(page, staff).count(), 0);

      // Deleted since the page was loaded: its item goes, and the alert says which it was.
      await fixtures.rooms.delete(doomed.id);
      await listed(doomed).click();
      await waitFor(
        async () => /“Doomed” was deleted/.test(await alertText(page)),
        5000,
        'the alert',
      );
      assert.is(await listed(doomed).count(), 0, 'gone from the list');

      // Deleted while the page was in it, and the page never heard: Leave still
      // closes the pane, and the room leaves the list.
      await joinBefore(page, gone, chatty);
      relay.holding = /^\{"leave"/;
      await fixtures.rooms.delete(gone.id);
      await pane(page, gone).getByRole('button', { name: 'Leave Gone quietly' }).click();
      await pane(page, gone).waitFor({ state: 'detached' });
      assert.is(await listed(gone).count(), 0, 'gone from the list');
      assert.match(await alertText(page), /“Gone quietly” was deleted/);
      assert.equal(relay.held, [], 'the server never said "leave"');
      relay.holding = undefined;

      // A send refused: in the room's pane, beside its send box, which it describes.
      await write(page, chatty, 'first');
      await waitFor(async () => (await delivered(page, chatty)).length === 1, 5000, 'the first');
      await write(page, chatty, 'second');
      await waitFor(
        async () => /^Chatty: You are sending too fast/.test(await paneAlertText(page, chatty)),
        5000,
        "the alert in Chatty's pane",
      );
      assert.not.match(await alertText(page), /too fast/, 'not at the top of the page');
      const describedBy = (await box(page, chatty).getAttribute('aria-describedby')) ?? '';
      assert.is(
        await page.locator(`[id="${describedBy}"]`).getAttribute('role'),
        'alert',
        'the send box is described by its alerts',
      );
      assert.is(await box(page, chatty).inputValue(), 'second');
    },
    nora,
  );
});

test('a send lost with a connection that dropped: its text is back in its box, to send once reconnected', async () => {
  const room = await fixtures.room('Lossy');
  await inTab({}, async ({ page, relay }) => {
    await join(page, room);
    relay.losing = /"command":"send"/;
    await write(page, room, 'into the void');
    await page.locator(`#room-${room.id}.is-offline`).waitFor();
    assert.is(await box(page, room).inputValue(), 'into the void');
    assert.match(await alertText(page), /connection dropped before your message was confirmed/);
    // Back in the room: Enter sends it.
    await page.locator(`#room-${room.id}:not(.is-offline)`).waitFor();
    await box(page, room).press('Enter');
    await waitFor(
      async () => (await delivered(page, room)).join() === 'sam: into the void',
      5000,
      'the message, once',
    );
    assert.is(await box(page, room).inputValue(), '');
  });
});

test("the same user's other tab sends the same text while this tab's send is lost: that echo does not confirm it, and it is given back", async () => {
  const room = await fixtures.room('Twins');
  await inTab({}, async ({ page, relay, chat }) => {
    await join(page, room);
    // sam's other tab (another socket of his session) joins after: this page hears it enter.
    const other = await chatClient(chat.ports[0]!, samSession);
    try {
      other.send(JSON.stringify({ command: 'join', room: room.id }));
      await pane(page, room).locator('li.notice-enter').waitFor();
      relay.swallowing = /"command":"send"/;
      await write(page, room, 'same text');
      other.send(JSON.stringify({ command: 'send', room: room.id, message: 'same text' }));
      await waitFor(
        async () => (await delivered(page, room)).join() === 'sam: same text',
        5000,
        "the other tab's message",
      );
      relay.cut();
      await page.locator(`#room-${room.id}.is-offline`).waitFor();
      assert.is(await box(page, room).inputValue(), 'same text', 'given back');
      assert.match(await alertText(page), /connection dropped before your message was confirmed/);
    } finally {
      other.close();
    }
  });
});

test('a send whose copy comes only after a reconnect: it leaves the box it was given back to, and a copy does not answer the send made again', async () => {
  const room = await fixtures.room('Late');
  const offline = `#room-${room.id}.is-offline`;
  await inTab({}, async ({ page, relay }) => {
    await join(page, room);
    // The copy is held, the connection drops: the text is given back...
    relay.holding = /"message":"late"/;
    await write(page, room, 'late');
    await waitFor(() => relay.held.length === 1, 5000, 'the copy');
    relay.cut();
    await page.locator(offline).waitFor();
    assert.is(await box(page, room).inputValue(), 'late');
    await page.locator(`#room-${room.id}:not(.is-offline)`).waitFor();
    // ...and sent again, which is lost with the next connection; the old copy comes meanwhile.
    relay.swallowing = /"command":"send"/;
    await box(page, room).press('Enter');
    await waitFor(() => relay.swallowing === undefined, 5000, 'the send made again');
    relay.release();
    await waitFor(async () => (await delivered(page, room)).length === 1, 5000, 'the old copy');
    relay.cut();
    await page.locator(offline).waitFor();
    assert.is(await box(page, room).inputValue(), 'late', 'the lost send is given back');
    await page.locator(`#room-${room.id}:not(.is-offline)`).waitFor();
    // A copy that comes after the reconnect, to a box not touched since: it went, so the box empties.
    relay.holding = /"message":"once"/;
    await write(page, room, 'once');
    await waitFor(() => relay.held.length === 1, 5000, 'the copy');
    relay.cut();
    await page.locator(offline).waitFor();
    assert.is(await box(page, room).inputValue(), 'once');
    await page.locator(`#room-${room.id}:not(.is-offline)`).waitFor();
    relay.release();
    await waitFor(async () => (await box(page, room).inputValue()) === '', 5000, 'the box emptied');
    assert.not.match(await alertText(page), /connection dropped before/);
    assert.equal(await delivered(page, room), ['sam: late', 'sam: once']);
  });
});

test("a text given back and then sent again is no longer the box's: the same text typed there later stays when another tab's copy of it comes", async () => {
  const room = await fixtures.room('Retyped');
  await inTab({}, async ({ page, relay, chat }) => {
    await join(page, room);
    // Lost with its connection: given back...
    relay.swallowing = /"command":"send"/;
    await write(page, room, 'again');
    await waitFor(() => relay.swallowing === undefined, 5000, 'the send swallowed');
    relay.cut();
    await page.locator(`#room-${room.id}.is-offline`).waitFor();
    assert.is(await box(page, room).inputValue(), 'again');
    await page.locator(`#room-${room.id}:not(.is-offline)`).waitFor();
    // ...and sent again from the box, which it leaves.
    await box(page, room).press('Enter');
    await waitFor(async () => (await delivered(page, room)).length === 1, 5000, 'its copy');
    assert.is(await box(page, room).inputValue(), '');
    // The user types the same text; sam's other tab sends it twice meanwhile.
    await box(page, room).fill('again');
    const other = await chatClient(chat.ports[0]!, samSession);
    try {
      other.send(JSON.stringify({ command: 'join', room: room.id }));
      await pane(page, room).locator('li.notice-enter').waitFor();
      for (let i = 0; i < 2; i++)
        other.send(JSON.stringify({ command: 'send', room: room.id, message: 'again' }));
      await waitFor(
        async () => (await delivered(page, room)).length === 3,
        5000,
        "the other tab's messages",
      );
      assert.is(await box(page, room).inputValue(), 'again', 'what the user typed stays');
    } finally {
      other.close();
    }
  });
});

test('no worker up: the page says within seconds that the chat is down and when it tries next; back in its rooms by itself once a worker is', async () => {
  const room = await fixtures.room('Patient');
  // Thyme refuses a handshake no worker answers after 2 s here (5 by default).
  await inTab({ websocketConnectTimeout: 2 }, async ({ page, chat }) => {
    const status = page.locator('#connection-text');
    await join(page, room);
    await chat.stopWorker();
    await box(page, room).fill('written while the chat was down');
    // Every note beside the status, in order.
    await page.evaluate(`window.__notes = [];
      new MutationObserver(() => window.__notes.push(document.getElementById('connection-retry').textContent))
        .observe(document.getElementById('connection-retry'), { childList: true, characterData: true, subtree: true });`);
    // Thyme closes the socket (any close but a logout's): the page reconnects, and
    // no worker answers its handshake (refused after 2 s) or its session check.
    await chat.layer.groupSend(roomGroup(room.id), { close: 1012 });
    await waitFor(
      async () => {
        const notes = (await page.evaluate('window.__notes')) as string[];
        const trying = notes.indexOf('Trying now…');
        return (
          trying >= 0 && notes.slice(trying).some((note) => /^Next try in \d+ s\.$/.test(note))
        );
      },
      15_000,
      'a failed try to be followed by the time of the next one',
    );
    assert.is(await status.textContent(), 'Disconnected. Reconnecting…', 'said once, not again');
    assert.is(await page.locator(`#room-${room.id}.is-offline`).count(), 1);

    chat.startWorker();
    await page.locator('#connection-status[data-state="connected"]').waitFor({ timeout: 30_000 });
    await page.locator(`#room-${room.id}:not(.is-offline)`).waitFor();
    assert.is(await status.textContent(), 'Reconnected.');
    // What was typed meanwhile is still there, and goes.
    await sendWhatWasTyped(page, room, 'sam', 'written while the chat was down');
  });
});

test('a message sent while no worker is up: after a while it is listed as not confirmed, and once a worker is back it goes as any other', async () => {
  const room = await fixtures.room('Unanswered');
  await inTab({}, async ({ page, chat }) => {
    await join(page, room);
    await chat.stopWorker();
    // The page's own clock, so that its 10 s wait for a confirmation can be run
    // at once; it goes on at the real pace otherwise.
    await page.clock.install();
    // The socket stays open at Thyme: the message waits in the layer, unanswered.
    await write(page, room, 'anyone <i>there</i>?');
    assert.is(await box(page, room).inputValue(), '');
    const pending = pane(page, room).locator('li.unsent');
    // A second one 5 s later, the first still unanswered (the page gives up on
    // the socket 20 s after the first).
    await page.clock.fastForward(5_000);
    await write(page, room, 'hello?');
    await page.clock.fastForward(5_000);
    await pending.waitFor({ timeout: 5000 }); // listed within 15 s of the page's time, as before
    assert.is(await pending.locator('.text').textContent(), 'anyone <i>there</i>?');
    assert.match((await pending.textContent()) ?? '', /Not confirmed yet$/);
    assert.match(await paneAlertText(page, room), /has not confirmed your message/);
    assert.is(await pane(page, room).locator('i').count(), 0, 'no markup was made');
    // The second is listed too, and the pane's alert, which says it of both, is
    // not made (and announced) again.
    await recordAnnouncements(page);
    await page.clock.fastForward(5_000);
    await pending.nth(1).waitFor({ timeout: 5000 });
    assert.equal(await announced(page, `room-${room.id}-alerts`), []);
    assert.is(await pane(page, room).locator('.alert-item').count(), 1);

    chat.startWorker();
    await waitFor(
      async () => (await delivered(page, room)).join() === 'sam: anyone <i>there</i>?,sam: hello?',
      10_000,
      'the messages, once a worker took them',
    );
    assert.is(await pending.count(), 0, 'no longer listed as not confirmed');
    assert.is(await pane(page, room).locator('.alert-item').count(), 0, 'nor said to be');
  });
});

test('a message listed as not confirmed, its connection then dropped with other text in the box: the same item says it was not sent, listed (and announced) once', async () => {
  const room = await fixtures.room('Unconfirmed, then dropped');
  await inTab({}, async ({ page, relay }) => {
    await join(page, room);
    await page.clock.install();
    await recordAnnouncements(page);
    // The server never gets it; the connection lives on, unanswering.
    relay.swallowing = /"command":"send"/;
    await write(page, room, 'did it go?');
    await page.clock.fastForward(10_000);
    const unsent = pane(page, room).locator('li.unsent');
    await unsent.waitFor({ timeout: 5000 });
    await box(page, room).fill('something else');
    relay.cut();
    await page.locator(`#room-${room.id}.is-offline`).waitFor();
    await page.locator(`#room-${room.id}:not(.is-offline)`).waitFor();
    assert.is(
      await box(page, room).inputValue(),
      'something else',
      'what the user is writing stays',
    );
    assert.is(await unsent.count(), 1, 'listed once');
    assert.is(await unsent.locator('.text').textContent(), 'did it go?');
    assert.match((await unsent.textContent()) ?? '', /Not sent$/);
    assert.is(
      (await announced(page, 'messages')).filter((text) => text.includes('did it go?')).length,
      1,
      'its text announced once',
    );
  });
});

test('a room deleted while the page was reconnecting: its re-join is refused, and it goes from the list as well as its pane', async () => {
  const room = await fixtures.room('Vanished');
  const kept = await fixtures.room('Not vanished');
  await inTab({}, async ({ page, relay, chat }) => {
    // Settled: a leave the join's second check made on meeting the deletion would
    // take the socket out of the room's group before the close sent there.
    await joinBefore(page, room, kept);
    // The unasked leave is lost with the connection, as if the room went while the page was away.
    relay.holding = /^\{"leave"/;
    await fixtures.rooms.delete(room.id);
    await chat.layer.groupSend(roomGroup(room.id), { close: 1012 });
    await pane(page, room).waitFor({ state: 'detached' });
    await waitFor(
      async () => /The room “Vanished” was deleted/.test(await alertText(page)),
      5000,
      'the alert',
    );
    assert.is(await page.locator(`.room-link[data-room-id="${room.id}"]`).count(), 0);
  });
});

test('a leave and a join unanswered when the connection drops: once reconnected, the user is out of the one and in the other, as asked', async () => {
  const left = await fixtures.room('Left meanwhile');
  const joined = await fixtures.room('Joined meanwhile');
  await inTab({}, async ({ page, relay }) => {
    await join(page, left);
    // The server does both; their answers are lost with the connection.
    relay.holding = /^\{"(leave|join)"/;
    await pane(page, left).getByRole('button', { name: 'Leave Left meanwhile' }).click();
    await page.locator(`.room-link[data-room-id="${joined.id}"]`).click();
    await waitFor(() => relay.held.length === 2, 5000, 'both answers');
    relay.cut();
    relay.holding = undefined;
    const answered = relay.passed.length;
    await waitFor(() => relay.connected.length === 2, 5000, 'the reconnect');
    await pane(page, joined).waitFor();
    assert.is(await pane(page, left).count(), 0, 'not back in the room left');
    assert.is(
      await page.locator(`.room-link[data-room-id="${left.id}"]`).getAttribute('aria-pressed'),
      'false',
    );
    assert.not.ok(
      relay.passed.slice(answered).some((frame) => frame.startsWith(`{"join":"${left.id}"`)),
      'the room left was not joined again',
    );
    assert.is(await page.locator('#panes .pane').count(), 1);
  });
});

test('the browser logged in as someone else meanwhile: the page stops and says so, rather than chat as them under its own name', async () => {
  const room = await fixtures.room('Whose page');
  const nora = await fixtures.login(await fixtures.user('nora-meanwhile'));
  const loggedInAsNora = (page: Page) => addSessionCookie(page.context(), nora);
  const stopped = async (page: Page, relay: Relay) => {
    await page
      .locator('#connection-status[data-state="disconnected"]', { hasText: 'someone else' })
      .waitFor();
    assert.match(await alertText(page), /logged in as someone else since this page was loaded/);
    assert.is(await box(page, room).getAttribute('readonly'), '', 'nothing can be sent');
    // No join went as nora: sam's page would have shown her rooms as his.
    assert.not.ok(relay.passed.some((frame) => frame.startsWith('{"join"')));
  };
  // Logged in as nora in another tab: that login closes the page's socket (4001).
  await inTab({}, async ({ page, relay, chat }) => {
    await join(page, room);
    relay.passed.splice(0);
    await loggedInAsNora(page);
    await closeSessionSockets(chat.layer, fixtures.sessions.hashOf(samSession)!);
    await stopped(page, relay);
  });
  // ...while the page was disconnected, which then reconnects as after any drop.
  await inTab({}, async ({ page, relay, chat }) => {
    await join(page, room);
    relay.passed.splice(0);
    await loggedInAsNora(page);
    await chat.layer.groupSend(roomGroup(room.id), { close: 1012 });
    await stopped(page, relay);
  });
  // ...with no close to tell the page (its session deleted outside Gredis): a send
  // meets the ended login first (USER_HAS_TO_LOGIN, then 4001), and the session
  // check finds nora's. "Log in again" no longer holds: that alert goes.
  const xavier = await fixtures.login(await fixtures.user('xavier-meanwhile'));
  await inTab(
    {},
    async ({ page, relay }) => {
      await join(page, room);
      relay.passed.splice(0);
      await loggedInAsNora(page);
      await fixtures.sessions.delete(xavier);
      await write(page, room, 'who am I?');
      await stopped(page, relay);
      assert.equal(
        await page
          .locator('#alerts .alert-item')
          .evaluateAll((items) => items.map((item) => item.getAttribute('data-code'))),
        ['OTHER_USER'],
        'one alert, about the other user',
      );
    },
    xavier,
  );
});

test('a room found deleted holding what the user wrote: a message refused for it, and what is in its box, stay in view as text, to copy', async () => {
  const gone = await fixtures.room('Gone with words');
  const kept = await fixtures.room('Still here');
  await inTab({}, async ({ page, relay, chat }) => {
    await joinBefore(page, gone, kept);
    // The page never hears of the deletion: its message meets it (ROOM_INVALID).
    relay.holding = /^\{"leave"/;
    await fixtures.rooms.delete(gone.id);
    await write(page, gone, 'my <b>last</b> words');
    await pane(page, gone).waitFor({ state: 'detached' });
    const alert = page.locator('#alerts [data-code="ROOM_DELETED"]');
    assert.match((await alert.textContent()) ?? '', /Your message to it was not sent/);
    assert.equal(await alert.locator('blockquote').allTextContents(), ['my <b>last</b> words']);

    // Deleted while the page was away, its box holding a draft: found at the re-join.
    await box(page, kept).fill('half a thought');
    await fixtures.rooms.delete(kept.id);
    await chat.layer.groupSend(roomGroup(kept.id), { close: 1012 });
    await pane(page, kept).waitFor({ state: 'detached' });
    const again = page.locator('#alerts [data-code="ROOM_DELETED"]', { hasText: 'Still here' });
    assert.equal(await again.locator('blockquote').allTextContents(), ['half a thought']);
    assert.equal(
      await page.locator('#alerts blockquote').allTextContents(),
      ['my <b>last</b> words', 'half a thought'],
      'the first alert stays with its text',
    );
    assert.is(await page.locator('#alerts b').count(), 0, 'no markup was made');
  });
});

test('a room double-clicked: joined once, and not left again by the second click', async () => {
  const room = await fixtures.room('Clicked twice');
  await inTab({}, async ({ page, relay }) => {
    const button = page.locator(`.room-link[data-room-id="${room.id}"]`);
    const { x, y, width, height } = (await button.boundingBox())!;
    await page.mouse.move(x + width / 2, y + height / 2);
    // A double-click slow enough for the answer to the first click to come in between.
    await page.mouse.down({ clickCount: 1 });
    await page.mouse.up({ clickCount: 1 });
    await pane(page, room).waitFor();
    await page.mouse.down({ clickCount: 2 });
    await page.mouse.up({ clickCount: 2 });
    await new Promise((resolve) => setTimeout(resolve, 500));
    assert.is(await pane(page, room).count(), 1, 'still in the room');
    assert.is(await button.getAttribute('aria-pressed'), 'true');
    assert.not.ok(
      relay.passed.some((frame) => frame.startsWith('{"leave"')),
      'no leave was sent',
    );
    // A single click later is a choice again: it leaves.
    await button.click();
    await pane(page, room).waitFor({ state: 'detached' });
  });
});

test('a server that closes each new connection at once (overloaded, 1013): the page retries ever more slowly, not every half second, and says it is disconnected once, not at every try', async () => {
  const room = await fixtures.room('Busy');
  await inTab({}, async ({ page, relay }) => {
    await join(page, room);
    await recordAnnouncements(page);
    relay.overloaded = true;
    relay.losing = /"command":"send"/;
    await write(page, room, 'lost with its connection');
    await page.locator(`#room-${room.id}.is-offline`).waitFor();
    const dropped = relay.connected.length;
    // Each reconnect opens, sends its re-join, and is closed: four of them.
    await waitFor(() => relay.connected.length >= dropped + 4, 15_000, 'four reconnects');
    const gaps = relay.connected.slice(dropped).map((at, i, all) => at - (all[i - 1] ?? at));
    // The fourth try waits 4 s ± 50 %: a backoff that restarted at every open waits 0.5 s ± 50 %.
    assert.ok(gaps[3]! >= 1500, `the delays grow: ${gaps.join(', ')} ms`);
    assert.is(await page.locator('#panes .pane').count(), 1, 'one pane all along');
    // One outage, said once: a connection closed before it re-joined anything was never back.
    assert.equal(await announced(page, 'connection-text'), ['Disconnected. Reconnecting…']);
    // The server takes connections again (back online: the page tries at once).
    relay.overloaded = false;
    await page.evaluate(`window.dispatchEvent(new Event('online'))`);
    await page.locator(`#room-${room.id}:not(.is-offline)`).waitFor({ timeout: 20_000 });
    await page.locator('#connection-status[data-state="connected"]').waitFor();
    assert.equal(await announced(page, 'connection-text'), [
      'Disconnected. Reconnecting…',
      'Reconnected.',
    ]);
  });
});

test('a room renamed in the admin: after a reconnect, its re-join shows the new title in the pane and the list, as text', async () => {
  const room = await fixtures.room('Old name');
  const renamed = 'New <b>name</b>';
  await inTab({}, async ({ page, chat }) => {
    await join(page, room);
    const admin = new BrowserlessClient(chat.ports[0]!);
    await admin.login('sam', PASSWORD);
    await admin.get(`/admin/rooms/${room.id}/`);
    assert.is((await admin.post(`/admin/rooms/${room.id}/`, { title: renamed })).status, 303);
    // Any close but a logout's: the page reconnects and re-joins.
    await chat.layer.groupSend(roomGroup(room.id), { close: 1012 });
    await page.locator(`#room-${room.id}.is-offline`).waitFor();
    await page.locator(`#room-${room.id}:not(.is-offline)`).waitFor();
    assert.is(await pane(page, room).locator('h2').textContent(), renamed);
    assert.is(
      await page.locator(`.room-link[data-room-id="${room.id}"] .room-title`).textContent(),
      renamed,
    );
    await page.getByRole('button', { name: renamed, exact: true }).waitFor();
    await page.getByRole('textbox', { name: `Message to ${renamed}` }).waitFor();
    assert.is(await page.locator('.chat b').count(), 0, 'no markup was made');
  });
});

/**
 * Waits until the tab's socket is in `room`'s group, which it may be before its
 * join is answered: a frame sent to the group then reaches the page.
 */
async function inRoomGroup(
  { chat, relay }: Pick<Tab, 'chat' | 'relay'>,
  room: Room,
  what: string,
): Promise<void> {
  await waitFor(
    async () => {
      await chat.layer.groupSend(roomGroup(room.id), { text: '{}' });
      return relay.passed.includes('{}');
    },
    5000,
    what,
  );
}

test("a room's messages and notices that come before the answer to its join: shown once the pane appears, in order", async () => {
  const room = await fixtures.room('Early');
  const nora = await fixtures.login(await fixtures.user('nora'));
  await inTab({}, async ({ page, relay, chat }) => {
    relay.holding = /^\{"join"/;
    await page.locator(`.room-link[data-room-id="${room.id}"]`).click();
    await waitFor(() => relay.held.length === 1, 5000, 'the answer to the join');
    // The group add follows the answer: in once a frame sent to the room reaches the page.
    await inRoomGroup({ chat, relay }, room, 'sam in the room');
    const other = await chatClient(chat.ports[0]!, nora);
    try {
      other.send(JSON.stringify({ command: 'join', room: room.id }));
      for (const message of ['one', '<b>two</b>'])
        other.send(JSON.stringify({ command: 'send', room: room.id, message }));
      other.send(JSON.stringify({ command: 'leave', room: room.id }));
      await waitFor(
        () => relay.passed.filter((frame) => frame.includes('"username":"nora"')).length === 4,
        5000,
        "nora's notices and messages to reach the page",
      );
      assert.is(await pane(page, room).count(), 0, 'no pane yet');
      relay.release();
      await pane(page, room).waitFor();
      const items = pane(page, room).locator('.messages li');
      assert.equal(await items.allTextContents().then((all) => all.map(withoutTime)), [
        'nora joined',
        'noraone',
        'nora<b>two</b>',
        'nora left',
      ]);
      assert.is(await pane(page, room).locator('b').count(), 0, 'no markup was made');
    } finally {
      other.close();
    }
  });
});

test("a join lost with its connection, made again once reconnected: the room's messages that come before that answer are shown too", async () => {
  const room = await fixtures.room('Early again');
  const noor = await fixtures.login(await fixtures.user('noor'));
  await inTab({}, async ({ page, relay, chat }) => {
    relay.holding = /^\{"join"/;
    await page.locator(`.room-link[data-room-id="${room.id}"]`).click();
    await waitFor(() => relay.held.length === 1, 5000, 'the answer to the join');
    // Lost with its connection: the page joins again once reconnected.
    relay.cut();
    relay.held.splice(0);
    await waitFor(() => relay.held.length === 1, 5000, 'the answer to the join made again');
    await inRoomGroup({ chat, relay }, room, 'sam in the room again');
    const other = await chatClient(chat.ports[0]!, noor);
    try {
      await joinSettled(other, room.id);
      other.send(JSON.stringify({ command: 'send', room: room.id, message: 'meanwhile' }));
      await waitFor(
        () => relay.passed.some((frame) => frame.includes('"message":"meanwhile"')),
        5000,
        "noor's message to reach the page",
      );
      assert.is(await pane(page, room).count(), 0, 'no pane yet');
      relay.release();
      await pane(page, room).waitFor();
      assert.equal(
        await pane(page, room)
          .locator('.messages li')
          .allTextContents()
          .then((all) => all.map(withoutTime)),
        ['noor joined', 'noormeanwhile'],
      );
    } finally {
      other.close();
    }
  });
});

/** A list item's text without its time (hh:mm). */
function withoutTime(text: string): string {
  return text.replace(/^\d\d:\d\d/, '');
}

/**
 * Stops the page's clock: from now on its timers fire only as the test runs
 * them, so a try put off by its backoff never comes by itself, however slowly
 * the machine runs; what reconnects the page then is what the test did.
 */
async function pauseClock(page: Page): Promise<void> {
  await page.clock.install();
  // A second ahead: the installed clock runs on between the two calls (pausing
  // at the time read fails as "fast-forward to the past" on a loaded machine),
  // and a connected page has no timer due so soon that it would matter.
  await page.clock.pauseAt(((await page.evaluate('Date.now()')) as number) + 1000);
}

/**
 * With the page's clock paused, runs its tries one after another, each failing,
 * until the backoff before the next is `seconds` or more; resolves with that try
 * pending, and nothing else under way (no socket, no session check).
 */
async function backoffGrownTo(page: Page, seconds: number): Promise<void> {
  for (;;) {
    let next = 0;
    await waitFor(
      async () => {
        const note = (await page.locator('#connection-retry').textContent()) ?? '';
        next = Number(/^Next try in (\d+) s\.$/.exec(note)?.[1] ?? 0);
        return next > 0;
      },
      10_000,
      'a try put off',
    );
    if (next >= seconds) return;
    // The note rounds the delay: it is less than half a second more than it says.
    await page.clock.fastForward(next * 1000 + 500);
  }
}

test('the browser offline, then online: the page says it is disconnected, keeps what was typed, and is back at once, not at its next try', async () => {
  const room = await fixtures.room('Offline a while');
  await inTab({}, async ({ page, relay, chat }) => {
    await join(page, room);
    await box(page, room).fill('typed while offline');
    await pauseClock(page);
    await page.context().setOffline(true);
    // Chromium's offline mode spares a socket already open: it dies on its own.
    await chat.layer.groupSend(roomGroup(room.id), { close: 1012 });
    await page.locator('#connection-status[data-state="disconnected"]').waitFor();
    assert.is(await page.locator('#connection-text').textContent(), 'Disconnected. Reconnecting…');
    // Tries made offline fail, and the backoff grows.
    await backoffGrownTo(page, 3);
    const tries = relay.connected.length;
    await page.context().setOffline(false);
    // Its next try never comes by itself (the clock is paused): back, it is the network's doing.
    await page.locator(`#room-${room.id}:not(.is-offline)`).waitFor();
    assert.is(relay.connected.length, tries + 1, 'one connection, the one the network brought');
    await sendWhatWasTyped(page, room, 'sam', 'typed while offline');
  });
});

test('a tab shown again after its connection dropped while hidden: it reconnects then, not at its next try', async () => {
  const room = await fixtures.room('Hidden a while');
  await inTab({}, async ({ page, relay }) => {
    await join(page, room);
    await pauseClock(page);
    // Every try fails while the tab is hidden, and the backoff grows.
    relay.overloaded = true;
    relay.cut();
    await backoffGrownTo(page, 3);
    relay.overloaded = false;
    const tries = relay.connected.length;
    // Headless Chromium never hides a page: its visibility is "visible" throughout,
    // and this is the event a browser sends as the tab is shown again.
    await page.evaluate(`document.dispatchEvent(new Event('visibilitychange'))`);
    // Its next try never comes by itself (the clock is paused): back, it is being shown that did it.
    await page.locator(`#room-${room.id}:not(.is-offline)`).waitFor();
    assert.is(relay.connected.length, tries + 1);
  });
});

/**
 * What wakes a page to its connection: the tab shown again (headless Chromium
 * never hides a page, so the event is sent as a browser sends it), and the
 * browser back online.
 */
const WAKES = [
  `document.dispatchEvent(new Event('visibilitychange'))`,
  `window.dispatchEvent(new Event('online'))`,
];

/**
 * Makes the page's connection go silent unseen, its last word heard 30 s ago on
 * the page's own (installed) clock, then wakes the page with `wake`. Returns how
 * many connections the relay had seen before, for a new one to be awaited.
 */
async function goQuietAndWake(page: Page, relay: Relay, wake: string): Promise<number> {
  relay.silence();
  const tries = relay.connected.length;
  await page.clock.fastForward(30_000);
  await page.evaluate(wake);
  return tries;
}

test('a connection gone silent unseen (a frozen server, a dead network path): shown again or back online, the page asks, and reconnects when no answer comes', async () => {
  const room = await fixtures.room('Gone quiet');
  await inTab({}, async ({ page, relay }) => {
    await join(page, room);
    await box(page, room).fill('typed before it went quiet');
    // The page's own clock, so that its waits can be run at once.
    await page.clock.install();
    for (const wake of WAKES) {
      // Heard from last a while ago: it is asked something (a join of a room it has).
      const tries = await goQuietAndWake(page, relay, wake);
      await page.clock.fastForward(20_000);
      await waitFor(() => relay.connected.length > tries, 5000, `a new connection: ${wake}`);
      await page.locator('#connection-status[data-state="connected"]').waitFor({ timeout: 5000 });
      await page.locator(`#room-${room.id}:not(.is-offline)`).waitFor({ timeout: 5000 });
      assert.is(await page.locator('#connection-text').textContent(), 'Reconnected.', wake);
      assert.is(relay.connected.length, tries + 1, `one new connection: ${wake}`);
    }
    // Heard from just now: shown again, it asks nothing.
    const sent = relay.passed.length;
    await page.evaluate(WAKES[0]!);
    await sleep(300);
    assert.is(relay.passed.length, sent, 'no command, so no answer');
    await sendWhatWasTyped(page, room, 'sam', 'typed before it went quiet');
  });
});

test('a page with no room open left alone past the silence timeout (20 s), its join and leave answered: one connection all along, and the status never changes', async () => {
  const room = await fixtures.room('In and out');
  await inTab({}, async ({ page, relay }) => {
    // Every state the status is given from here on, the same one again too.
    await page.evaluate(`(() => {
      const status = document.getElementById('connection-status');
      window.__states = [];
      new MutationObserver(() => window.__states.push(status.getAttribute('data-state')))
        .observe(status, { attributes: true, attributeFilter: ['data-state'] });
    })()`);
    // Commands answered: the page owes nothing, so it waits for nothing.
    await join(page, room);
    await page.locator(`.room-link[data-room-id="${room.id}"]`).click();
    await pane(page, room).waitFor({ state: 'detached' });
    const connections = relay.connected.length;
    // In real time, on the page's own timers (its handshake's and its commands'
    // waits for an answer among them), over a socket that brings nothing.
    await sleep(25_000);
    assert.is(relay.connected.length, connections, 'no new connection');
    assert.equal(await page.evaluate('window.__states'), [], 'the status never changed');
    assert.is(await page.locator('#connection-text').textContent(), 'Connected.');
    assert.is(await alertText(page), '');
    // The socket of all along still carries commands.
    await join(page, room);
    assert.is(relay.connected.length, connections);
  });
});

test('a page with no room open whose connection went silent unseen: shown again or back online, it connects afresh at once, and its first join is answered', async () => {
  const room = await fixtures.room('Nothing open yet');
  await inTab({}, async ({ page, relay }) => {
    await page.clock.install();
    for (const wake of WAKES) {
      const tries = await goQuietAndWake(page, relay, wake);
      // With no room to ask about, the probe is a fresh connection: nothing to wait out.
      await waitFor(() => relay.connected.length > tries, 5000, `a new connection: ${wake}`);
      await join(page, room);
      assert.is(relay.connected.length, tries + 1, `one new connection: ${wake}`);
      // A renewal the user need not hear of: connected all along, as far as the page says.
      assert.is(await page.locator('#connection-text').textContent(), 'Connected.', wake);
      assert.is(
        await page.locator('#connection-status').getAttribute('data-state'),
        'connected',
        wake,
      );
      // Out again, for the next wake to find no room open.
      await page.locator(`.room-link[data-room-id="${room.id}"]`).click();
      await pane(page, room).waitFor({ state: 'detached' });
    }
  });
});

test('a page with no room open whose fresh connection fails (no worker up): it says it is disconnected, not connected, and is back once the chat is', async () => {
  const room = await fixtures.room('Nothing open, chat down');
  // Thyme refuses a handshake no worker answers after 2 s here (5 by default).
  await inTab({ websocketConnectTimeout: 2 }, async ({ page, relay, chat }) => {
    await page.clock.install();
    await chat.stopWorker();
    relay.silence();
    await page.clock.fastForward(30_000);
    await page.evaluate(WAKES[0]!);
    await page.locator('#connection-status[data-state="disconnected"]').waitFor();
    assert.is(await page.locator('#connection-text').textContent(), 'Disconnected. Reconnecting…');
    chat.startWorker();
    // Back online: it tries at once (its session check hangs until the page's clock moves).
    await page.evaluate(WAKES[1]!);
    await page.locator('#connection-status[data-state="connected"]').waitFor();
    assert.is(await page.locator('#connection-text').textContent(), 'Reconnected.');
    await join(page, room);
  });
});

test('a room clicked while a page with no room open connects afresh unseen: no "not connected" alert, and it is joined once that connection opens', async () => {
  const room = await fixtures.room('Clicked while renewing');
  await inTab({}, async ({ page, relay }) => {
    await page.clock.install();
    relay.holdConnections();
    const tries = relay.connected.length;
    await page.clock.fastForward(30_000);
    await page.evaluate(WAKES[0]!);
    await waitFor(() => relay.connected.length > tries, 5000, 'a new connection');
    await page.locator(`.room-link[data-room-id="${room.id}"]`).click();
    assert.is(await alertText(page), '', 'the page says it is connected, and asks no second try');
    relay.openConnections();
    await pane(page, room).waitFor();
    assert.is(
      await page.evaluate('document.activeElement.id'),
      `room-${room.id}-input`,
      'the join asked for: its send box has focus',
    );
    assert.is(relay.connected.length, tries + 1, 'one new connection');
    assert.is(await page.locator('#connection-text').textContent(), 'Connected.');
  });
});

test('rooms clicked faster than the server answers, past its rate: the panes shown are the rooms the server has the socket in', async () => {
  const rooms: Room[] = [];
  for (const title of ['Rapid A', 'Rapid B', 'Rapid C', 'Rapid D', 'Rapid E']) {
    rooms.push(await fixtures.room(title));
  }
  await inTab({}, async ({ page, relay, chat }) => {
    // Each click as the user's, one after another with nothing in between.
    const click = (ids: string[]) =>
      page.evaluate(`for (const id of ${JSON.stringify(ids)})
        document.querySelector('.room-link[data-room-id="' + id + '"]')
          .dispatchEvent(new MouseEvent('click', { bubbles: true, detail: 1 }))`);
    const ids = rooms.map((room) => String(room.id));
    // 45 commands against a burst of 30: some are refused for the rate, some
    // meet the answers of others, joins and leaves of the same room cross.
    for (let round = 0; round < 9; round++) {
      await click([ids[0]!, ids[0]!, ids[round % 5]!, ids[1]!, ids[(round * 3) % 5]!]);
      if (round % 3 === 0) await sleep(5);
    }
    // Each command is answered once, in order: with its reply or a refusal.
    const answers = () => relay.passed.filter((frame) => /^\{"(join|leave|error)"/.test(frame));
    await waitFor(() => answers().length === 45, 10_000, 'every answer');
    const other = await chatClient(
      chat.ports[0]!,
      await fixtures.login(await fixtures.user('rapid-witness')),
    );
    try {
      for (const room of rooms) await joinSettled(other, room.id);
      for (const room of rooms) {
        other.send(JSON.stringify({ command: 'send', room: room.id, message: `to ${room.id}` }));
      }
      // Its own copies: every member's went with them.
      for (const room of rooms) assert.is((await nextJson(other)).message, `to ${room.id}`);
    } finally {
      other.close();
    }
    const shown = await page
      .locator('#panes .pane')
      .evaluateAll((panes) => panes.map((pane) => pane.getAttribute('data-room-id')!).sort());
    const copies = () => relay.passed.filter((frame) => frame.includes('"to '));
    await waitFor(() => copies().length >= shown.length, 5000, 'the copies to the panes');
    await sleep(300);
    const inRoom = copies()
      .map((frame) => String((JSON.parse(frame) as { room: unknown }).room))
      .sort();
    const pressed = await page
      .locator('.room-link[aria-pressed="true"]')
      .evaluateAll((links) => links.map((link) => link.getAttribute('data-room-id')!).sort());
    assert.equal(shown, inRoom, 'a pane for each room the server has the socket in, no other');
    assert.equal(pressed, shown);
    for (const id of shown) {
      assert.is(await page.locator(`#room-${id} li.message`).count(), 1, `one copy in ${id}`);
    }
  });
});

test('reconnected again and again: one socket, one pane a room, one copy of each message, no listeners or timers piling up', async () => {
  const first = await fixtures.room('Restarted often');
  const second = await fixtures.room('Restarted often too');
  await inTab({}, async ({ page, relay, chat }) => {
    await join(page, first);
    await join(page, second);
    // Counts what the page adds from now on: sockets, listeners on window and document, timers.
    await page.evaluate(`(() => {
      const count = { sockets: [], listeners: 0, intervals: 0 };
      window.__count = count;
      const Native = window.WebSocket;
      window.WebSocket = class extends Native {
        constructor(...args) { super(...args); count.sockets.push(this); }
      };
      const add = EventTarget.prototype.addEventListener;
      EventTarget.prototype.addEventListener = function (...args) {
        if (this === window || this === document) count.listeners++;
        return add.apply(this, args);
      };
      const every = window.setInterval;
      window.setInterval = (...args) => { count.intervals++; return every(...args); };
    })()`);
    const before = relay.connected.length;
    // Each time the first room's pane is shown offline, however briefly.
    await page.evaluate(`(() => {
      const first = document.getElementById(${JSON.stringify(`room-${first.id}`)});
      window.__offline = 0;
      new MutationObserver((changes) => {
        // Each change's new value is the next one's old value, the last one's is current.
        const values = [...changes.map((change) => change.oldValue || ''), first.className];
        const offline = values.map((value) => value.split(' ').includes('is-offline'));
        for (let i = 1; i < offline.length; i++) if (offline[i] && !offline[i - 1]) window.__offline++;
      }).observe(first, { attributeFilter: ['class'], attributeOldValue: true });
    })()`);
    for (let restart = 1; restart <= 4; restart++) {
      await chat.layer.groupSend(roomGroup(first.id), { close: 1012 });
      // The relay counts each new connection: a page offline for less than a
      // locator's polling interval is missed by it, never by this count.
      await waitFor(
        () => relay.connected.length >= before + restart,
        10_000,
        `reconnect ${restart}`,
      );
      assert.is(relay.connected.length, before + restart, `one connection for restart ${restart}`);
      // Offline from its close until its re-joins are answered, on the new connection.
      await page.locator('#panes .pane.is-offline').first().waitFor({ state: 'detached' });
    }
    assert.is(await page.evaluate('window.__offline'), 4, 'the pane shown offline at each restart');
    const connections = relay.connected.length;
    await sleep(1500);
    assert.is(relay.connected.length, connections, 'no try left over to connect again');
    const count = (await page.evaluate(`({
      states: window.__count.sockets.map((socket) => socket.readyState),
      listeners: window.__count.listeners,
      intervals: window.__count.intervals,
    })`)) as { states: number[]; listeners: number; intervals: number };
    assert.equal(count.states, [3, 3, 3, 1], 'one socket open, the last');
    assert.is(count.listeners, 0, 'no listener added to window or document');
    assert.is(count.intervals, 0, 'no interval added');
    assert.is(await page.locator('#panes .pane').count(), 2);
    const other = await chatClient(
      chat.ports[0]!,
      await fixtures.login(await fixtures.user('restart-witness')),
    );
    try {
      for (const room of [first, second]) await joinSettled(other, room.id);
      for (const room of [first, second]) {
        other.send(JSON.stringify({ command: 'send', room: room.id, message: 'once' }));
      }
      for (const room of [first, second]) {
        await waitFor(
          async () => (await delivered(page, room)).join() === 'restart-witness: once',
          5000,
          `the message in ${room.title}`,
        );
      }
    } finally {
      other.close();
    }
  });
});

/**
 * Counts, in the page, its retry loops: each is at any moment a try waiting (a
 * timer that calls `connect`), a socket connecting or open, or a session check
 * in flight (a fetch neither settled nor aborted). `max` is the most there were
 * at once, taken whenever one is added; `checks`, how many checks began;
 * `tries`, how many tries were put off (timers set).
 */
const COUNT_LOOPS = `(() => {
  const count = { max: 0, checks: 0, tries: 0, sockets: [], timers: new Set(), fetches: new Set() };
  window.__loops = count;
  const now = () =>
    count.timers.size +
    count.sockets.filter((socket) => socket.readyState < 2).length +
    [...count.fetches].filter((f) => !(f.signal && f.signal.aborted)).length;
  const note = () => { count.max = Math.max(count.max, now()); };
  const Native = window.WebSocket;
  window.WebSocket = class extends Native {
    constructor(...args) { super(...args); count.sockets.push(this); note(); }
  };
  const later = window.setTimeout;
  const stop = window.clearTimeout;
  window.setTimeout = (fn, delay, ...args) => {
    if (typeof fn !== 'function' || fn.name !== 'connect') return later(fn, delay, ...args);
    const id = later(() => { count.timers.delete(id); fn(...args); }, delay);
    count.timers.add(id);
    count.tries++;
    note();
    return id;
  };
  window.clearTimeout = (id) => { count.timers.delete(id); stop(id); };
  const get = window.fetch;
  window.fetch = (input, init) => {
    const entry = { signal: init && init.signal };
    count.checks++;
    count.fetches.add(entry);
    note();
    const settled = () => count.fetches.delete(entry);
    const answer = get(input, init);
    answer.then(settled, settled);
    return answer;
  };
})()`;

test('woken again and again during an outage (back online, tab shown again) while its session check hangs: one retry loop at a time', async () => {
  const room = await fixtures.room('Woken often');
  // No worker: Thyme refuses the handshake after 1 s, and the session check
  // hangs until the page gives up on it (5 s).
  await inTab({ websocketConnectTimeout: 1 }, async ({ page, chat }) => {
    await join(page, room);
    await chat.stopWorker();
    await page.evaluate(COUNT_LOOPS);
    const checks = (n: number) =>
      waitFor(
        async () => ((await page.evaluate('window.__loops.checks')) as number) >= n,
        10_000,
        `session check ${n}`,
      );
    await chat.layer.groupSend(roomGroup(room.id), { close: 1012 });
    await checks(1);
    await page.evaluate(`window.dispatchEvent(new Event('online'))`);
    await checks(2);
    assert.is(await page.evaluate('document.visibilityState'), 'visible');
    await page.evaluate(`document.dispatchEvent(new Event('visibilitychange'))`);
    await checks(3);
    // Every check so far has run out (5 s), and the tries after them have begun.
    await sleep(6500);
    assert.is(await page.evaluate('window.__loops.max'), 1, 'one retry loop at a time');

    chat.startWorker();
    await page.locator('#connection-status[data-state="connected"]').waitFor({ timeout: 30_000 });
    await page.locator(`#room-${room.id}:not(.is-offline)`).waitFor();
    await sleep(1500);
    const states = (await page.evaluate(
      'window.__loops.sockets.map((socket) => socket.readyState)',
    )) as number[];
    assert.equal(
      states.filter((state) => state !== 3),
      [1],
      'one socket, open',
    );
    assert.is(await page.evaluate('window.__loops.timers.size'), 0, 'no try left waiting');
    assert.is(await page.evaluate('window.__loops.max'), 1, 'one retry loop at a time');
  });
});

/**
 * The events Chromium sends as a page goes into its back/forward cache, and
 * comes out of it (it does not keep this page there itself).
 */
const PAGEHIDE = `window.dispatchEvent(new PageTransitionEvent('pagehide', { persisted: true }))`;
const PAGESHOW = `window.dispatchEvent(new PageTransitionEvent('pageshow', { persisted: true }))`;

test('a page restored from the back/forward cache before its socket is heard closing reconnects at once, not after a backoff', async () => {
  const room = await fixtures.room('Restored');
  await inTab({}, async ({ page, relay }) => {
    await join(page, room);
    await page.evaluate(COUNT_LOOPS);
    const connections = relay.connected.length;
    // In the same task, so that the socket pagehide closes is heard closing only
    // once the page is shown again.
    await page.evaluate(`${PAGEHIDE}; ${PAGESHOW}`);
    // The new connection first: the pane and the status awaited below were so
    // before the page was hidden too, and may not have changed yet.
    await waitFor(() => relay.connected.length > connections, 5000, 'a new connection');
    await page.locator(`#room-${room.id}:not(.is-offline)`).waitFor({ timeout: 5000 });
    await page.locator('#connection-status[data-state="connected"]').waitFor();
    assert.is(relay.connected.length, connections + 1, 'one new connection');
    assert.is(await page.evaluate('window.__loops.sockets.length'), 1);
    assert.is(await page.evaluate('window.__loops.max'), 1);
    assert.is(await page.evaluate('window.__loops.tries'), 0, 'no try put off');
  });
});

test('a page restored from the back/forward cache whose socket closed unanswered (a dead path): it reconnects at once, not when the browser gives up on that close', async () => {
  const room = await fixtures.room('Restored, unanswered');
  await inTab({}, async ({ page, relay }) => {
    await join(page, room);
    await box(page, room).fill('typed before leaving');
    relay.silence();
    const connections = relay.connected.length;
    await page.evaluate(PAGEHIDE);
    await page.evaluate(PAGESHOW);
    await waitFor(() => relay.connected.length > connections, 5000, 'a new connection');
    await page.locator(`#room-${room.id}:not(.is-offline)`).waitFor({ timeout: 5000 });
    await page.locator('#connection-status[data-state="connected"]').waitFor();
    assert.is(relay.connected.length, connections + 1, 'one new connection');
    await box(page, room).press('Enter');
    await waitFor(
      async () => (await delivered(page, room)).join() === 'sam: typed before leaving',
      5000,
      'the message',
    );
  });
});

test('a room made staff-only under a non-staff member, who then writes to it: the pane goes with one alert keeping the text, other rooms go on, no reconnect loop', async () => {
  const closed = await fixtures.room('Closing door');
  const open = await fixtures.room('Open door');
  const nora = await fixtures.login(await fixtures.user('nora-closed-to'));
  await inTab(
    {},
    async ({ page, relay }) => {
      await joinBefore(page, closed, open);
      // Outside Gredis (or with the layer away): no 4002 reached the page.
      await fixtures.rooms.update(closed.id, 'Closing door', true);
      await write(page, closed, '<i>are you there?</i>');
      await pane(page, closed).waitFor({ state: 'detached' });
      // The server closed the socket (4002): the page is back, in the room still open to it.
      await waitFor(() => relay.connected.length === 2, 5000, 'the reconnect');
      await page.locator('#connection-status[data-state="connected"]').waitFor();
      await waitFor(
        async () => !(await pane(page, open).getAttribute('class'))!.includes('is-offline'),
        5000,
        'the open room re-joined',
      );
      const alert = page.locator('#alerts .alert-item');
      assert.is(await alert.count(), 1, 'one alert');
      assert.match(
        (await alert.textContent()) ?? '',
        /Could not send to “Closing door”\. You don’t have access to that room: it is for staff only\. What you wrote there:/,
      );
      assert.is(await alert.locator('.alert-quote').textContent(), '<i>are you there?</i>');
      assert.is(await page.locator('#alerts i').count(), 0, 'as text');
      assert.is(await page.locator('.pane').count(), 1, 'only the open room');
      await write(page, open, 'still here');
      await waitFor(async () => (await delivered(page, open)).length === 1, 5000, 'the message');
      await sleep(2000);
      assert.is(relay.connected.length, 2, 'no reconnect loop');
    },
    nora,
  );
});

test('a deactivated user writes: one "session has ended" alert with a link to log in, the text back in its box; made active again meanwhile, that alert goes once the page is back', async () => {
  const room = await fixtures.room('Deactivation');
  const user = await fixtures.user('nora-deactivated');
  const nora = await fixtures.login(user);
  await inTab(
    {},
    async ({ page, relay }) => {
      await join(page, room);
      await recordAnnouncements(page);
      // Outside Gredis: no 4001 reached the page; the command's check finds it.
      await fixtures.users.update(user.id, { isActive: false });
      await write(page, room, 'hello?');
      await page
        .locator('#connection-status[data-state="disconnected"]', { hasText: 'logged out' })
        .waitFor();
      const alert = page.locator('#alerts .alert-item');
      assert.is(await alert.count(), 1, 'one alert');
      // Said by the refusal, and found true by the session check after the 4001: once.
      assert.is(
        (await announced(page, 'alerts')).filter((text) => /session has ended/.test(text)).length,
        1,
        'announced once',
      );
      assert.match((await alert.textContent()) ?? '', /Your session has ended.*Log in again/);
      // The 4001 is no outage: the status never said it was reconnecting.
      assert.equal(await announced(page, 'connection-text'), [
        'Disconnected.',
        'Disconnected: you are logged out.',
      ]);
      assert.is(await pane(page, room).locator('.alert-item').count(), 0, 'no pane error');
      assert.is(await box(page, room).inputValue(), 'hello?');
      await sleep(1500);
      assert.is(relay.connected.length, 1, 'no reconnect');
      // Shown again from the back/forward cache: it tries, is refused, and its
      // session check finds the same. The alert up already is not made again.
      const checked = page.waitForResponse((response) => new URL(response.url()).pathname === '/');
      await page.evaluate(`${PAGEHIDE}; ${PAGESHOW}`);
      await checked;
      await page.locator('#connection-retry:empty').waitFor({ state: 'attached' });
      assert.is(relay.connected.length, 2, 'one try');
      assert.is(await alert.count(), 1, 'one alert still');
      assert.is(
        (await announced(page, 'alerts')).filter((text) => /session has ended/.test(text)).length,
        1,
        'still announced once',
      );
    },
    nora,
  );
  const again = await fixtures.user('nora-reactivated');
  const noraAgain = await fixtures.login(again);
  await inTab(
    {},
    async ({ page, relay }) => {
      await join(page, room);
      await fixtures.users.update(again.id, { isActive: false });
      // Made active again before the page asks whether its session is alive.
      await page.route(/\/$/, async (route) => {
        await fixtures.users.update(again.id, { isActive: true });
        await route.continue();
      });
      await write(page, room, 'hello again?');
      await waitFor(() => relay.connected.length === 2, 5000, 'the reconnect');
      await page.locator('#connection-status[data-state="connected"]').waitFor();
      await waitFor(
        async () => !(await pane(page, room).getAttribute('class'))!.includes('is-offline'),
        5000,
        're-joined',
      );
      assert.not.match(await alertText(page), /session has ended/);
      assert.is(await box(page, room).inputValue(), 'hello again?');
      await box(page, room).press('Enter');
      await waitFor(async () => (await delivered(page, room)).length === 1, 5000, 'sent');
    },
    noraAgain,
  );
});

test.run();
