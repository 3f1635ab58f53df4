/**
 * MultiChat in a real browser: Debian's headless Chromium driven by playwright-core,
 * against the distributed deployment (PostgreSQL + Redis, 2 × `gredis runworker`,
 * 2 × `gredis thyme`). Two people on different Thymes log in through the login
 * form, chat across rooms, get refused a staff-only room, see hostile text stay
 * text, and survive their Thyme being SIGKILLed and restarted.
 */
import { mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type BrowserContext, type Page, type WebSocketRoute } from 'playwright-core';
import { suite } from './helpers/suite.js';
import * as assert from 'uvu/assert';
import { roomGroup } from '../src/apps/multichat/chat-protocol.js';
import type { Room } from '../src/apps/multichat/rooms.js';
import { makePassword } from '../src/auth/hashers.js';
import { CLOSE_LOGGED_OUT, closeUserSockets } from '../src/auth/socket-groups.js';
import type { Database } from '../src/db/connection.js';
import { toDbBoolean, toDbTimestamp } from '../src/db/values.js';
import { postgresBackend } from './helpers/databases.js';
import {
  chatClient,
  joinSettled,
  nextJson,
  DistributedChat,
  EmbeddedChat,
  Fixtures,
  TEST_PASSWORD_ITERATIONS,
} from './helpers/deployment.js';
import { BrowserlessClient } from './helpers/browserless.js';
import {
  CHROMIUM,
  CHROMIUM_ARGS,
  fileWatchdog,
  killChildren,
  untilInPage,
} from './helpers/chromium.js';
import { contrastRatio } from './helpers/contrast.js';
import { httpRequest } from './helpers/http-client.js';
import { freePort } from './helpers/ports.js';
import { startThyme } from './helpers/processes.js';
import { TcpProxy } from './helpers/tcp-proxy.js';
import { sleep, waitFor, within } from './helpers/wait.js';
import type { TestClient } from './helpers/ws-client.js';

const ARTIFACTS = fileURLToPath(new URL('../../test-artifacts/', import.meta.url));
const PASSWORD = 'correct horse battery';
const XSS = `<img src=x onerror="window.__xss=1">`;
/** The whole file must finish well inside the runner's budget, whatever hangs. */
const FILE_DEADLINE_MS = 110_000;

/** Counts CSP violations and page errors from the first script on (init scripts bypass CSP). */
const PAGE_PROBE = `
  window.__cspViolations = [];
  document.addEventListener('securitypolicyviolation', (e) => window.__cspViolations.push(e.violatedDirective + ' ' + e.blockedURI));
`;

/**
 * Keeps every WebSocket a page makes in `window.__sockets`, each with the code it
 * closed with as `closeCode`. Added after any `routeWebSocket`, it extends the
 * class that route installs.
 */
const SOCKET_PROBE = `
  window.__sockets = [];
  window.WebSocket = class extends window.WebSocket {
    constructor(...args) {
      super(...args);
      window.__sockets.push(this);
      this.addEventListener('close', (event) => { this.closeCode = event.code; });
    }
  };
`;

/**
 * `[readyState, closeCode]` of every WebSocket the page made, oldest first, as
 * JSON: readyState 1 is OPEN, 3 CLOSED; a socket not closed has a null code.
 */
function sockets(page: Page): Promise<string> {
  return page.evaluate('JSON.stringify(window.__sockets.map((s) => [s.readyState, s.closeCode]))');
}

interface Person {
  name: string;
  port: number;
  context: BrowserContext;
  dir: string;
  page: Page;
  errors: string[];
}

const test = suite('e2e browser [postgres + redis, 2 workers, 2 thymes]');
const database = postgresBackend();
let db: Database;
let fixtures: Fixtures;
let chat: DistributedChat;
/** sam, then nora (the order tests rely on). */
const people: Person[] = [];
/** Every browser launched, for cleanup whatever happened. */
const opened: Person[] = [];
let mallory: TestClient | undefined;
let samId: number;
let noraId: number;
const shots: { path: string; size: number }[] = [];
const rooms = {} as Record<'general' | 'random' | 'staff' | 'hostile', Room>;

const watchdog = fileWatchdog('e2e-browser', FILE_DEADLINE_MS);

/** A browser of one's own: a fresh profile directory, cookies and all. */
async function openBrowser(name: string, port: number): Promise<Person> {
  const dir = mkdtempSync(join(tmpdir(), `gredis-chromium-${name}-`));
  const context = await chromium.launchPersistentContext(dir, {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
    viewport: { width: 1280, height: 800 },
    timeout: 30_000,
  });
  context.setDefaultTimeout(10_000);
  await context.addInitScript({ content: PAGE_PROBE });
  const page = context.pages()[0] ?? (await context.newPage());
  const person: Person = { name, port, context, dir, page, errors: [] };
  page.on('pageerror', (error) => person.errors.push(error.message));
  opened.push(person);
  return person;
}

/** Through the real login form, as a person would. */
async function logIn(person: Person, username: string): Promise<void> {
  const { page, port } = person;
  await page.goto(`http://localhost:${port}/`);
  assert.match(page.url(), /\/accounts\/login\/\?next=\/$/, 'anonymous → login page');
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password').fill(PASSWORD);
  await Promise.all([
    page.waitForURL(`http://localhost:${port}/`),
    page.getByRole('button', { name: 'Log in', exact: true }).click(),
  ]);
  await page.locator('#connection-status[data-state="connected"]').waitFor();
}

function roomButton(person: Person, room: Room) {
  return person.page.locator(`.room-link[data-room-id="${room.id}"]`);
}

function pane(person: Person, room: Room) {
  return person.page.locator(`#room-${room.id}`);
}

async function enter(person: Person, room: Room): Promise<void> {
  await roomButton(person, room).click();
  await pane(person, room).waitFor();
  await waitFor(
    async () => (await roomButton(person, room).getAttribute('aria-pressed')) === 'true',
    5000,
    `${person.name}: aria-pressed of ${room.title}`,
  );
}

async function say(person: Person, room: Room, message: string): Promise<void> {
  const input = pane(person, room).locator('input[name="message"]');
  await input.fill(message);
  await input.press('Enter');
  await waitFor(async () => (await input.inputValue()) === '', 5000, 'the send box to clear');
}

/**
 * Waits until every pane of the person's is back from offline: each re-join
 * answered. Until then the page keeps a message in its box and says it is still
 * rejoining (the replies are told apart only by their order), so a test that
 * writes sooner waits for a box that never clears.
 */
