/**
 * The commands an error tells its user to run, and the usage lines of --help,
 * are written as that user started gredis, and work when pasted: `node bin/gredis.js migrate` in a checkout (as
 * the README runs it), `gredis migrate` once installed on the PATH, `npx gredis
 * migrate` from a project's npm script.
 */
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import * as assert from 'uvu/assert';
import { runShell } from './helpers/cli.js';
import { GREDIS_BIN } from './helpers/processes.js';
import { suite } from './helpers/suite.js';

const CHECKOUT = dirname(dirname(GREDIS_BIN));
const test = suite('hints name a command that works');

let dir = '';
test.before.each(() => {
  dir = mkdtempSync(join(tmpdir(), 'gredis-hints-'));
});
test.after.each(() => rmSync(dir, { recursive: true, force: true }));

/** What a user would set: a database of the test's own, and --noinput's password. */
const settings = (): Record<string, string | undefined> => ({
  DATABASE_URL: `sqlite://${join(dir, 'db.sqlite3')}`,
  GREDIS_SUPERUSER_PASSWORD: 'Tr0ub4dor&3',
  // No registry is asked for anything: npx must find gredis where it is.
  npm_config_offline: 'true',
  npm_config_update_notifier: 'false',
  // A shell's, not those of an `npm test` this test may run under.
  INIT_CWD: undefined,
  npm_package_json: undefined,
});

/**
 * Runs `gredis` as `prefix` on a database not made yet, then the migrate its
 * error names, pasted as it is, then the first command again; returns the hint,
 * once `migrate --help` has shown the same command in its usage line.
 */
async function hintWorks(
  prefix: string,
  options: { cwd: string; env?: Record<string, string | undefined> },
): Promise<string> {
  const env = { ...settings(), ...options.env };
  const command = `${prefix} createsuperuser --noinput --username admin`;
  const refused = await runShell(command, { cwd: options.cwd, env });
  assert.is(refused.code, 1, refused.stderr);
  const hint = /run "([^"]+)" first\n$/.exec(refused.stderr)?.[1];
  assert.ok(hint, refused.stderr);
  const migrated = await runShell(hint, { cwd: options.cwd, env });
  assert.is(migrated.code, 0, `${hint}: ${migrated.stderr}`);
  assert.match(migrated.stdout, /Applying 20261128000001_initial\.\.\. OK/);
  const created = await runShell(command, { cwd: options.cwd, env });
  assert.is(created.code, 0, created.stderr);
  // --help's usage line names the command the same way.
  const help = await runShell(`${prefix} migrate --help`, { cwd: options.cwd, env });
  assert.is(help.stdout.split('\n')[0], `Usage: ${hint} [options]`);
  return hint;
}

test('in a checkout, run as the README says: node bin/gredis.js migrate', async () => {
  assert.is(await hintWorks('node bin/gredis.js', { cwd: CHECKOUT }), 'node bin/gredis.js migrate');
});

test('from another directory: the path to bin/gredis.js as given, absolute', async () => {
  assert.is(await hintWorks(`node ${GREDIS_BIN}`, { cwd: dir }), `node ${GREDIS_BIN} migrate`);
});

test("started elsewhere by an npm script's child: INIT_CWD is not where it was typed", async () => {
  // As under `npm test` in the checkout: npm's variables, inherited by a process in another directory.
  const inherited = { INIT_CWD: CHECKOUT, npm_package_json: join(CHECKOUT, 'package.json') };
  assert.is(
    await hintWorks(`node ${GREDIS_BIN}`, { cwd: dir, env: inherited }),
    `node ${GREDIS_BIN} migrate`,
  );
});

test('installed, gredis on the PATH: gredis migrate', async () => {
  const bin = join(dir, 'bin');
  mkdirSync(bin);
  symlinkSync(GREDIS_BIN, join(bin, 'gredis'));
  const PATH = `${bin}:${process.env.PATH}`;
  assert.is(await hintWorks('gredis', { cwd: dir, env: { PATH } }), 'gredis migrate');
});

/** A project depending on Gredis (linked to this checkout), with two npm scripts. */
function project(): string {
  const root = join(dir, 'project');
  mkdirSync(join(root, 'node_modules', '.bin'), { recursive: true });
  mkdirSync(join(root, 'sub'));
  symlinkSync(CHECKOUT, join(root, 'node_modules', 'gredis'));
  symlinkSync('../gredis/bin/gredis.js', join(root, 'node_modules', '.bin', 'gredis'));
  const scripts = { gredis: 'gredis', node: 'node node_modules/gredis/bin/gredis.js' };
  writeFileSync(join(root, 'package.json'), JSON.stringify({ name: 'p', private: true, scripts }));
  return root;
}

test("a project's npm script running gredis: npx gredis migrate", async () => {
  // `npm run gredis --` passes what follows to the script: the user's `gredis`.
  assert.is(await hintWorks('npm run -s gredis --', { cwd: project() }), 'npx gredis migrate');
});

test("an npm script typed in a subdirectory: the path from there, not from the script's", async () => {
  // npm runs the script in the project's root; the user pastes where they typed.
  const sub = join(project(), 'sub');
  const hint = await hintWorks('npm run -s node --', { cwd: sub });
  assert.is(
    hint,
    `node ${join(dir, 'project', 'node_modules', 'gredis', 'bin', 'gredis.js')} migrate`,
  );
});

test.run();
