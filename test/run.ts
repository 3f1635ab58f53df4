/**
 * Runs every test file in its own process, two at a time, and summarises.
 * `npm test -- layer` runs only the files whose name contains "layer".
 *
 * Two at a time because most of a file's time is waiting (servers starting and
 * stopping, timeouts the tests drive to their end, the browser): one after
 * another the suite took over 17 minutes on a slow machine of our kind, and CI
 * must stay under 20. The files share nothing that would make them collide:
 * each takes its own PostgreSQL schema, Redis key prefix, SQLite file and
 * ports. GREDIS_TEST_JOBS=1 runs them one after another again, each file's
 * output then shown as it comes; with more than one, a file's output is shown
 * whole once it ends, so that two files' lines never interleave.
 *
 * A file that fails is run once more. These tests run real servers on a shared
 * 2-core machine, where a stall of seconds can sink a correct run; a file that
 * fails twice fails the suite, and one that passes only on its second run is
 * named in the summary with what its first run printed, so that it gets mended
 * rather than forgotten. The summary repeats every failure's own lines at the
 * end, where a reader of a long CI log looks first.
 *
 * Each file runs in a process group of its own, and whatever of that group is
 * still running once the file has ended (a redis-server or gredis process a
 * failed test did not stop, or everything under a file that timed out) is
 * killed and named: it would otherwise hold its port, its Redis clients and the
 * CPU through every later file.
 */
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const filters = process.argv.slice(2);
const files = readdirSync(here)
  .filter((name) => name.endsWith('.test.js'))
  .filter((name) => filters.length === 0 || filters.some((f) => name.includes(f)))
  .sort();

const FILE_TIMEOUT_MS = Number(process.env.GREDIS_TEST_FILE_TIMEOUT_MS ?? 300_000);
const JOBS = Math.max(1, Math.floor(Number(process.env.GREDIS_TEST_JOBS ?? 2)) || 1);
/** One file at a time: its output can be passed through as it comes. */
const LIVE = JOBS === 1;
/** The most lines of one run's failure the summary repeats. */
const EXCERPT_LINES = 60;

interface Run {
  code: number;
  output: string;
}

/** The process groups of the files now running, to kill if the runner is stopped. */
const running = new Set<number>();
for (const [signal, code] of [
  ['SIGINT', 130],
  ['SIGTERM', 143],
] as const)
  process.on(signal, () => {
    for (const group of running) killGroup(group);
    process.exit(code);
  });

/**
 * Kills process group `group`; whether any of it was still running. Zombies do
 * not count: where nothing reaps orphans (a container whose first process is
 * not an init), one stays in the group after it has exited.
 */
function killGroup(group: number): boolean {
  const running = runningIn(group);
  try {
    process.kill(-group, 'SIGKILL');
  } catch {
    // ESRCH: all of it had exited and been reaped.
  }
  return running;
}

/** Whether some process of group `group` runs (false without a /proc to read). */
function runningIn(group: number): boolean {
  let entries: string[];
  try {
    entries = readdirSync('/proc').filter((entry) => /^\d+$/.test(entry));
  } catch {
    return false;
  }
  return entries.some((entry) => {
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const [state, , pgrp] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      return Number(pgrp) === group && state !== 'Z';
    } catch {
      return false; // gone meanwhile
    }
  });
}

/**
 * Runs one file, its output kept for the summary and passed through: as it
 * comes when files run one at a time, else whole once the file has ended.
 */