async function rejoined(person: Person): Promise<void> {
  await waitFor(
    async () => (await person.page.locator('#panes .pane.is-offline').count()) === 0,
    10_000,
    `${person.name}: every pane back online`,
  );
}

/** The texts of a pane's list items, as the person sees them. */
function lines(person: Person, room: Room): Promise<string[]> {
  return pane(person, room).locator('.messages li').allTextContents();
}

/** Waits until a pane shows an item with exactly this username (or notice) and text. */
async function sees(
  person: Person,
  room: Room,
  item: { username: string; text: string } | { notice: string; times?: number },
): Promise<void> {
  const list = pane(person, room).locator('.messages');
  const seen = waitFor(
    async () => {
      if ('notice' in item) {
        // `times`: a notice seen before (a second join's) is not yet the one awaited.
        const notices = await list.locator('li.notice .text').allTextContents();
        return notices.filter((text) => text === item.notice).length >= (item.times ?? 1);
      }
      const messages = list.locator('li.message');
      const users = await messages.locator('.username').allTextContents();
      const texts = await messages.locator('.text').allTextContents();
      return users.some((u, i) => u === item.username && texts[i] === item.text);
    },
    10_000,
    `${person.name} to see ${JSON.stringify(item)} in ${room.title}`,
  );
  await seen.catch(async (error: Error) => {
    throw new Error(
      `${error.message}; the pane shows ${JSON.stringify(await lines(person, room))}`,
    );
  });
}

async function alertText(person: Person): Promise<string> {
  return (await person.page.getByRole('alert').first().textContent()) ?? '';
}

/** A user whose name the username validator would refuse: written straight into auth_user. */
async function insertHostileUser(username: string): Promise<number> {
  const [row] = await db
    .knex('auth_user')
    .insert({
      password: await makePassword(PASSWORD, TEST_PASSWORD_ITERATIONS),
      last_login: null,
      is_superuser: toDbBoolean(db, false),
      username,
      first_name: '',
      last_name: '',
      email: '',
      is_staff: toDbBoolean(db, false),
      is_active: toDbBoolean(db, true),
      date_joined: toDbTimestamp(db, new Date()),
    })
    .returning('id');
  return Number((row as { id: unknown }).id);
}

/**
 * Decodes a PNG in a blank page (about:blank has no CSP) and measures it: a blank
 * or failed screenshot is one flat colour.
 */
async function imageStats(page: Page, png: Buffer): Promise<{ colours: number; stddev: number }> {
  const probe = await page.context().newPage();
  try {
    await probe.goto('about:blank');
    const script = `(async () => {
      const img = new Image();
      img.src = 'data:image/png;base64,${png.toString('base64')}';
      await img.decode();
      const canvas = document.createElement('canvas');
      canvas.width = img.width; canvas.height = img.height;
      const ctx = canvas.getContext('2d');
      ctx.drawImage(img, 0, 0);
      const data = ctx.getImageData(0, 0, img.width, img.height).data;
      const colours = new Set();
      let sum = 0, sum2 = 0, n = 0;
      for (let i = 0; i < data.length; i += 4) {
        const y = 0.2126 * data[i] + 0.7152 * data[i + 1] + 0.0722 * data[i + 2];
        sum += y; sum2 += y * y; n++;
        colours.add((data[i] >> 3) << 10 | (data[i + 1] >> 3) << 5 | (data[i + 2] >> 3));
      }
      const mean = sum / n;
      return { colours: colours.size, stddev: Math.sqrt(sum2 / n - mean * mean) };
    })()`;
    return (await probe.evaluate(script)) as { colours: number; stddev: number };
  } finally {
    await probe.close();
  }
}

async function screenshot(page: Page, name: string): Promise<{ path: string; size: number }> {
  mkdirSync(ARTIFACTS, { recursive: true });
  const path = join(ARTIFACTS, name);
  const png = await page.screenshot({ path, fullPage: true });
  const stats = await imageStats(page, png);
  assert.ok(stats.colours >= 16, `${name}: ${stats.colours} colours (blank?)`);
  assert.ok(stats.stddev >= 8, `${name}: luminance stddev ${stats.stddev.toFixed(1)} (blank?)`);
  return { path, size: statSync(path).size };
}

test.before(async () => {
  await database.setup();
  db = await database.openMigrated();
  fixtures = new Fixtures(db);
  samId = (await fixtures.user('sam', { password: PASSWORD, staff: true, superuser: true })).id;
  noraId = (await fixtures.user('nora', { password: PASSWORD })).id;
  rooms.general = await fixtures.room('General');
  rooms.random = await fixtures.room('Random');
  rooms.staff = await fixtures.room('Staff lounge', true);
  rooms.hostile = await fixtures.room(`Hostile ${XSS}`);
  chat = new DistributedChat(database);
  // Ports outside the ephemeral range: a test restarts Nora's Thyme on its port,
  // which an outgoing connection could take meanwhile were it the kernel's pick.
  const [portA, portB] = [await freePort(), await freePort()];
  await within(
    Promise.all([
      chat.startWorker(),
      chat.startWorker(),
      chat.startThyme(['--port', String(portA)]),
      chat.startThyme(['--port', String(portB)]),
    ]),
    45_000,
    'the deployment to start',
  );
});

test.after(async () => {
  mallory?.close();
  await Promise.allSettled(
    opened.map(async (person) => {
      await within(person.context.close(), 10_000, 'closing a browser').catch(() => undefined);
      rmSync(person.dir, { recursive: true, force: true });
    }),
  );
  await chat?.stop();
  killChildren();
  await database.teardown();
  clearTimeout(watchdog);
});

test('two people log in through the login form, each on a different Thyme', async () => {
  const [portA, portB] = chat.ports;
  assert.is.not(portA, portB);
  const [sam, nora] = await within(
    Promise.all([openBrowser('sam', portA!), openBrowser('nora', portB!)]),
    30_000,
    'Chromium to start',
  );
  people.push(sam, nora);
  await within(Promise.all([logIn(sam!, 'sam'), logIn(nora!, 'nora')]), 30_000, 'logging in');
  assert.is(await sam!.page.title(), 'MultiChat');
  assert.is(await sam!.page.locator('.whoami strong').textContent(), 'sam');
  assert.is(await nora!.page.locator('.whoami strong').textContent(), 'nora');
});

