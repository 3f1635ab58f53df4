/**
 * Logging of failures: a burst of like lines is one line, then a count per
 * interval; a service away is one line without a stack, a bug keeps its stack.
 * What a log line must not carry: a terminal's control characters, secrets.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { suite } from './helpers/suite.js';
import * as assert from 'uvu/assert';
import { UserRepository } from '../src/auth/users.js';
import { allDatabases, refusePasswordChanges } from './helpers/databases.js';
import { TEST_SECRET_KEY } from './helpers/deployment.js';
import { LayerUnavailable } from '../src/layer/errors.js';
import { briefError, BurstLogger, createLogger, serializeError } from '../src/logger.js';
import { logAppFailure } from '../src/worker/failures.js';
import { captureLogs, ERROR, WARN } from './helpers/log-capture.js';
import { sleep, waitFor } from './helpers/wait.js';

const test = suite('burst logger');

test('the first of a burst is written in full; the rest are counted at the end of the interval', async () => {
  const { logger, lines } = captureLogs();
  const burst = new BurstLogger(logger, 300);
  for (let i = 0; i < 5; i++) burst.warn({ socket: i }, 'the layer is away');
  burst.warn({}, 'something else');
  assert.equal(
    lines.map((line) => [line.msg, line.socket]),
    [
      ['the layer is away', 0],
      ['something else', undefined],
    ],
  );
  await waitFor(() => lines.length === 3, 2000, 'the count');
  // Written at the interval's end, it says when the last one came (here: at once).
  assert.match(
    String(lines[2]!.msg),
    /^the layer is away \(4 more like it in 0\.3 s, the last \d+\.\d s ago\)$/,
  );
  assert.is(lines[2]!.more, 4);
  const lastAt = Date.parse(String(lines[2]!.lastAt));
  assert.ok(Date.now() - lastAt >= 250 && Date.now() - lastAt < 2000, 'lastAt: when the last came');
  assert.is(lines[2]!.level, WARN);
  // Quiet for an interval: the next one is written in full again.
  await sleep(350);
  burst.warn({ socket: 9 }, 'the layer is away');
  assert.is(lines.length, 4);
  assert.equal([lines[3]!.msg, lines[3]!.socket], ['the layer is away', 9]);
});

test("a burst's entry goes when it ends: lines of ever-new text (console warnings) leave nothing behind", async () => {
  const { logger, lines } = captureLogs();
  const burst = new BurstLogger(logger, 100);
  // Private, read for its size: what a process keyed by formatted text would keep.
  const bursts = () => burst['bursts'].size;
  for (let i = 0; i < 1000; i++) burst.warn({}, `[WARN] warning number ${i}`);
  burst.warn({}, '[WARN] warning number 0');
  assert.is(bursts(), 1000, 'under way');
  await waitFor(() => bursts() === 0, 2000, 'every burst ended');
  assert.is(lines.length, 1001, 'each in full, and the one repeat counted');
  assert.is(lines.at(-1)!.more, 1);
});

test('GREDIS_LOG_FOLD_SECONDS sets how long like lines are counted; a value not a number of seconds in range is refused', async () => {
  const saved = process.env.GREDIS_LOG_FOLD_SECONDS;
  try {
    process.env.GREDIS_LOG_FOLD_SECONDS = '0.2';
    const { logger, lines } = captureLogs();
    const burst = new BurstLogger(logger);
    burst.warn({}, 'the layer is away');
    burst.warn({}, 'the layer is away');
    await waitFor(() => lines.length === 2, 2000, 'the count');
    assert.match(String(lines[1]!.msg), / \(1 more like it in 0\.2 s, /);
    for (const value of ['0', '0.05', '-1', '1e3', '10s', '86401', 'NaN'])
      assert.throws(
        () => {
          process.env.GREDIS_LOG_FOLD_SECONDS = value;
          new BurstLogger(logger);
        },
        (error: Error) =>
          error.message ===
          `GREDIS_LOG_FOLD_SECONDS must be a number of seconds from 0.1 to 86400; got "${value}"`,
        value,
      );
  } finally {
    if (saved === undefined) delete process.env.GREDIS_LOG_FOLD_SECONDS;
    else process.env.GREDIS_LOG_FOLD_SECONDS = saved;
  }
});

test('BurstLogger.for gives every caller of one logger the same counts', () => {
  const { logger } = captureLogs();
  assert.is(BurstLogger.for(logger), BurstLogger.for(logger));
  assert.is.not(BurstLogger.for(logger), BurstLogger.for(captureLogs().logger));
});

test('briefError: the message and its cause in one line', () => {
  const error = new Error('channel layer host a is unavailable', {
    cause: new Error('max retries'),
  });
  assert.equal(briefError(error), { error: 'channel layer host a is unavailable: max retries' });
  assert.equal(briefError('plain'), { error: 'plain' });
});

test('logAppFailure: a layer or database away is one line without a stack; a bug keeps its stack', () => {
  const { logger, lines } = captureLogs();
  const away = new LayerUnavailable('127.0.0.1:6379', { cause: new Error('ECONNREFUSED') });
  const lost = Object.assign(new Error('terminating connection due to administrator command'), {
    code: '57P01',
  });
  for (let i = 0; i < 3; i++) logAppFailure(logger, away, { path: '/chat/' }, 'handler failed');
  logAppFailure(logger, lost, {}, 'view failed');
  logAppFailure(logger, new TypeError('x is undefined'), { path: '/' }, 'view failed');
  assert.equal(
    lines.map((line) => [line.level, line.msg, 'err' in line]),
    [
      [WARN, 'handler failed', false],
      [WARN, 'view failed', false],
      [ERROR, 'view failed', true],
    ],
  );
  assert.is(lines[0]!.error, 'channel layer host 127.0.0.1:6379 is unavailable: ECONNREFUSED');
  assert.match(String((lines[2]!.err as { stack: string }).stack), /TypeError: x is undefined/);
});

test("an error's Redis command goes to the log without its arguments (AUTH's are the password)", () => {
  const error = Object.assign(new Error('WRONGPASS invalid username-password pair'), {
    command: { name: 'auth', args: ['alice', 'LEAKpw'] },
    previousErrors: [
      Object.assign(new Error('again'), { command: { name: 'auth', args: ['alice', 'LEAKpw'] } }),
    ],
  });
  const shown = JSON.stringify(serializeError(error));
  assert.not.match(shown, /LEAKpw/);
  assert.match(shown, /"command":\{"name":"auth"\}/);
  assert.match(shown, /WRONGPASS/);
});

/** A client's text made to act on a terminal: colour, a C1 CSI, DEL, a title, a forged line. */
const HOSTILE = 'al\u001b[31mice\u0007\u009b2J\u007f\r\u001b]0;owned\u0007\nFAKE line';