function runFile(file: string): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(
      process.execPath,
      ['--enable-source-maps', '--expose-gc', join(here, file)],
      {
        // Its own group, which its children join: none outlives the file (killGroup).
        detached: true,
        stdio: ['ignore', 'pipe', 'pipe'],
        env: {
          GREDIS_LOG_LEVEL: 'silent',
          ...process.env,
          FORCE_COLOR: process.stdout.isTTY ? '1' : '0',
        },
      },
    );
    const chunks: Buffer[] = [];
    // What is shown once the file has ended (not LIVE), each chunk on its own stream.
    const held: [NodeJS.WriteStream, Buffer][] = [];
    const pass = (stream: NodeJS.WriteStream, chunk: Buffer): void => {
      chunks.push(chunk);
      if (LIVE) stream.write(chunk);
      else held.push([stream, chunk]);
    };
    child.stdout.on('data', (chunk: Buffer) => pass(process.stdout, chunk));
    child.stderr.on('data', (chunk: Buffer) => pass(process.stderr, chunk));
    const say = (line: string): void => pass(process.stderr, Buffer.from(line));
    running.add(child.pid!);
    const timer = setTimeout(() => {
      say(`\n${file}: timed out after ${FILE_TIMEOUT_MS} ms\n`);
      killGroup(child.pid!);
    }, FILE_TIMEOUT_MS);
    // At its exit, not at 'close': a process it left holding its stdout would hold off 'close'.
    child.on('exit', () => {
      clearTimeout(timer);
      running.delete(child.pid!);
      if (killGroup(child.pid!)) say(`\n${file}: left processes running; killed them\n`);
    });
    child.on('close', (exitCode, signal) => {
      for (const [stream, chunk] of held) stream.write(chunk);
      resolve({
        code: exitCode ?? (signal ? 1 : 0),
        output: Buffer.concat(chunks).toString('utf8'),
      });
    });
  });
}

/**
 * The lines that say what failed: uvu's FAIL blocks (up to the totals), a failed
 * before hook, a file timeout; failing those, the run's last lines.
 */
function failureExcerpt(output: string): string {
  // eslint-disable-next-line no-control-regex
  const lines = output.replace(/\x1b\[[0-9;]*m/g, '').split('\n');
  const kept: string[] = [];
  let inBlock = false;
  for (const line of lines) {
    if (
      /^\s*FAIL\s/.test(line) ||
      /a before hook of .* failed|timed out after|left processes running/.test(line)
    )
      inBlock = true;
    else if (/^\s*Total:/.test(line)) inBlock = false;
    if (inBlock) kept.push(line);
  }
  const excerpt = kept.length > 0 ? kept : lines.slice(-30);
  return excerpt
    .slice(0, EXCERPT_LINES)
    .map((line) => `    ${line}`)
    .join('\n')
    .replace(/(\n\s*)+$/, '');
}

const failed: { file: string; excerpt: string }[] = [];
const flaky: { file: string; excerpt: string }[] = [];
const started = Date.now();

/** Runs `file`, and once more if it fails; records and prints how it ended. */
async function runWithRetry(file: string): Promise<void> {
  const t0 = Date.now();
  let run = await runFile(file);
  if (run.code !== 0) {
    const first = failureExcerpt(run.output);
    console.log(`  again ${file}: it failed; running it once more`);
    run = await runFile(file);
    if (run.code === 0) flaky.push({ file, excerpt: first });
    else failed.push({ file, excerpt: failureExcerpt(run.output) });
  }
  console.log(
    `  ${run.code === 0 ? 'ok  ' : 'FAIL'} ${file} (${((Date.now() - t0) / 1000).toFixed(1)} s)`,
  );
}

const queue = [...files];
await Promise.all(
  Array.from({ length: Math.min(JOBS, queue.length) }, async () => {
    for (let file = queue.shift(); file !== undefined; file = queue.shift())
      await runWithRetry(file);
  }),
);

for (const { file, excerpt } of flaky)
  console.log(`\nflaky: ${file} failed, then passed on its second run. The first run:\n${excerpt}`);
for (const { file, excerpt } of failed)
  console.log(`\nFAILED: ${file} failed twice. The second run:\n${excerpt}`);
console.log(
  `\n${files.length - failed.length}/${files.length} test files passed in ${((Date.now() - started) / 1000).toFixed(0)} s` +
    (flaky.length > 0
      ? ` (${flaky.length} only on a second run: ${flaky.map((f) => f.file).join(', ')})`
      : ''),
);
if (failed.length > 0) {
  console.log(`failed: ${failed.map((f) => f.file).join(', ')}`);
  process.exit(1);
}
