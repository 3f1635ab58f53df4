/**
 * Output gredis cannot write: a reader that went away (`… | head -1`) and a
 * full disk end the command with exit 1, never with Node's stack trace.
 * Output that echoes text typed, or answered by a database: its control
 * characters (escape sequences, line breaks, bidirectional overrides) are
 * shown escaped, never acted on by the terminal.
 */
import { spawn } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as assert from 'uvu/assert';
import { UserRepository } from '../src/auth/users.js';
import { openDatabase } from '../src/db/connection.js';
import { runGredis, runGredisWithKey } from './helpers/cli.js';
import { TEST_SECRET_KEY } from './helpers/deployment.js';
import { GREDIS_BIN } from './helpers/processes.js';
import { suite } from './helpers/suite.js';

const test = suite('output that cannot be written');

let dir = '';
const database = (): string => `sqlite://${join(dir, 'db.sqlite3')}`;
test.before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'gredis-output-'));
  // A database that exists: listing a missing one adds a note on stderr.
  const migrated = await runGredis(['migrate', '--database', database()]);
  assert.is(migrated.code, 0, migrated.stderr);
});
test.after(() => rmSync(dir, { recursive: true, force: true }));

/** Two commands that write to stdout: migrate's listing, and --help (commander's). */
const commands = (): string[][] => [['migrate', '--list', '--database', database()], ['--help']];

/** Runs gredis with `stdout` as given; resolves with its exit status and stderr. */
function run(
  args: string[],
  stdout: 'pipe' | number,
  closeReader = false,
): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [GREDIS_BIN, ...args], {
      stdio: ['ignore', stdout, 'pipe'],
      env: { ...process.env, GREDIS_LOG_LEVEL: 'silent' },
      timeout: 30_000,
    });
    // As `head -0` does: the reader is gone before gredis writes a line.
    if (closeReader) child.stdout!.destroy();
    let stderr = '';
    child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stderr }));
  });
}

test('a reader that went away (EPIPE): exit 1, nothing said', async () => {
  for (const args of commands()) {
    const result = await run(args, 'pipe', true);
    assert.is(result.stderr, '', args.join(' '));
    assert.is(result.code, 1, args.join(' '));
  }
});

test('a full disk (ENOSPC): exit 1, one line saying so', async () => {
  const full = openSync('/dev/full', 'w');
  try {
    for (const args of commands()) {
      const result = await run(args, full);
      assert.is(
        result.stderr,
        'gredis: cannot write to stdout: ENOSPC: no space left on device, write\n',
        args.join(' '),
      );
      assert.is(result.code, 1, args.join(' '));
    }
  } finally {
    closeSync(full);
  }
});

test.run();

const echo = suite('text the CLI echoes');

/**
 * Text that would act on a terminal, or read other than it holds: a colour,
 * DEL and a C1 CSI, a right-to-left override ("adminexe.png"), an isolate and a
 * line separator.
 */
const DISGUISE = 'ev\u001b[31mil\u007f\u009b2J \u202egnp.exe \u2066x\u2069\u2028y';
const DISGUISE_ESCAPED = String.raw`ev\u001b[31mil\u007f\u009b2J \u202egnp.exe \u2066x\u2069\u2028y`;
/** DISGUISE with a line break and a forged line after it. */
const HOSTILE = `${DISGUISE}\nFAKE line`;
const HOSTILE_ESCAPED = `${DISGUISE_ESCAPED}\\nFAKE line`;
/** What must not be printed as it is: any control but a line's end, any bidi or separator. */
const RAW_CONTROL =
  // eslint-disable-next-line no-control-regex -- control characters are what is looked for
  /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]/g;

/** `output` has no raw control character, and has `escaped` (HOSTILE's, unless said). */
function assertShownEscaped(output: string, what: string, escaped = HOSTILE_ESCAPED): void {
  const raw = output.match(RAW_CONTROL);
  assert.is(raw, null, `${what}: printed as they are: ${JSON.stringify(raw)} in ${output}`);
  assert.ok(output.includes(escaped), `${what}: ${output}`);
}