test('accessibility basics: landmarks, every control labelled, room items are toggle buttons', async () => {
  const [sam] = people;
  const page = sam!.page;
  for (const landmark of ['banner', 'main'] as const)
    assert.is(await page.getByRole(landmark).count(), 1, landmark);
  assert.ok((await page.getByRole('navigation').count()) >= 1, 'navigation');
  const buttons = page.getByRole('button', { name: 'General' });
  assert.is(await buttons.getAttribute('aria-pressed'), 'false');
  await enter(sam!, rooms.general);
  const unlabelled =
    await page.evaluate(`[...document.querySelectorAll('input:not([type=hidden]), button')]
    .filter((el) => !(el.labels?.length || el.getAttribute('aria-label') || el.textContent.trim()))
    .map((el) => el.outerHTML)`);
  assert.equal(unlabelled, [], 'every input and button has a name');
  // The alert region is rendered while empty: a live region that appears with its
  // first alert may not be announced.
  assert.equal(
    await page.evaluate(
      `[document.getElementById('alerts').childElementCount, getComputedStyle(document.getElementById('alerts')).display]`,
    ),
    [0, 'grid'],
  );
  await page.getByRole('textbox', { name: 'Message to General' }).waitFor();
  // Focus by keyboard: the ring must stand out from what is behind it (WCAG 1.4.11: 3:1).
  await roomButton(sam!, rooms.general).focus();
  await page.keyboard.press('Shift+Tab');
  await page.keyboard.press('Tab');
  const ring = (await page.evaluate(`(() => {
    const el = document.activeElement;
    const style = getComputedStyle(el);
    // Every background a focused control can sit on in this scheme.
    const probe = document.body.appendChild(document.createElement('div'));
    const backgrounds = ['--bg', '--surface', '--surface-2'].map((name) => {
      probe.style.backgroundColor = 'var(' + name + ')';
      return getComputedStyle(probe).backgroundColor;
    });
    probe.remove();
    return {
      visible: el.matches(':focus-visible'),
      outline: style.outlineStyle + ' ' + style.outlineWidth,
      ring: style.outlineColor,
      backgrounds,
    };
  })()`)) as { visible: boolean; outline: string; ring: string; backgrounds: string[] };
  assert.ok(ring.visible && /^solid [3-9]/.test(ring.outline), JSON.stringify(ring));
  for (const behind of ring.backgrounds) {
    const contrast = contrastRatio(ring.ring, behind);
    assert.ok(contrast >= 3, `focus ring ${ring.ring} on ${behind}: ${contrast.toFixed(2)}:1`);
  }
});

test('they join two rooms, see each other enter and leave, and messages flow both ways', async () => {
  const [sam, nora] = people as [Person, Person];
  await enter(sam, rooms.random);
  assert.is(await pane(sam, rooms.general).locator('h2').textContent(), 'General');
  await enter(nora, rooms.general);
  await sees(sam, rooms.general, { notice: 'nora joined' });
  // By keyboard: focus the room's button and press Space.
  await roomButton(nora, rooms.random).focus();
  await nora.page.keyboard.press('Space');
  await pane(nora, rooms.random).waitFor();
  await sees(sam, rooms.random, { notice: 'nora joined' });
  assert.equal(
    await nora.page.evaluate('document.activeElement && document.activeElement.id'),
    `room-${rooms.random.id}-input`,
    'the new pane’s send box has focus',
  );

  await say(sam, rooms.general, 'hello from sam');
  await sees(nora, rooms.general, { username: 'sam', text: 'hello from sam' });
  await sees(sam, rooms.general, { username: 'sam', text: 'hello from sam' });
  await say(nora, rooms.random, 'hi from nora');
  await sees(sam, rooms.random, { username: 'nora', text: 'hi from nora' });
  assert.not.ok(
    (await lines(nora, rooms.general)).some((l) => l.includes('hi from nora')),
    'messages stay in their room',
  );
  // Empty messages are not sent.
  await pane(nora, rooms.general).locator('input[name="message"]').fill('   ');
  await pane(nora, rooms.general).locator('input[name="message"]').press('Enter');

  // Clicking a joined room leaves it: the pane goes, the others hear it.
  await roomButton(nora, rooms.random).click();
  await pane(nora, rooms.random).waitFor({ state: 'detached' });
  assert.is(await roomButton(nora, rooms.random).getAttribute('aria-pressed'), 'false');
  await sees(sam, rooms.random, { notice: 'nora left' });
  await enter(nora, rooms.random);
  await sees(sam, rooms.random, { notice: 'nora joined', times: 2 });
  assert.is(
    await pane(sam, rooms.random).locator('li.notice.notice-enter').count(),
    2,
    'one enter notice per join',
  );
  assert.is(
    (await lines(sam, rooms.general)).filter((l) => /^\d\d:\d\dsam\s*$/.test(l)).length,
    0,
    'no empty message arrived',
  );
});

