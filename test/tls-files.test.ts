/**
 * Thyme's watch of its TLS files (watchTlsFiles) against the ways renewals and
 * deployments actually change them: links swapped in another directory, a
 * directory deleted and made again, a directory the process may not list.
 */
import { spawn } from 'node:child_process';
import {
  chmodSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  renameSync,
  rmSync,
  symlinkSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { suite } from './helpers/suite.js';
import * as assert from 'uvu/assert';
import { watchTlsFiles } from '../src/commands/tls-files.js';
import type { TlsFiles } from '../src/server/index.js';
import { captureLogs } from './helpers/log-capture.js';
import { sleep, waitFor } from './helpers/wait.js';

const test = suite();

const fixture = (name: string): Buffer =>
  readFileSync(fileURLToPath(new URL(`../../test/fixtures/tls/${name}`, import.meta.url)));
const FIRST = { cert: fixture('cert.pem'), key: fixture('key.pem') };
const RENEWED = { cert: fixture('renewed-cert.pem'), key: fixture('renewed-key.pem') };

const stops: (() => void)[] = [];
const dirs: string[] = [];
test.after.each(() => {
  for (const stop of stops.splice(0)) stop();
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'gredis-tls-watch-'));
  dirs.push(dir);
  return dir;
}

function writePair(dir: string, files: TlsFiles): void {
  writeFileSync(join(dir, 'key.pem'), files.key);
  writeFileSync(join(dir, 'cert.pem'), files.cert);
}

/** Watches `paths`; `used` lists the certificates handed over, in order. */
function watching(paths: { cert: string; key: string }): { used: Buffer[] } {
  const used: Buffer[] = [];
  const { logger } = captureLogs();
  stops.push(watchTlsFiles(paths, FIRST, (files) => used.push(files.cert), logger));
  return { used };
}

test('a directory deleted and made again is watched anew: this renewal and the next are served', async () => {
  const dir = join(tempDir(), 'certs');
  mkdirSync(dir);
  writePair(dir, FIRST);
  const { used } = watching({ cert: join(dir, 'cert.pem'), key: join(dir, 'key.pem') });
  rmSync(dir, { recursive: true });
  await sleep(1500); // the deletion has been seen and has settled: nothing to read
  mkdirSync(dir);
  writePair(dir, RENEWED);
  await waitFor(() => used.length === 1, 8000, 'the renewal in the new directory');
  assert.ok(used[0]!.equals(RENEWED.cert));
  writePair(dir, FIRST);
  await waitFor(() => used.length === 2, 3000, 'the next renewal there');
  assert.ok(used[1]!.equals(FIRST.cert));
});

test("a link to a file in another directory: a swap of that directory's links (certbot's live/) is served", async () => {
  const root = tempDir();
  for (const sub of ['etc', 'live', 'archive']) mkdirSync(join(root, sub));
  writeFileSync(join(root, 'archive', 'fullchain1.pem'), FIRST.cert);
  writeFileSync(join(root, 'archive', 'privkey1.pem'), FIRST.key);
  symlinkSync('../archive/fullchain1.pem', join(root, 'live', 'fullchain.pem'));
  symlinkSync('../archive/privkey1.pem', join(root, 'live', 'privkey.pem'));
  // The user's own links to certbot's: --ssl-certfile etc/cert.pem
  symlinkSync(join(root, 'live', 'fullchain.pem'), join(root, 'etc', 'cert.pem'));
  symlinkSync(join(root, 'live', 'privkey.pem'), join(root, 'etc', 'key.pem'));
  const { used } = watching({ cert: join(root, 'etc/cert.pem'), key: join(root, 'etc/key.pem') });
  // As certbot renews: new archive files, then each live/ link replaced.
  writeFileSync(join(root, 'archive', 'fullchain2.pem'), RENEWED.cert);
  writeFileSync(join(root, 'archive', 'privkey2.pem'), RENEWED.key);
  for (const [name, target] of [
    ['fullchain.pem', 'fullchain2.pem'],
    ['privkey.pem', 'privkey2.pem'],
  ] as const) {
    unlinkSync(join(root, 'live', name));
    symlinkSync(`../archive/${target}`, join(root, 'live', name));
  }
  await waitFor(() => used.length === 1, 4000, 'the renewal behind the links');
  assert.ok(used[0]!.equals(RENEWED.cert));
});

test('a Kubernetes secret: the ..data link swapped to a new directory, twice', async () => {
  const root = tempDir();
  const version = (n: number, files: TlsFiles): void => {
    mkdirSync(join(root, `..v${n}`));
    writeFileSync(join(root, `..v${n}`, 'tls.crt'), files.cert);
    writeFileSync(join(root, `..v${n}`, 'tls.key'), files.key);
    symlinkSync(`..v${n}`, join(root, '..data_tmp'));
    // rename(2) over the old link, as the kubelet's atomic writer does.
    renameSync(join(root, '..data_tmp'), join(root, '..data'));
    if (n > 1) rmSync(join(root, `..v${n - 1}`), { recursive: true });
  };
  version(1, FIRST);
  symlinkSync('..data/tls.crt', join(root, 'tls.crt'));
  symlinkSync('..data/tls.key', join(root, 'tls.key'));
  const { used } = watching({ cert: join(root, 'tls.crt'), key: join(root, 'tls.key') });
  version(2, RENEWED);
  await waitFor(() => used.length === 1, 4000, 'the first update');
  version(3, FIRST);
  await waitFor(() => used.length === 2, 4000, 'the second update');
  assert.ok(used[1]!.equals(FIRST.cert));
});

test('a directory the process may read files in but not list: no throw, renewals still served (read every few seconds)', async () => {
  // Debian's /etc/ssl/private (drwx--x--- root:ssl-cert) for a member of
  // ssl-cert: watching needs read access to the directory. Root reads anything,
  // so the watcher runs as root without the capabilities that bypass modes.
  if (process.getuid?.() !== 0) return;
  const dir = join(tempDir(), 'private');
  mkdirSync(dir);
  writePair(dir, FIRST);
  chmodSync(dir, 0o300);
  const module = new URL('../src/commands/tls-files.js', import.meta.url).href;
  const script = `
    import { readFileSync } from 'node:fs';
    import { watchTlsFiles } from ${JSON.stringify(module)};
    const paths = { cert: ${JSON.stringify(join(dir, 'cert.pem'))}, key: ${JSON.stringify(join(dir, 'key.pem'))} };
    const logger = { warn: () => {}, info: () => {} };
    const current = { cert: readFileSync(paths.cert), key: readFileSync(paths.key) };
    watchTlsFiles(paths, current, () => { console.log('renewed'); process.exit(0); }, logger);
    console.log('watching');
    setTimeout(() => process.exit(3), 10000);
  `;
  const child = spawn(
    'setpriv',
    [
      '--bounding-set=-dac_read_search,-dac_override',
      '--inh-caps=-dac_read_search,-dac_override',
      process.execPath,
      '--input-type=module',
      '-e',
      script,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (out += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
  try {
    await waitFor(() => out.includes('watching') || child.exitCode !== null, 5000, 'the watch');
    assert.ok(out.includes('watching'), out);
    writePair(dir, RENEWED);
    assert.is(await exited, 0, out);
    assert.ok(out.includes('renewed'), out);
  } finally {
    child.kill();
    chmodSync(dir, 0o700);
  }
});

test.run();
