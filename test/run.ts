/**
 * Runs every test file in its own process, one after another, and summarises.
 * `npm test -- layer` runs only the files whose name contains "layer".
 */
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const filters = process.argv.slice(2);
const files = readdirSync(here)
  .filter((name) => name.endsWith('.test.js'))
  .filter((name) => filters.length === 0 || filters.some((f) => name.includes(f)))
  .sort();

const FILE_TIMEOUT_MS = Number(process.env.GREDIS_TEST_FILE_TIMEOUT_MS ?? 300_000);
const failed: string[] = [];
const started = Date.now();

for (const file of files) {
  const t0 = Date.now();
  const code = await new Promise<number>((resolve) => {
    const child = spawn(
      process.execPath,
      ['--enable-source-maps', '--expose-gc', join(here, file)],
      {
        stdio: 'inherit',
        env: {
          GREDIS_LOG_LEVEL: 'silent',
          ...process.env,
          FORCE_COLOR: process.stdout.isTTY ? '1' : '0',
        },
      },
    );
    const timer = setTimeout(() => {
      console.error(`\n${file}: timed out after ${FILE_TIMEOUT_MS} ms`);
      child.kill('SIGKILL');
    }, FILE_TIMEOUT_MS);
    child.on('exit', (exitCode, signal) => {
      clearTimeout(timer);
      resolve(exitCode ?? (signal ? 1 : 0));
    });
  });
  console.log(
    `  ${code === 0 ? 'ok  ' : 'FAIL'} ${file} (${((Date.now() - t0) / 1000).toFixed(1)} s)`,
  );
  if (code !== 0) failed.push(file);
}

console.log(
  `\n${files.length - failed.length}/${files.length} test files passed in ${((Date.now() - started) / 1000).toFixed(0)} s`,
);
if (failed.length > 0) {
  console.log(`failed: ${failed.join(', ')}`);
  process.exit(1);
}
