/**
 * The chat page (chat.js) in Debian's headless Chromium, driven by
 * playwright-core against MultiChat embedded in the test's process: its socket
 * through a relay the test steers, and what the page shows and announces.
 */
import type { Browser, Page, WebSocketRoute } from 'playwright-core';
import * as assert from 'uvu/assert';
import type { Room } from '../../src/apps/multichat/rooms.js';
import type { Database } from '../../src/db/connection.js';
import { addSessionCookie } from './chromium.js';
import { EmbeddedChat } from './deployment.js';
import { waitFor } from './wait.js';

/**
 * The page's chat socket, through a relay: the server's frames that match
 * `holding` wait in `held` until `release()`, the others are in `passed`; the
 * page's next frame that matches
 * `losing` never reaches the server, and its connection then drops, as one that
 * was already dead when the page wrote into it. While `overloaded`, a new
 * connection is closed with 1013 at the page's first frame, as a server that
 * cannot take its messages closes it. `connected`: when each connection came.
 */
export class Relay {
  holding: RegExp | undefined;
  losing: RegExp | undefined;
  /** The page's next frame that matches never reaches the server; its connection lives until cut(). */
  swallowing: RegExp | undefined;
  overloaded = false;
  /** Connections whose path drops every frame both ways, open all the same (silence()). */
  private readonly silenced = new WeakSet<WebSocketRoute>();
  readonly held: string[] = [];
  readonly passed: string[] = [];
  readonly connected: number[] = [];
  private page: WebSocketRoute | undefined;
  private server: WebSocketRoute | undefined;
  /** While set, new connections wait for it, their handshakes unanswered (holdConnections()). */
  private gate: Promise<void> | undefined;
  private openGate: (() => void) | undefined;

  static async install(page: Page): Promise<Relay> {
    const relay = new Relay();
    await page.routeWebSocket(/\/chat\/stream\/(\?|$)/, (route) => relay.attach(route));
    return relay;
  }

  /** Sends the frames held on to the page, in order, and holds no more. */
  release(): void {
    this.holding = undefined;
    for (const frame of this.held.splice(0)) this.page!.send(frame);
  }

  /**
   * From now on the current connection carries nothing either way, and stays
   * open: a frozen server, or a network path that drops packets, which neither
   * end is told of. The page's close too goes unanswered: the browser hears it
   * closing only when it gives up on that (Chromium: after a minute), the relay
   * never. New connections pass.
   */
  silence(): void {
    this.silenced.add(this.page!);
  }

  /**
   * New connections wait from now on, their handshakes unanswered (the page's
   * socket stays connecting), until openConnections(): a slow path or server.
   */
  holdConnections(): void {
    this.gate = new Promise((resolve) => (this.openGate = resolve));
  }

  /** The connections held go on to the server, and new ones pass at once. */
  openConnections(): void {
    this.openGate?.();
    this.gate = undefined;
  }

  /** Drops the page's connection (1006), and the server's, as one found dead some time after it died. */
  cut(): void {
    this.page!.close({ code: 1006 });
    this.server!.close();
  }

  private async attach(page: WebSocketRoute): Promise<void> {
    this.connected.push(Date.now());
    // Playwright opens the page's socket once this returns, or once the server's has opened.
    await this.gate;
    this.page = page;
    if (this.overloaded) return page.onMessage(() => page.close({ code: 1013 }));
    const server = page.connectToServer();
    this.server = server;
    page.onMessage((frame) => {
      if (this.silenced.has(page)) return;
      if (this.swallowing?.test(String(frame))) return void (this.swallowing = undefined);
      if (!this.losing?.test(String(frame))) return server.send(frame);
      this.losing = undefined;
      page.close({ code: 1006 });
    });
    page.onClose((code, reason) => {
      if (!this.silenced.has(page)) void server.close({ code, reason });
    });
    server.onMessage((frame) => {
      if (this.silenced.has(page)) return;
      if (this.holding?.test(String(frame))) return void this.held.push(String(frame));
      this.passed.push(String(frame));
      page.send(frame);
    });
  }
}

export interface Tab {
  page: Page;
  relay: Relay;
  chat: EmbeddedChat;
}

/** Where a tab opens (inChatTab): the browser, the database its chat uses, and whose session it has. */
export interface TabOwner {
  browser: Browser;
  db: Database;
  session: string;
}