test('every 6 hours the page says "join" again with rooms open, and opens a fresh socket without, which keeps its groups alive', async () => {
  const [sam, nora] = people as [Person, Person];
  // A second tab of sam's, on a fake clock (the WebSocket itself runs in real time).
  const tab = await sam.context.newPage();
  await tab.clock.install();
  // The tab's socket goes through a relay that counts its joins and can hold
  // back the server's answer to a leave.
  const joins: string[] = [];
  let answers = 0;
  let holdLeaves = false;
  const held: string[] = [];
  let relay: WebSocketRoute | undefined;
  await tab.routeWebSocket(/\/chat\/stream\/(\?|$)/, (page) => {
    relay = page;
    const server = page.connectToServer();
    page.onMessage((frame) => {
      if (String(frame).includes('"join"')) joins.push(String(frame));
      server.send(frame);
    });
    server.onMessage((frame) => {
      if (holdLeaves && /^\{"leave"/.test(String(frame))) held.push(String(frame));
      else page.send(frame);
      if (/^\{"join"/.test(String(frame))) answers++;
    });
  });
  await tab.addInitScript({ content: SOCKET_PROBE });
  try {
    await tab.goto(`http://localhost:${sam.port}/`);
    await tab.locator('#connection-status[data-state="connected"]').waitFor();
    // The page's time, a moment after its keep-alive began (that moment less than 5 s ago).
    const loaded = (await tab.evaluate('Date.now()')) as number;
    /**
     * Stops the page's clock 5 s past `hours` after it loaded; for whole hours,
     * just past that keep-alive, whose answer then comes over the real network.
     * The page gives a command 20 s to be answered: a clock run on past that
     * first would take the socket for dead.
     */
    const pauseAt = (hours: number) => tab.clock.pauseAt(loaded + hours * 3_600_000 + 5000);
    // The layer forgets a group member after a day unless re-added: a quarter of that.
    assert.is(await tab.locator('.chat').getAttribute('data-keep-alive-seconds'), '21600');
    await pauseAt(5.99);
    assert.is(await sockets(tab), '[[1,null]]');
    // No rooms open: at 6 h a fresh socket, quietly, and no join.
    await pauseAt(6);
    await waitFor(
      async () => (await sockets(tab)) === '[[3,1000],[1,null]]',
      5000,
      'the old socket closed (1000), a new one open',
    );
    assert.is(joins.length, 0, 'no rooms open, nothing to re-join');
    assert.is(await tab.locator('#connection-text').textContent(), 'Connected.', 'not announced');
    assert.is(((await tab.getByRole('alert').first().textContent()) ?? '').trim(), '', 'no alert');
    await tab.locator(`.room-link[data-room-id="${rooms.general.id}"]`).click();
    await tab.locator(`#room-${rooms.general.id}`).waitFor();
    await sees(nora, rooms.general, { notice: 'sam joined' });
    // Two keep-alives, each answered before the clock goes on.
    for (const hours of [12, 18]) {
      await pauseAt(hours);
      const count = hours / 6;
      await waitFor(() => answers === count, 5000, `${count} joins answered: ${joins.join(' ')}`);
    }
    const expected = JSON.stringify({ command: 'join', room: String(rooms.general.id) });
    assert.is(joins.length, 3, joins.join(' '));
    assert.ok(
      joins.every((frame) => frame === expected),
      joins.join(' '),
    );
    await sleep(300); // the replies
    assert.is(await tab.locator(`#room-${rooms.general.id}`).count(), 1, 'one pane still');
    assert.is(await tab.locator('.alert-item').count(), 0, 'no alert, at the top or in the pane');
    const enters = await pane(nora, rooms.general).locator('li.notice .text').allTextContents();
    assert.is(enters.filter((t) => t === 'sam joined').length, 1, 'joining again is silent');
    // While a leave waits for its answer, no keep-alive: its join could bring the
    // room back. The leave goes 5 s before the keep-alive at 24 h, which passes;
    // it is still answered within the 20 s the page waits for an answer.
    await pauseAt(24 - 10 / 3600);
    holdLeaves = true;
    await tab.locator(`.room-link[data-room-id="${rooms.general.id}"]`).click();
    await waitFor(async () => held.length === 1, 5000, 'the leave answer');
    await tab.clock.runFor(10_000);
    assert.is(joins.length, 3, `no join during the leave: ${joins.join(' ')}`);
    await tab.locator(`#room-${rooms.general.id}`).waitFor(); // the pane waits for the answer
    holdLeaves = false;
    relay!.send(held[0]!);
    await tab.locator(`#room-${rooms.general.id}`).waitFor({ state: 'detached' });
    assert.is(await sockets(tab), '[[3,1000],[1,null]]', 'with rooms open, no fresh socket');
  } finally {
    // The clock is the context's: sam's other pages, and those opened later, run on.
    await tab.clock.resume();
    await tab.close();
    await sam.page.bringToFront();
  }
});

/**
 * Runs `work` in a tab of sam's on an embedded chat over the same database (so
 * his session cookie is good there too), connected; then closes both.
 */
async function inEmbeddedTab(
  options: {
    settings?: Parameters<typeof EmbeddedChat.start>[1];
    layerUrl?: string;
    initScript?: string;
  },
  work: (tab: Page, embedded: EmbeddedChat) => Promise<void>,
): Promise<void> {
  const [sam] = people as [Person, Person];
  const embedded = await EmbeddedChat.start(db, options.settings, options.layerUrl);
  const tab = await sam.context.newPage();
  const errors: string[] = [];
  tab.on('pageerror', (error) => errors.push(error.message));
  if (options.initScript) await tab.addInitScript({ content: options.initScript });
  try {
    await tab.goto(`http://localhost:${embedded.ports[0]}/`);
    await tab.locator('#connection-status[data-state="connected"]').waitFor();
    await work(tab, embedded);
    assert.equal(errors, [], 'no script errors');
  } finally {
    await tab.close();
    await sam.page.bringToFront();
    await embedded.stop();
  }
}

test('a tab with no room open stays in its user group past the group expiry: a logout elsewhere still closes it', async () => {
  // The same database (and so sam's session cookie) on an embedded chat whose
  // layer forgets group members after 2 s: the page's keep-alive is 0.5 s.
  const options = { layerUrl: 'memory://?group_expiry=2', initScript: SOCKET_PROBE };
  await inEmbeddedTab(options, async (tab, embedded) => {
    assert.is(await tab.locator('.chat').getAttribute('data-keep-alive-seconds'), '0.5');
    await sleep(3000); // past the expiry of the first socket's groups
    // What a password change does, sent again until it lands: the page swaps its
    // socket for a fresh one every half second, and a close sent between the old
    // one's end and the new one's connect (which adds its groups) reaches
    // neither. (After a real password change that connect is refused.) A page
    // whose sockets were no longer in the group would never be closed.
    await waitFor(
      async () => {
        await closeUserSockets(embedded.layer, samId);
        return (await sockets(tab)).includes(`,${CLOSE_LOGGED_OUT}]`);
      },
      5000,
      'a socket of the tab closed with 4001',
    );
  });
});

test("more rooms than the chat's burst of commands: a reconnect re-joins every one; a long paste is kept whole", async () => {
  // A burst of 2 commands, one more a second: re-joining 4 rooms at once gets 2
  // refused for the rate, and they take a few seconds to get back in.
  const settings = { chatBurst: 2, chatPerSecond: 1 };
  await inEmbeddedTab({ settings }, async (tab, embedded) => {
    const all = [rooms.general, rooms.random, rooms.staff, rooms.hostile];
    const paneOf = (room: Room) => tab.locator(`#room-${room.id}`);
    const offline = () => tab.locator('#panes .pane.is-offline').count();
    for (const room of all) {
      await tab.locator(`.room-link[data-room-id="${room.id}"]`).click();
      await paneOf(room).waitFor();
      await sleep(1100); // the next command's token
    }
    // Any close but a logout's: the page reconnects and re-joins.
    await embedded.layer.groupSend(roomGroup(rooms.general.id), { close: 1012 });
    await waitFor(async () => (await offline()) > 0, 5000, 'the panes to go offline');
    await tab.locator('#connection-status[data-state="connected"]').waitFor();
    // Meanwhile the user's own commands wait: replies are told apart by their order.
    assert.ok((await offline()) > 0, 'rooms still to be re-joined');
    await tab.locator(`.room-link[data-room-id="${rooms.general.id}"]`).click();
    await waitFor(
      async () =>
        /Still rejoining/.test((await tab.getByRole('alert').first().textContent()) ?? ''),
      3000,
      'the still-rejoining alert',
    );
    await tab.locator('#alerts .alert-dismiss').first().click();
    await waitFor(async () => (await offline()) === 0, 10_000, 'every pane to be back');
    assert.is(await paneOf(rooms.general).count(), 1, 'the click did not leave the room');
    for (const room of all) {
      assert.is(
        await tab.locator(`.room-link[data-room-id="${room.id}"]`).getAttribute('aria-pressed'),
        'true',
        room.title,
      );
    }
    assert.is(await tab.locator('#alerts .alert-item').count(), 0, 'nothing to tell the user');

    // Pasted past the limit: kept whole (not cut at a maxlength), and refused with a reason.
    const input = paneOf(rooms.general).locator('input[name="message"]');
    await input.focus();
    await tab.keyboard.insertText('x'.repeat(5000));
    assert.is((await input.inputValue()).length, 5000, 'the paste is whole');
    await input.press('Enter');
    // Told in the room's pane, beside the box in use.
    await waitFor(
      async () =>
        /too long/.test((await paneOf(rooms.general).getByRole('alert').textContent()) ?? ''),
      5000,
      'the too-long alert',
    );
    assert.is((await input.inputValue()).length, 5000, 'the text stays to be shortened');
  });
});

test('a room deleted in the admin: its pane closes in the pages of those in it, and it leaves their list', async () => {
  const doomed = await fixtures.room('Short-lived');
  await inEmbeddedTab({}, async (tab, embedded) => {
    const port = embedded.ports[0]!;
    const button = tab.locator(`.room-link[data-room-id="${doomed.id}"]`);
    await button.click();
    await tab.locator(`#room-${doomed.id}`).waitFor();
    const admin = new BrowserlessClient(port);
    await admin.login('sam', PASSWORD);
    await admin.get(`/admin/rooms/${doomed.id}/delete/`);
    assert.is((await admin.post(`/admin/rooms/${doomed.id}/delete/`, {})).status, 303);
    await tab.locator(`#room-${doomed.id}`).waitFor({ state: 'detached', timeout: 5000 });
    assert.is(await button.count(), 0, 'gone from the room list');
    assert.match(
      (await tab.getByRole('alert').first().textContent()) ?? '',
      /The room “Short-lived” was deleted\./,
    );
  });
});

test('right-to-left text reads right to left: a Hebrew title, message and send box each take their own direction', async () => {
  const hebrew = await fixtures.room('חדר שיחה');
  try {
    await inEmbeddedTab({}, async (tab) => {
      const rtl = (selector: string) =>
        tab
          .locator(selector)
          .first()
          .evaluate((el) => el.matches(':dir(rtl)'));
      const button = `.room-link[data-room-id="${hebrew.id}"]`;
      assert.ok(await rtl(`${button} .room-title`), 'the title in the room list');
      await tab.locator(button).click();
      const box = `#room-${hebrew.id}`;
      await tab.locator(box).waitFor();
      assert.ok(await rtl(`${box} h2`), 'the pane’s heading');
      // Written as its writer reads it: the question mark ends the sentence, on the left.
      const question = 'שלום! מה שלומך?';
      await tab.locator(`${box} input[name="message"]`).fill(question);
      assert.ok(await rtl(`${box} input[name="message"]`), 'the send box, as it is typed in');
      await tab.locator(`${box} input[name="message"]`).press('Enter');
      await tab.locator(`${box} li.message .text`, { hasText: question }).waitFor();
      assert.ok(await rtl(`${box} li.message .text`), 'the message');
      assert.is(await tab.locator(`${box} li.message .username`).getAttribute('dir'), 'auto');
      await tab.locator(`${box} input[name="message"]`).fill('ok? שלום');
      await tab.locator(`${box} input[name="message"]`).press('Enter');
      const latin = tab.locator(`${box} li.message .text`, { hasText: 'ok?' });
      await latin.waitFor();
      assert.ok(await latin.evaluate((el) => el.matches(':dir(ltr)')), 'a message begun in Latin');
    });
  } finally {
    await fixtures.rooms.delete(hebrew.id);
  }
});

test("a room's alert is in view however far the page is scrolled, and never over the box in use", async () => {
  await inEmbeddedTab({}, async (tab) => {
    for (const room of [rooms.general, rooms.random, rooms.staff, rooms.hostile]) {
      await tab.locator(`.room-link[data-room-id="${room.id}"]`).click();
      await tab.locator(`#room-${room.id}`).waitFor();
    }
    const input = tab.locator(`#room-${rooms.general.id} input[name="message"]`);
    for (const viewport of [
      { width: 1280, height: 600 },
      { width: 375, height: 667 },
    ]) {
      const size = `${viewport.width}×${viewport.height}`;
      await tab.setViewportSize(viewport);
      await input.fill('x'.repeat(5000));
      // Scrolled down so that the box is at the top of the screen, where an alert would be.
      await input.evaluate((el) => {
        el.focus();
        el.ownerDocument.defaultView!.scrollBy(0, el.getBoundingClientRect().top - 10);
      });
      assert.ok(await tab.evaluate('scrollY > 300'), `${size}: the page is scrolled`);
      await input.press('Enter');
      // In the room's pane, where the box is.
      const alert = tab.locator(`#room-${rooms.general.id} .alert-item`, { hasText: 'too long' });
      await alert.waitFor();
      const shown = (await alert.boundingBox())!;
      const box = (await input.boundingBox())!;
      assert.ok(
        shown.y >= 0 && shown.y + shown.height <= viewport.height,
        `${size}: the alert is on the screen (${shown.y}–${shown.y + shown.height} px)`,
      );
      assert.ok(
        box.y >= shown.y + shown.height || shown.y >= box.y + box.height,
        `${size}: the alert covers the box in use`,
      );
      assert.ok(box.y >= 0 && box.y + box.height <= viewport.height, `${size}: the box in view`);
      assert.ok(
        await input.evaluate((el) => el === el.ownerDocument.activeElement),
        `${size}: focus`,
      );
      await alert.getByRole('button', { name: 'Dismiss' }).click();
    }
  });
});

test('the non-staff user is refused the staff-only room, with a visible alert', async () => {
  const [sam, nora] = people as [Person, Person];
  await enter(sam, rooms.staff);
  await roomButton(nora, rooms.staff).click();
  await waitFor(async () => /staff only/i.test(await alertText(nora)), 10_000, 'the alert');
  assert.match(await alertText(nora), /^Could not join “Staff lounge”/, 'it names the room');
  assert.ok(await nora.page.getByRole('alert').first().isVisible(), 'the alert is visible');
  assert.is(await nora.page.getByRole('alert').first().getAttribute('id'), 'alerts');
  assert.is(await pane(nora, rooms.staff).count(), 0, 'no pane');
  assert.is(await roomButton(nora, rooms.staff).getAttribute('aria-pressed'), 'false');
  shots.push(await screenshot(nora.page, 'e2e-refused.png'));
  // Dismissed by keyboard, the alert gives focus back to where she was, not to the page.
  await nora.page.getByRole('button', { name: 'Dismiss' }).first().focus();
  await nora.page.keyboard.press('Enter');
  assert.is(await nora.page.locator('#alerts .alert-item').count(), 0);
  assert.is(
    await nora.page.evaluate(`document.activeElement.getAttribute('data-room-id')`),
    String(rooms.staff.id),
    'focus is back on the room she chose',
  );
});

test('hostile text — a message, a username, a room title — stays text', async () => {
  const [sam, nora] = people as [Person, Person];
  await enter(sam, rooms.hostile);
  await enter(nora, rooms.hostile);
  assert.is(await pane(nora, rooms.hostile).locator('h2').textContent(), `Hostile ${XSS}`);
  await say(sam, rooms.general, XSS);
  await sees(nora, rooms.general, { username: 'sam', text: XSS });

  const hostileName = `${XSS}`;
  const id = await insertHostileUser(hostileName);
  const session = await fixtures.sessions.create(id, {}, await fixtures.users.sessionAuthHash(id));
  mallory = await chatClient(chat.ports[0]!, session.key);
  mallory.send(JSON.stringify({ command: 'join', room: rooms.general.id }));
  await sees(sam, rooms.general, { notice: `${hostileName} joined` });
  mallory.send(
    JSON.stringify({ command: 'send', room: rooms.general.id, message: `<b>bold</b> ${XSS}` }),
  );
  for (const person of [sam, nora])
    await sees(person, rooms.general, { username: hostileName, text: `<b>bold</b> ${XSS}` });
  // Mallory's own pages escape the name too.
  const home = await httpRequest(chat.ports[0]!, '/', {
    headers: { cookie: `sessionid=${session.key}` },
  });
  assert.ok(
    home.body
      .toString()
      .includes(
        'Signed in as <strong>&lt;img src=x onerror=&quot;window.__xss=1&quot;&gt;</strong>',
      ),
  );

  for (const person of [sam, nora]) {
    assert.is(
      await person.page.locator('#panes img, #panes b, #alerts img').count(),
      0,
      'no markup was made',
    );
    assert.is(
      await person.page.evaluate('typeof window.__xss'),
      'undefined',
      `${person.name}: no script ran`,
    );
    assert.equal(
      await person.page.evaluate('window.__cspViolations'),
      [],
      `${person.name}: nothing was even attempted`,
    );
  }
});

test('a Thyme killed with SIGKILL and restarted on its port: the page reconnects and re-joins, no reload', async () => {
  const [sam, nora] = people as [Person, Person];
  await nora.page.evaluate('window.__samePage = true');
  const before = await nora.page
    .locator('#panes .pane')
    .evaluateAll((panes) => panes.map((p) => p.id));
  // What a screen reader is told (the live region's text), from here to the end.
  await nora.page.evaluate(`(() => {
    const live = document.getElementById('connection-text');
    window.__announced = [];
    new MutationObserver(() => window.__announced.push(live.textContent)).observe(live, {
      childList: true, characterData: true, subtree: true,
    });
  })()`);
  const noraThyme = chat.thymes[chat.ports.indexOf(nora.port)]!;
  noraThyme.child.kill('SIGKILL');
  await noraThyme.exited;
  await nora.page.locator('#connection-status[data-state="disconnected"]').waitFor();
  assert.equal(
    await nora.page.locator('#panes .pane').evaluateAll((panes) => panes.map((p) => p.id)),
    before,
    'panes stay while disconnected',
  );
  assert.match((await nora.page.locator('#connection-status').textContent()) ?? '', /Disconnected/);
  // A message written now is kept, and she is told why it did not go.
  const box = pane(nora, rooms.general).locator('input[name="message"]');
  await box.fill('written while away');
  await box.press('Enter');
  await waitFor(async () => /reconnecting/.test(await alertText(nora)), 5000, 'the alert');
  assert.is(await box.inputValue(), 'written while away');
  // Offline panes are marked without fading their text below 4.5:1.
  const offline = (await nora.page.evaluate(`(() => {
    const pane = document.querySelector('#panes .pane.is-offline');
    const time = pane && pane.querySelector('.messages .time');
    return pane && time && {
      opacity: getComputedStyle(pane).opacity,
      text: getComputedStyle(time).color,
      behind: getComputedStyle(pane.querySelector('.messages')).backgroundColor,
    };
  })()`)) as { opacity: string; text: string; behind: string } | null;
  assert.ok(offline, 'an offline pane with a message time');
  assert.is(offline.opacity, '1');
  assert.ok(contrastRatio(offline.text, offline.behind) >= 4.5, JSON.stringify(offline));
  assert.is(await sam.page.locator('#connection-status').getAttribute('data-state'), 'connected');

  const port = await within(
    chat.startThyme(['--port', String(nora.port)]),
    15_000,
    'Thyme to restart',
  );
  assert.is(port, nora.port, 'the same port');
  await nora.page
    .locator('#connection-status[data-state="connected"]')
    .waitFor({ timeout: 25_000 });
  assert.match((await nora.page.locator('#connection-status').textContent()) ?? '', /Reconnected/);
  assert.is(
    await nora.page.locator('#alerts [data-code="NOT_CONNECTED"]').count(),
    0,
    '"reconnecting" is no longer true: its alert goes',
  );
  assert.equal(
    await nora.page.evaluate('window.__announced'),
    ['Disconnected. Reconnecting…', 'Reconnected.'],
    'the outage is announced once and the return once, not every retry',
  );
  assert.is(await nora.page.evaluate('window.__samePage'), true, 'no reload');
  // Re-joined: the others hear her come back into each of her rooms.
  await waitFor(
    async () =>
      (await pane(sam, rooms.random).locator('li.notice.notice-enter').count()) === 3 &&
      (await pane(sam, rooms.general)
        .locator('li.notice.notice-enter .text', { hasText: /^nora joined$/ })
        .count()) === 2,
    15_000,
    'sam to hear nora re-join',
  );
  assert.equal(
    await nora.page.locator('#panes .pane').evaluateAll((panes) => panes.map((p) => p.id)),
    before,
  );
  for (const room of [rooms.general, rooms.random, rooms.hostile])
    assert.is(await roomButton(nora, room).getAttribute('aria-pressed'), 'true', room.title);

  // What sam heard is not her page's answers (nor Hostile's at all): her last
  // re-join may still be on its way, and until it is answered she cannot write.
  await rejoined(nora);
  await say(nora, rooms.general, 'back again');
  await sees(sam, rooms.general, { username: 'nora', text: 'back again' });
  await say(sam, rooms.random, 'welcome back');
  await sees(nora, rooms.random, { username: 'sam', text: 'welcome back' });
  assert.equal(nora.errors, [], 'no script errors');
  assert.equal(sam.errors, [], 'no script errors');
});

test('a Thyme frozen (SIGSTOP) under an open page: a message sent into it comes back to its box, and the page moves to another Thyme, re-joins and sends it', async () => {
  const [sam, nora] = people as [Person, Person];
  const room = await fixtures.room('Frozen');
  // A Thyme of its own, behind a load balancer that moves new connections to
  // nora's Thyme once it is told this one is gone.
  const frozen = await startThyme([], chat.processEnv);
  const balancer = await TcpProxy.start({ host: '127.0.0.1', port: frozen.port });
  // Someone in the room on nora's Thyme, to hear what gets through.
  const witness = await chatClient(nora.port, await fixtures.login(await fixtures.user('witness')));
  await joinSettled(witness, room.id);
  const tab = await sam.context.newPage();
  const errors: string[] = [];
  tab.on('pageerror', (error) => errors.push(error.message));
  try {
    await tab.goto(`http://localhost:${balancer.port}/`);
    await tab.locator('#connection-status[data-state="connected"]').waitFor();
    await tab.locator(`.room-link[data-room-id="${room.id}"]`).click();
    await tab.locator(`#room-${room.id}`).waitFor();
    assert.is((await nextJson(witness)).msg_type, 4, 'sam entered');
    // Every state the status goes through from here on.
    await tab.evaluate(`(() => {
      const status = document.getElementById('connection-status');
      window.__states = [];
      new MutationObserver(() => window.__states.push(status.getAttribute('data-state')))
        .observe(status, { attributes: true, attributeFilter: ['data-state'] });
    })()`);
    // The page's clock, to run its waits at once; it goes on at the real pace otherwise.
    await tab.clock.install();
    frozen.proc.child.kill('SIGSTOP');
    // The frozen Thyme's kernel still accepts connections, which then hear nothing.
    balancer.stall();
    const box = tab.locator(`#room-${room.id} input[name="message"]`);
    await box.fill('into the frozen Thyme');
    await box.press('Enter');
    assert.is(await box.inputValue(), '', 'sent, as far as the page can tell');
    // The TCP connection lives, no close comes: only the page's own wait for an answer tells.
    await tab.clock.fastForward(20_000);
    await tab.locator('#connection-status[data-state="disconnected"]').waitFor({ timeout: 5000 });
    assert.is(await tab.locator('#connection-text').textContent(), 'Disconnected. Reconnecting…');
    assert.is(await box.inputValue(), 'into the frozen Thyme', 'back in its box');
    assert.match(
      (await tab.locator('#alerts').textContent()) ?? '',
      /connection dropped before your message was confirmed/,
    );
    assert.is(await tab.locator(`#room-${room.id} li.unsent`).count(), 0, 'listed only in its box');
    // Its next try meets the frozen Thyme too: a handshake nobody answers.
    await waitFor(() => balancer.held >= 1, 5000, 'a try at the frozen Thyme');
    await tab.locator('#connection-status[data-state="connecting"]').waitFor({ timeout: 5000 });
    balancer.retarget({ host: '127.0.0.1', port: nora.port });
    balancer.unstall();
    await tab.clock.fastForward(20_000);
    // The session check that follows a failed handshake may wait on a connection
    // kept alive to the frozen Thyme: its 5 s run at once too.
    await tab.clock.fastForward(5000);
    await tab.locator('#connection-status[data-state="connected"]').waitFor({ timeout: 15_000 });
    await tab.locator(`#room-${room.id}:not(.is-offline)`).waitFor();
    assert.is(await tab.locator('#connection-text').textContent(), 'Reconnected.');
    const states = (await tab.evaluate('window.__states')) as string[];
    assert.is(states.at(-1), 'connected');
    assert.ok(states.includes('disconnected') && states.includes('connecting'), states.join());
    // Back in the room, through nora's Thyme: what came back to the box goes.
    assert.is(await box.inputValue(), 'into the frozen Thyme');
    await box.press('Enter');
    // The witness hears sam come back into the room (the frozen Thyme's socket is
    // still in it too, as far as anyone can tell), then the message.
    assert.is((await nextJson(witness)).msg_type, 4, 'sam entered again');
    assert.equal(await nextJson(witness), {
      room: String(room.id),
      message: 'into the frozen Thyme',
      username: 'sam',
      msg_type: 0,
    });
    await waitFor(
      async () => (await tab.locator(`#room-${room.id} li.message`).count()) === 1,
      5000,
      "the message in sam's pane",
    );
    assert.is(await box.inputValue(), '');
    assert.equal(errors, [], 'no script errors');
  } finally {
    await tab.clock.resume();
    await tab.close();
    await sam.page.bringToFront();
    witness.close();
    balancer.stop();
    frozen.proc.child.kill('SIGCONT');
    await frozen.proc.stop('SIGTERM');
  }
});

test('screenshots of the chat and the admin are saved and are not blank', async () => {
  const [sam] = people as [Person];
  await sam.page.evaluate('window.scrollTo(0, 0)');
  shots.push(await screenshot(sam.page, 'e2e-chat.png'));
  const admin = await sam.context.newPage();
  await admin.bringToFront(); // a page in the background is not rendered, so not autofocused
  try {
    await admin.goto(`http://localhost:${sam.port}/admin/rooms/`);
    await admin.getByRole('heading', { name: 'Select room to change' }).waitFor();
    assert.ok(
      (await admin.content()).includes('Hostile &lt;img src=x onerror="window.__xss=1"&gt;'),
      'the hostile title is text in the admin',
    );
    shots.push(await screenshot(admin, 'e2e-admin.png'));
    // A notice after a redirect is focused, so that a screen reader reads it out.
    await admin.getByRole('link', { name: 'Add room' }).first().click();
    await admin.getByRole('textbox', { name: 'Title' }).fill('Added in the browser');
    await admin.getByRole('button', { name: 'Save', exact: true }).click();
    await admin.waitForURL(/\/admin\/rooms\/$/);
    // The browser applies `autofocus` when it next renders the page, which may be
    // just after the load.
    await untilInPage(
      admin,
      `document.activeElement.className === 'flash-messages'`,
      5000,
      'focus on the notice',
    ).catch(() => undefined); // the assertion below says what had focus instead
    const focused = (await admin.evaluate(
      `[document.activeElement.className, document.activeElement.textContent]`,
    )) as [string, string];
    assert.is(focused[0], 'flash-messages', 'the notice has focus');
    assert.match(focused[1], /Added in the browser/);
    await admin.setViewportSize({ width: 390, height: 844 });
    await admin.goto(`http://localhost:${sam.port}/admin/users/`);
    const table = admin.locator('.table-wrap');
    const [scroll, visible] = await table.evaluate((el) => [el.scrollWidth, el.clientWidth]);
    assert.ok(scroll <= visible, `the users table fits a phone: ${scroll} > ${visible} px`);
    assert.ok(await admin.getByRole('link', { name: 'Password of sam' }).isVisible());
    await admin.goto(`http://localhost:${sam.port}/`);
    await admin.locator('#connection-status[data-state="connected"]').waitFor();
    shots.push(await screenshot(admin, 'e2e-chat-phone.png'));
  } finally {
    await admin.close();
  }
  for (const shot of shots) assert.ok(shot.size > 10_000, `${shot.path}: ${shot.size} bytes`);
  console.log(shots.map((s) => `  ${s.path} (${s.size} bytes)`).join('\n'));
});

test('a room made staff-only in the admin: the non-staff member is out of it at once, with an alert; no reload', async () => {
  const [sam, nora] = people as [Person, Person];
  await nora.page.evaluate('window.__sameNoraPage = true');
  await pane(nora, rooms.random).waitFor();
  const admin = await sam.context.newPage();
  try {
    await admin.goto(`http://localhost:${sam.port}/admin/rooms/${rooms.random.id}/`);
    await admin.getByLabel('Staff only').check();
    await Promise.all([
      admin.waitForURL(`http://localhost:${sam.port}/admin/rooms/`),
      admin.getByRole('button', { name: 'Save', exact: true }).click(),
    ]);
    await pane(nora, rooms.random).waitFor({ state: 'detached', timeout: 10_000 });
    await waitFor(
      async () => /Could not rejoin “Random”/.test(await alertText(nora)),
      5000,
      'the alert',
    );
    await pane(nora, rooms.general).waitFor();
    assert.is(await nora.page.evaluate('window.__sameNoraPage'), true, 'no reload');
    // The staff member was in the room too: his page reconnects and re-joins it.
    await waitFor(
      async () =>
        (await sam.page.locator('#connection-status').getAttribute('data-state')) === 'connected' &&
        (await pane(sam, rooms.random).getAttribute('class'))?.includes('is-offline') === false,
      10_000,
      'sam back in Random',
    );
    await nora.page.locator('#connection-status[data-state="connected"]').waitFor();
    await rejoined(nora);
    await say(nora, rooms.general, 'still in general');
    await sees(sam, rooms.general, { username: 'nora', text: 'still in general' });
  } finally {
    await admin.close();
    await sam.page.bringToFront();
    await fixtures.rooms.update(rooms.random.id, 'Random', false);
  }
});

test('logged out elsewhere: the page says so, offers to log in, and stops reconnecting', async () => {
  const [sam, nora] = people as [Person, Person];
  await nora.page.evaluate('window.__samePage = true');
  // Outside Gredis (no socket group hears): the socket is open until its next command.
  await fixtures.sessions.deleteForUser(noraId);
  const box = pane(nora, rooms.general).locator('input[name="message"]');
  await box.fill('still there?');
  await box.press('Enter');
  await waitFor(async () => /session has ended/.test(await alertText(nora)), 10_000, 'the alert');
  assert.is(await box.inputValue(), 'still there?', 'what she wrote is back in its box');
  const link = nora.page.getByRole('alert').getByRole('link', { name: 'Log in again' });
  assert.is(await link.getAttribute('href'), '/accounts/login/?next=%2F');
  assert.not.ok((await lines(sam, rooms.general)).some((l) => l.includes('still there?')));
  // The command's check closed the socket too (4001), so that it no longer receives
  // the room: the page asks, finds the session over, and stops.
  await nora.page
    .locator('#connection-status[data-state="disconnected"]', { hasText: 'logged out' })
    .waitFor({ timeout: 10_000 });
  assert.is(await nora.page.evaluate('window.__samePage'), true, 'no reload');
  await link.click();
  await nora.page.waitForURL(/\/accounts\/login\/\?next=%2F$/);
});

test("logging out in another tab ends this tab's chat at once; it does not reconnect", async () => {
  const [sam] = people as [Person, Person];
  await sam.page.evaluate('window.__samePage = true');
  const other = await sam.context.newPage();
  let reconnects = 0;
  const countReconnect = (): void => void reconnects++;
  try {
    await other.goto(`http://localhost:${sam.port}/`);
    sam.page.on('websocket', countReconnect);
    await other.getByRole('button', { name: 'Log out' }).click();
    await other.waitForURL(/\/accounts\/login\/$/);
    // Closed by the server (4001), not found out at the next reconnect attempt.
    await sam.page
      .locator('#connection-status[data-state="disconnected"]', { hasText: 'logged out' })
      .waitFor({ timeout: 3000 });
    assert.match(await alertText(sam), /session has ended/);
    // Nothing can be sent any more, and the page does not pretend otherwise.
    const form = pane(sam, rooms.general).locator('form');
    const send = form.getByRole('button', { name: 'Send' });
    assert.ok(await send.isDisabled(), 'Send is disabled');
    assert.is(await form.locator('input').getAttribute('readonly'), '', 'the box is read-only');
    // And they look it: a Send that looks as pressable as ever does nothing when pressed.
    const style = (element: typeof send, property: string) =>
      element.evaluate(
        (el, name) => el.ownerDocument.defaultView!.getComputedStyle(el).getPropertyValue(name),
        property,
      );
    assert.ok(Number(await style(send, 'opacity')) < 1, 'Send is faded');
    assert.is(await style(send, 'cursor'), 'not-allowed');
    assert.is(await style(form.locator('input'), 'border-top-style'), 'dashed', 'the box too');
    assert.is(await sam.page.evaluate('window.__samePage'), true, 'no reload');
    await sleep(1000); // longer than the first reconnect delay would be
    assert.is(reconnects, 0, 'the page did not try to reconnect');
  } finally {
    sam.page.off('websocket', countReconnect);
    await other.close();
  }
});

test.run();
