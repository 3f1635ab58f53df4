/**
 * How `gredis` answers before any command runs: its help (asked for, or no
 * command at all), and usage errors, commander's and Gredis's own alike, in
 * one form: "gredis: REASON", exit 2 (cli.md).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as assert from 'uvu/assert';
import { runGredis, runShell } from './helpers/cli.js';
import { suite } from './helpers/suite.js';

const test = suite('gredis usage');
let dir: string;
test.before(() => {
  dir = mkdtempSync(join(tmpdir(), 'gredis-usage-'));
});
test.after(() => rmSync(dir, { recursive: true, force: true }));

test("no command: the help on stdout and exit 0, as Django's manage.py", async () => {
  const bare = await runGredis([], { cwd: dir, timeoutMs: 10_000 });
  const help = await runGredis(['--help'], { cwd: dir, timeoutMs: 10_000 });
  assert.is(bare.code, 0, bare.stderr);
  assert.is(bare.stderr, '');
  assert.match(bare.stdout, /^Usage: /);
  assert.is(bare.stdout, help.stdout);
});

test('gredis help COMMAND is COMMAND --help', async () => {
  for (const command of [
    'migrate',
    'showmigrations',
    'createsuperuser',
    'changepassword',
    'clearsessions',
    'runworker',
    'thyme',
  ]) {
    const viaHelp = await runGredis(['help', command], { cwd: dir, timeoutMs: 10_000 });
    const viaFlag = await runGredis([command, '--help'], { cwd: dir, timeoutMs: 10_000 });
    assert.is(viaHelp.code, 0, viaHelp.stderr);
    assert.match(viaHelp.stdout, new RegExp(`^Usage: .* ${command} `));
    assert.is(viaHelp.stdout, viaFlag.stdout, command);
  }
});

test('every usage error is "gredis: REASON" on one line, exit 2, no stack', async () => {
  for (const [args, env] of [
    // commander's own
    [['--bogus']],
    [['bogus']],
    [['migrate', '--bogus']],
    [['migrate', 'extra']],
    [['migrate', '--database']],
    [['thyme']],
    [['thyme', 'multichat', '-p', 'abc']],
    // raised through commander (command.error)
    [['thyme', 'multichat', '--port', '18099', '--metrics-port', '18099']],
    // Gredis's own
    [['runworker', '--layer', 'memory://']],
    [['thyme', 'multichat', '--layer', 'redis//localhost']],
    [['thyme', 'multichat', '--port', '0'], { ALLOWED_HOSTS: ',' }],
  ] as [string[], Record<string, string>?][]) {
    const result = await runGredis(args, { cwd: dir, env, timeoutMs: 10_000 });
    const what = `${args.join(' ')}: ${result.stderr}`;
    assert.is(result.code, 2, what);
    // One line (cli.md), whatever hint it carries.
    assert.match(result.stderr, /^gredis: \S[^\n]*\n$/, what);
    assert.not.match(result.stderr, /^error:/m, what);
    assert.not.match(result.stderr, /\n\s+at /, what);
  }
});

test("a mistyped command or option is one line: what was typed, commander's guess, and the help to read", async () => {
  const commandHelp = /; "([^"]+ --help)" lists the commands\n$/;
  const optionHelp = (command: string): RegExp =>
    new RegExp(`; "([^"]+ ${command} --help)" shows its usage\\n$`);
  for (const [args, reason, help] of [
    [['thym'], "unknown command 'thym' (did you mean 'thyme'?)", commandHelp],
    // The help asked for a command that is none is no help: the same error.
    [['help', 'thym'], "unknown command 'thym' (did you mean 'thyme'?)", commandHelp],
    [['thym', '--help'], "unknown command 'thym' (did you mean 'thyme'?)", commandHelp],
    [['bogus'], "unknown command 'bogus'", commandHelp],
    [['--bogus'], "unknown option '--bogus'", commandHelp],
    [
      ['thyme', 'multichat', '--prot', '80'],
      "unknown option '--prot' (did you mean '--port'?)",
      optionHelp('thyme'),
    ],
    [['migrate', '--bogus'], "unknown option '--bogus'", optionHelp('migrate')],
  ] as [string[], string, RegExp][]) {
    const result = await runGredis(args, { cwd: dir, timeoutMs: 10_000 });
    const what = `${args.join(' ')}: ${result.stderr}`;
    assert.is(result.code, 2, what);
    assert.ok(result.stderr.startsWith(`gredis: ${reason}; `), what);
    const pasted = help.exec(result.stderr)?.[1];
    assert.ok(pasted, what);
    // The help it names is there to be pasted as it is.
    const helped = await runShell(pasted, { cwd: dir, timeoutMs: 10_000 });
    assert.is(helped.code, 0, `${pasted}: ${helped.stderr}`);
    assert.match(helped.stdout, /^Usage: /, pasted);
  }
});

test.run();