/**
 * A client's text made to read other than it holds ("Trojan Source"): a
 * right-to-left override (shown "adminexe.png"), the other bidirectional
 * embeddings, overrides, isolates and marks, and the line and paragraph
 * separators some viewers break a line on.
 */
const DISGUISED =
  'admin\u202egnp.exe \u202a\u202b\u202c\u202d \u2066\u2067\u2068x\u2069 \u200e\u200f\u061c line\u2028FAKE\u2029para';
const DISGUISED_ESCAPED = String.raw`admin\u202egnp.exe \u202a\u202b\u202c\u202d \u2066\u2067\u2068x\u2069 \u200e\u200f\u061c line\u2028FAKE\u2029para`;
/** What may not reach a log raw: DISGUISED's characters. */
const BIDI_OR_SEPARATOR = /[\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]/g;

/**
 * What a process logs on stdout (a pipe) through createLogger in `format`:
 * a message and a field with `hostile` in them, and an error whose message has it.
 */
async function hostileLog(
  format: 'pretty' | 'json',
  hostile = HOSTILE,
): Promise<{ out: string; pid: number | undefined }> {
  const script = `
    import { createLogger } from ${JSON.stringify(new URL('../src/logger.js', import.meta.url).href)};
    const hostile = ${JSON.stringify(hostile)};
    const logger = createLogger({ name: 'chat' });
    logger.info({ username: hostile }, 'login failed for ' + hostile);
    logger.error({ err: new Error('duplicate room title ' + hostile) }, 'view failed');`;
  const run = promisify(execFile)(process.execPath, ['--input-type=module', '-e', script], {
    env: { ...process.env, GREDIS_LOG_FORMAT: format, GREDIS_LOG_LEVEL: 'info' },
  });
  return { out: (await run).stdout, pid: run.child.pid };
}

test("pretty logs: a logged value's control characters are escaped, in messages and stacks too", async () => {
  const { out, pid } = await hostileLog('pretty');
  // Without a terminal, no colour: any control character but a line's end is the client's.
  // eslint-disable-next-line no-control-regex -- control characters are what is looked for
  const controls = out.match(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/g);
  assert.is(controls, null, `control characters printed: ${JSON.stringify(controls)}`);
  const escaped = String.raw`al\u001b[31mice\u0007\u009b2J\u007f\r\u001b]0;owned\u0007\nFAKE line`;
  // name/pid: the README's two Thymes and two workers share one terminal, told apart by `jobs -l`.
  assert.ok(out.includes(`INFO (chat/${pid}): login failed for ${escaped}\n`), out);
  assert.ok(out.includes(`username: "${escaped}"`), out);
  assert.ok(out.includes(`Error: duplicate room title ${escaped}\n`), out);
  assert.not.match(out, /^\s*FAKE line/m, 'a line of its own');
  // A stack's line breaks are its layout: kept.
  assert.match(out, /duplicate room title .*\n\s+at /);
});