/**
 * Runs `work` in a page of the holder of `owner.session`, connected through a
 * relay to a fresh embedded chat on `owner.db`; no script error may occur in it.
 */
export async function inChatTab(
  owner: TabOwner,
  settings: Parameters<typeof EmbeddedChat.start>[1],
  work: (tab: Tab) => Promise<void>,
): Promise<void> {
  const chat = await EmbeddedChat.start(owner.db, settings);
  const context = await owner.browser.newContext();
  context.setDefaultTimeout(10_000);
  const errors: string[] = [];
  try {
    await addSessionCookie(context, owner.session);
    const page = await context.newPage();
    page.on('pageerror', (error) => errors.push(error.message));
    const relay = await Relay.install(page);
    await page.goto(`http://localhost:${chat.ports[0]}/`);
    await page.locator('#connection-status[data-state="connected"]').waitFor();
    await work({ page, relay, chat });
    assert.equal(errors, [], 'no script errors');
  } finally {
    await context.close();
    await chat.stop();
  }
}

export function pane(page: Page, room: Room) {
  return page.locator(`#room-${room.id}`);
}

export function box(page: Page, room: Room) {
  return pane(page, room).locator('input[name="message"]');
}

export async function join(page: Page, room: Room): Promise<void> {
  await page.locator(`.room-link[data-room-id="${room.id}"]`).click();
  await pane(page, room).waitFor();
}

/**
 * Joins `room`, then `next`: once `next`'s pane is there, the join of `room` has
 * wholly run, as a socket's commands run one after another. The page has no
 * other sign of it: a join's answer comes before its second check
 * (ChatConsumer.join), and a room deleted at once would meet that check and be
 * left unasked, where the test meant the page never to hear of it.
 */
export async function joinBefore(page: Page, room: Room, next: Room): Promise<void> {
  await join(page, room);
  await join(page, next);
}

/** Types a message in a room's box and sends it with Enter, as a person would. */
export async function write(page: Page, room: Room, text: string): Promise<void> {
  await box(page, room).fill(text);
  await box(page, room).press('Enter');
}

/** The texts of a pane's delivered messages, "username: text", in order. */
export async function delivered(page: Page, room: Room): Promise<string[]> {
  return pane(page, room)
    .locator('li.message')
    .evaluateAll((items) =>
      items.map(
        (li) =>
          `${li.querySelector('.username')!.textContent}: ${li.querySelector('.text')!.textContent}`,
      ),
    );
}

/**
 * Asserts that `text`, typed while the page could not send it, is still in the
 * room's box, then sends it with Enter and waits until it is the pane's one
 * delivered message, from `username`.
 */
export async function sendWhatWasTyped(
  page: Page,
  room: Room,
  username: string,
  text: string,
): Promise<void> {
  assert.is(await box(page, room).inputValue(), text);
  await box(page, room).press('Enter');
  await waitFor(
    async () => (await delivered(page, room)).join() === `${username}: ${text}`,
    5000,
    'the message',
  );
}

export async function alertText(page: Page): Promise<string> {
  return (await page.locator('#alerts').textContent()) ?? '';
}

/** The alerts of a room's own, in its pane, as a screen reader reads them (hidden text too). */
export async function paneAlertText(page: Page, room: Room): Promise<string> {
  return (await pane(page, room).getByRole('alert').textContent()) ?? '';
}

/**
 * From now on, records in the page every node added to a live region (role
 * "alert" or "status", aria-live), as a screen reader announces each: its
 * region's id (or class) and its text. A region added whole (a new pane's) is
 * not announced, nor recorded.
 */
export async function recordAnnouncements(page: Page): Promise<void> {
  await page.evaluate(`(() => {
    window.__announced = [];
    new MutationObserver((changes) => {
      for (const change of changes) {
        const region = change.target.closest('[role="alert"], [role="status"], [aria-live]');
        if (!region) continue;
        for (const node of change.addedNodes) {
          window.__announced.push({ region: region.id || region.className, text: node.textContent });
        }
      }
    }).observe(document.body, { childList: true, subtree: true });
  })()`);
}

/** The texts recorded (recordAnnouncements) in the region `region` (its id, or class), in order. */
export async function announced(page: Page, region: string): Promise<string[]> {
  const all = (await page.evaluate('window.__announced')) as { region: string; text: string }[];
  return all.filter((entry) => entry.region === region).map((entry) => entry.text);
}
