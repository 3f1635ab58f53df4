import { readdirSync, readFileSync } from 'node:fs';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { waitFor } from './wait.js';

/** Debian's Chromium: browser tests never download one. */
export const CHROMIUM = '/usr/bin/chromium';
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-quic',
  '--no-first-run',
  '--disable-component-update',
  '--disable-sync',
];

/** Debian's headless Chromium, given 30 s to start (a loaded machine starts it slowly). */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
    timeout: 30_000,
  });
}

/**
 * Waits until `expression` is truthy in `page`, looking with page.evaluate every
 * 20 ms. Not page.waitForFunction: given a string, it polls by eval() inside the
 * page once its first look fails, which the pages' CSP (script-src 'self')
 * refuses, so it failed whenever the browser had not yet done what it waited
 * for (autofocus applied at the next render). An evaluate is the debugger's,
 * which the CSP does not govern.
 */
export function untilInPage(
  page: Page,
  expression: string,
  timeoutMs: number,
  what: string,
): Promise<unknown> {
  return waitFor(() => page.evaluate(expression), timeoutMs, what);
}

/** Logs `context` in with the session `key`, as the login page's cookie would. */
export async function addSessionCookie(context: BrowserContext, key: string): Promise<void> {
  await context.addCookies([{ name: 'sessionid', value: key, domain: 'localhost', path: '/' }]);
}

/**
 * Kills everything this process started and exits, should the test file `file`
 * still run after `ms`: the whole file must finish well inside the runner's
 * budget, whatever hangs. Returns the timer, for the file to clear when done.
 */
export function fileWatchdog(file: string, ms: number): NodeJS.Timeout {
  const watchdog = setTimeout(() => {
    console.error(`${file}: still running after ${ms} ms; killing everything`);
    killChildren();
    process.exit(1);
  }, ms);
  watchdog.unref();
  return watchdog;
}

/**
 * Everything this process started (gredis processes, Chromium), found by parent id:
 * a process whose start timed out is known to no test, and must not outlive us.
 */
export function killChildren(): void {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === process.pid) process.kill(Number(entry), 'SIGKILL');
    } catch {
      // Gone meanwhile.
    }
  }
}