/** hostileLog's JSON lines read back as the values logged, `text` in each. */
function assertLoggedValues(out: string, text: string): void {
  const lines = out
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as Record<string, unknown>);
  assert.equal(
    lines.map((line) => [line.msg, line.username]),
    [
      [`login failed for ${text}`, text],
      ['view failed', undefined],
    ],
  );
  assert.is((lines[1]!.err as { message: string }).message, `duplicate room title ${text}`);
}

test('JSON logs: every control character is escaped (DEL and C1 too, which JSON leaves), the values intact', async () => {
  const { out } = await hostileLog('json');
  // eslint-disable-next-line no-control-regex -- control characters are what is looked for
  assert.not.match(out, /[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/);
  assertLoggedValues(out, HOSTILE);
});

test('pretty logs: bidirectional overrides, isolates, marks and line separators are escaped, so a line reads as what it holds', async () => {
  const { out, pid } = await hostileLog('pretty', DISGUISED);
  const raw = out.match(BIDI_OR_SEPARATOR);
  assert.is(raw, null, `printed as they are: ${JSON.stringify(raw)}`);
  assert.ok(out.includes(`INFO (chat/${pid}): login failed for ${DISGUISED_ESCAPED}\n`), out);
  assert.ok(out.includes(`username: "${DISGUISED_ESCAPED}"`), out);
  assert.ok(out.includes(`Error: duplicate room title ${DISGUISED_ESCAPED}\n`), out);
});

test('JSON logs: bidirectional overrides, isolates, marks and line separators are escaped, the values intact', async () => {
  const { out } = await hostileLog('json', DISGUISED);
  const raw = out.match(BIDI_OR_SEPARATOR);
  assert.is(raw, null, `written as they are: ${JSON.stringify(raw)}`);
  assert.ok(out.includes(`"login failed for ${DISGUISED_ESCAPED}"`), out);
  assertLoggedValues(out, DISGUISED);
});

test("a knex timeout's bound values (it attaches them) go to the log as a count", () => {
  const error = Object.assign(new Error('Knex: Timeout acquiring a connection.'), {
    name: 'KnexTimeoutError',
    sql: 'update "auth_user" set "password" = ? where "id" = ?',
    bindings: ['pbkdf2_sha256$1000000$salt$LEAKhash=', 1],
  });
  const shown = JSON.stringify(serializeError(error));
  assert.not.match(shown, /LEAKhash/);
  assert.match(shown, /"bindings":"\(2 not logged\)"/);
});

test('GREDIS_LOG_LEVEL is read whatever its case', () => {
  const before = process.env.GREDIS_LOG_LEVEL;
  try {
    process.env.GREDIS_LOG_LEVEL = 'WARN';
    assert.is(createLogger().level, 'warn');
    process.env.GREDIS_LOG_LEVEL = 'Bogus';
    assert.throws(() => createLogger(), /GREDIS_LOG_LEVEL must be one of/);
  } finally {
    if (before === undefined) delete process.env.GREDIS_LOG_LEVEL;
    else process.env.GREDIS_LOG_LEVEL = before;
  }
});

test.run();

for (const backend of allDatabases()) {
  const db_test = suite(`logged database errors (${backend.name})`);
  db_test.after(() => backend.teardown());

  db_test(
    "a failed password UPDATE's error, as logged, has neither the new hash nor any bound value",
    async () => {
      await backend.setup();
      const db = await backend.openMigrated();
      const users = new UserRepository(db, { passwordIterations: 1000, secret: TEST_SECRET_KEY });
      const user = await users.create({ username: 'alice', password: 'old password' });
      await refusePasswordChanges(db);
      const error = await users.setPassword(user.id, 'n3w-Secret').then(
        () => assert.unreachable('the UPDATE was refused'),
        (error: unknown) => error,
      );
      const shown = serializeError(error) as { message: string };
      const logged = JSON.stringify(shown);
      assert.not.match(logged, /pbkdf2_sha256|n3w-Secret/, logged);
      // What failed and why is still said: the statement, with placeholders, and the database's reason.
      assert.match(
        shown.message,
        /^update .auth_user. set .password. = (\?|\$1) where .id. = (\?|\$2) - (password changes refused|new row .* violates check constraint)/,
      );
    },
  );

  db_test.run();
}
