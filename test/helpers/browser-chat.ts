import type { Browser } from 'playwright-core';
import type { Test } from 'uvu';
import { fileWatchdog, killChildren, launchChromium } from './chromium.js';
import { sqliteBackend } from './databases.js';
import { EmbeddedChat, Fixtures } from './deployment.js';

/** What a browser suite works with: one embedded chat and one Chromium, for all its tests. */
export interface BrowserChatState {
  fixtures: Fixtures;
  chat: EmbeddedChat;
  browser: Browser;
  /** The chat's address, as the browser reaches it: `http://localhost:<port>`. */
  base: string;
}

/**
 * Registers the hooks of a suite whose tests drive Debian's Chromium against
 * one embedded chat (a migrated SQLite file, the in-process layer) started
 * before them, and everything stopped after them. `ready` receives the state
 * once all is running, to make what the suite shares (users, rooms, a page).
 * The file `file` is killed should it still run after `deadlineMs`: a browser
 * that hangs must not hold the runner's budget.
 */
export function useBrowserOnEmbeddedChat(
  test: Test,
  file: string,
  deadlineMs: number,
  ready: (state: BrowserChatState) => void | Promise<void>,
): void {
  const database = sqliteBackend();
  const watchdog = fileWatchdog(file, deadlineMs);
  let chat: EmbeddedChat | undefined;
  let browser: Browser | undefined;
  test.before(async () => {
    await database.setup();
    const fixtures = new Fixtures(await database.openMigrated());
    chat = await EmbeddedChat.start(fixtures.db);
    browser = await launchChromium();
    await ready({ fixtures, chat, browser, base: `http://localhost:${chat.ports[0]}` });
  });
  test.after(async () => {
    await browser?.close();
    await chat?.stop();
    killChildren();
    await database.teardown();
    clearTimeout(watchdog);
  });
}