echo.before(() => {
  dir = mkdtempSync(join(tmpdir(), 'gredis-echo-'));
});
echo.after(() => rmSync(dir, { recursive: true, force: true }));

echo(
  'an option or argument typed: the usage error is one line, what was typed escaped',
  async () => {
    for (const args of [
      ['migrate', `--x${HOSTILE}`],
      [`thym${HOSTILE}`],
      ['thyme', 'multichat', '--port', HOSTILE],
    ]) {
      const result = await runGredis(args, { cwd: dir, timeoutMs: 10_000 });
      assert.is(result.code, 2, result.stderr);
      assertShownEscaped(result.stderr, args.join(' '));
      // One line still: the typed line break is shown, not made.
      assert.match(result.stderr, /^gredis: [^\n]*\n$/);
    }
  },
);

echo("a username typed that names no user: changepassword's error shows it escaped", async () => {
  await runGredis(['migrate', '--database', database()]);
  const result = await runGredisWithKey(['changepassword', HOSTILE, '--database', database()]);
  assert.is(result.code, 1, result.stderr);
  assertShownEscaped(result.stderr, 'changepassword');
  assert.is(result.stderr, `gredis: user '${HOSTILE_ESCAPED}' does not exist\n`);
});

echo("a username from the database: changepassword's lines show it escaped", async () => {
  await runGredis(['migrate', '--database', database()]);
  // Stored by another program (or by hand): Gredis's own validation would refuse it.
  const db = openDatabase(database());
  try {
    const users = new UserRepository(db, { passwordIterations: 1000, secret: TEST_SECRET_KEY });
    await users.create({ username: 'stored', password: 'old password' });
    await db.knex('auth_user').where({ username: 'stored' }).update({ username: HOSTILE });
  } finally {
    await db.close();
  }
  const result = await runGredisWithKey(['changepassword', HOSTILE, '--database', database()], {
    input: 'n3w-Secret 2026\nn3w-Secret 2026\n',
  });
  assert.is(result.code, 0, result.stderr);
  assertShownEscaped(result.stdout, 'changepassword');
  assert.ok(
    result.stdout.startsWith(`Changing password for user '${HOSTILE_ESCAPED}'\n`),
    result.stdout,
  );
  assert.ok(
    result.stdout.includes(`Password changed successfully for user '${HOSTILE_ESCAPED}'\n`),
    result.stdout,
  );
});

echo('a database URL typed: the note that it does not exist shows it escaped', async () => {
  const missing = `sqlite://${join(dir, `${HOSTILE}.sqlite3`)}`;
  const result = await runGredis(['migrate', '--list', '--database', missing]);
  assert.is(result.code, 0, result.stderr);
  assertShownEscaped(result.stderr, 'migrate --list');
  assert.match(result.stderr, /^Note: the database sqlite:\/\/[^\n]+ does not exist yet[^\n]+\n$/);
});

echo(
  "PostgreSQL's answer (a role that does not exist, named in it): shown escaped, in the stack too",
  async () => {
    // The role's name percent-encoded in the URL, as a URL must; the server names it
    // decoded (a line break would end the message: Gredis shows a driver's first line).
    const url = `postgres://${encodeURIComponent(DISGUISE)}@127.0.0.1:5432/test`;
    for (const verbosity of ['1', '2']) {
      const result = await runGredis(['migrate', '--list', '-v', verbosity, '--database', url]);
      const what = `migrate --list -v ${verbosity}`;
      assert.is(result.code, 1, result.stderr);
      assertShownEscaped(result.stderr, what, `role "${DISGUISE_ESCAPED}"`);
      assert.match(result.stderr, /^gredis: cannot connect to the database [^\n]+\n/, what);
      // -v 2 adds the stack, its cause's (the driver's error, the role in it) too.
      if (verbosity === '2')
        assert.match(result.stderr, /\nCaused by: error: role "ev\\u001b/, what);
    }
  },
);

echo.run();
