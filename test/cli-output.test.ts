/**
 * Output gredis cannot write: a reader that went away (`… | head -1`) and a
 * full disk end the command with exit 1, never with Node's stack trace.
 */
import { spawn } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as assert from 'uvu/assert';
import { runGredis } from './helpers/cli.js';
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
