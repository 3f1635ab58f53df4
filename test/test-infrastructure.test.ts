/**
 * The test helpers and runner themselves: ports that no other server takes by
 * chance, servers that notice when one did, helpers that fail at a timeout
 * rather than wait on a silent server or script, and no process of a test file
 * outliving it into the next. And the docs a newcomer follows (README.md,
 * docs/*.md): no link, heading or file named in them that is not there.
 */
import { spawn, spawnSync } from 'node:child_process';
import {
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { format } from 'prettier';
import * as assert from 'uvu/assert';
import { rejects } from './helpers/assert.js';
import { runPython } from './helpers/cli.js';
import { brokenDocReferences, headingAnchors } from './helpers/doc-links.js';
import { httpRequest } from './helpers/http-client.js';
import { canonical, plain } from './helpers/markup.js';
import { FREE_PORT_RANGE, freePort, PortTakenError } from './helpers/ports.js';
import { GredisProcess } from './helpers/processes.js';
import { RedisServer } from './helpers/redis-server.js';
import { suite } from './helpers/suite.js';
import { TcpProxy } from './helpers/tcp-proxy.js';
import { waitFor, within } from './helpers/wait.js';
import { TestClient } from './helpers/ws-client.js';

const test = suite('test infrastructure');

/** Whether process `pid` runs (a zombie, killed but not yet reaped, does not). */
function running(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

test('freePort: never the same port twice in a process, and none the kernel picks for a connection or a listen on port 0', async () => {
  const ephemeral = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8');
  const ephemeralStart = Number(ephemeral.trim().split(/\s+/)[0]);
  const ports: number[] = [];
  for (let i = 0; i < 500; i++) ports.push(await freePort());
  assert.is(new Set(ports).size, ports.length, 'no port handed out twice');
  const outside = ports.filter((port) => port >= FREE_PORT_RANGE.first && port < ephemeralStart);
  assert.equal(outside, ports, `all below the ephemeral range (${ephemeral.trim()})`);
});

test('RedisServer.start on a port another redis-server holds: PortTakenError at once, not the other server taken for its own', async () => {
  const holder = await RedisServer.start();
  try {
    const started = Date.now();
    const error = await rejects(() => RedisServer.start([], holder.port), PortTakenError);
    assert.is(error.port, holder.port);
    assert.ok(Date.now() - started < 5000, `said in ${Date.now() - started} ms`);
  } finally {
    await holder.stop();
  }
});

test('RedisServer.start with no redis-server to run: it rejects saying so, not an uncaught error', async () => {
  const path = process.env.PATH;
  process.env.PATH = '/nonexistent';
  try {
    const error = await rejects(() => RedisServer.start(), Error);
    assert.match(error.message, 'spawn redis-server ENOENT');
  } finally {
    process.env.PATH = path;
  }
});

test('TcpProxy.restore on a port taken while it was cut: PortTakenError, not an uncaught error', async () => {
  const proxy = await TcpProxy.start({ host: '127.0.0.1', port: 1 });
  const squatter = createServer();
  try {
    proxy.cut();
    await new Promise<void>((resolve) => squatter.listen(proxy.port, '127.0.0.1', resolve));
    const error = await rejects(() => proxy.restore(), PortTakenError);
    assert.is(error.port, proxy.port);
  } finally {
    proxy.stop();
    squatter.close();
  }
});

test('httpRequest to a server that never answers: fails at its timeout, naming the request', async () => {
  const held: Socket[] = [];
  const silent = createServer((socket) => held.push(socket)); // accepts, reads, says nothing
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  try {
    const { port } = silent.address() as AddressInfo;
    const started = Date.now();
    const error = await within(
      rejects(() => httpRequest(port, '/hangs', { timeoutMs: 300 }), Error),
      5000,
      'the request to fail',
    );
    assert.is(error.message, 'no whole answer to GET /hangs within 300 ms');
    assert.ok(Date.now() - started < 2000, `failed after ${Date.now() - started} ms`);
  } finally {
    for (const socket of held) socket.destroy();
    silent.close();
  }
});

test('TestClient.open to a server that accepts and never answers: fails at its handshake timeout, naming the URL', async () => {
  const held: Socket[] = [];
  const silent = createServer((socket) => {
    held.push(socket); // accepts, reads, says nothing
    socket.resume();
  });
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  try {
    const { port } = silent.address() as AddressInfo;
    const url = `ws://127.0.0.1:${port}/ws/`;
    const started = Date.now();
    const error = await within(
      rejects(() => TestClient.open(url, { handshakeTimeoutMs: 300 }), Error),
      5000,
      'the handshake to fail',
    );
    assert.is(error.message, `no answer to the WebSocket handshake with ${url} within 300 ms`);
    assert.ok(Date.now() - started < 2000, `failed after ${Date.now() - started} ms`);
    await waitFor(
      () => held.every((socket) => socket.destroyed),
      2000,
      'the client to close its socket',
    );
  } finally {
    for (const socket of held) socket.destroy();
    silent.close();
  }
});

test('runPython: a script still running at its timeout is killed, and the error names it', async () => {
  const started = Date.now();
  // Python alone takes longer than this to start and import Django.
  const error = await within(
    rejects(() => runPython('django_hashes.py', [], { timeoutMs: 20 }), Error),
    5000,
    'the script to be stopped',
  );
  assert.match(error.message, /^django_hashes\.py did not finish within 20 ms/);
  assert.ok(Date.now() - started < 2000, `failed after ${Date.now() - started} ms`);
});

test('a RedisServer a test left running: the file still ends, and the server with it', async () => {
  const helper = join(dirname(fileURLToPath(import.meta.url)), 'helpers', 'redis-server.js');
  const started = Date.now();
  const run = spawnSync(
    process.execPath,
    [
      '--input-type=module',
      '-e',
      `const { RedisServer } = await import(${JSON.stringify(helper)});
       console.log((await RedisServer.start()).pid);`,
    ],
    { encoding: 'utf8', timeout: 15_000, killSignal: 'SIGKILL' },
  );
  const pid = Number(run.stdout.trim());
  try {
    assert.is(run.status, 0, `ended by ${run.signal ?? 'itself'}: ${run.stderr}`);
    assert.ok(Date.now() - started < 10_000, `ended after ${Date.now() - started} ms`);
    await waitFor(() => !running(pid), 2000, `redis-server ${pid} to be killed`);
  } finally {
    if (pid > 0 && running(pid)) process.kill(pid, 'SIGKILL');
  }
});

test('GredisProcess.waitForLine: a line written just before the process exits is found, asked before or after; a line that never came fails once the process is gone, not at the timeout', async () => {
  const script = (lines: string[]) =>
    new GredisProcess(
      spawn(process.execPath, [
        '-e',
        `${lines.map((msg) => `console.log(JSON.stringify({ msg: ${JSON.stringify(msg)} }))`).join(';')}; process.exitCode = 3`,
      ]),
    );
  const early = script(Array.from({ length: 2000 }, (_, i) => `line ${i}`));
  assert.is((await early.waitForLine((line) => line.msg === 'line 1999')).msg, 'line 1999');
  assert.is((await early.waitForLine((line) => line.msg === 'line 5')).msg, 'line 5', 'after');
  const started = performance.now();
  const error = await rejects(
    () => early.waitForLine((line) => line.msg === 'never', 20_000),
    Error,
  );
  assert.match(error.message, /process exited \(3\) before the expected log line/);
  assert.ok(performance.now() - started < 5000, 'at once');
  const silent = script([]);
  await rejects(() => silent.waitForLine((line) => line.msg === 'never', 20_000), Error);
  assert.ok(performance.now() - started < 5000, 'at its end');
});

test('a GredisProcess a test left running: killed and named once the last suite has run, so the file ends', () => {
  const helpers = join(dirname(fileURLToPath(import.meta.url)), 'helpers');
  const started = Date.now();
  const run = spawnSync(
    process.execPath,
    [
      '--input-type=module',
      '-e',
      `import { spawn } from 'node:child_process';
       const { suite } = await import(${JSON.stringify(join(helpers, 'suite.js'))});
       const { GredisProcess } = await import(${JSON.stringify(join(helpers, 'processes.js'))});
       for (const name of ['first', 'last']) {
         const test = suite(name);
         test('leaves a process running', () => {
           new GredisProcess(spawn('sleep', ['60'], { stdio: 'pipe' }));
         });
         test.run();
       }`,
    ],
    { encoding: 'utf8', timeout: 15_000, killSignal: 'SIGKILL' },
  );
  assert.is(run.status, 0, `ended by ${run.signal ?? 'itself'}: ${run.stdout}${run.stderr}`);
  assert.ok(Date.now() - started < 10_000, `ended after ${Date.now() - started} ms`);
  const named = run.stderr.match(/a gredis process the tests left running was killed: sleep 60/g);
  assert.is(named?.length, 2, run.stderr);
  assert.is(run.stdout.split('(1 / 1)').length, 3, `both suites ran: ${run.stdout}`);
});

test('the runner kills what a test file left running, and says so; a file that left nothing running, a zombie aside, is not named', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'gredis-runner-'));
  try {
    copyFileSync(join(dirname(fileURLToPath(import.meta.url)), 'run.js'), join(dir, 'run.js'));
    const pidFile = join(dir, 'pid');
    // A file whose child outlives it: unref'd, so the file itself ends.
    writeFileSync(
      join(dir, 'leaks.test.js'),
      `import { spawn } from 'node:child_process';
       import { writeFileSync } from 'node:fs';
       const child = spawn('sleep', ['60'], { stdio: 'ignore' });
       child.unref();
       writeFileSync(${JSON.stringify(pidFile)}, String(child.pid));`,
    );
    // One whose child has ended: nothing to kill, nothing said. Its grandchild
    // outlives the shell that started it, and once it has exited stays a zombie
    // where nothing reaps orphans: not a process left running either.
    writeFileSync(
      join(dir, 'clean.test.js'),
      `import { execFileSync } from 'node:child_process';
       execFileSync('sh', ['-c', 'sleep 0.1 &']);
       await new Promise((resolve) => setTimeout(resolve, 500));`,
    );
    writeFileSync(join(dir, 'package.json'), '{"type":"module"}');
    const run = spawnSync(process.execPath, [join(dir, 'run.js')], {
      encoding: 'utf8',
      timeout: 20_000,
    });
    assert.is(run.status, 0, run.stdout + run.stderr);
    assert.match(run.stderr, 'leaks.test.js: left processes running; killed them');
    assert.not.match(run.stderr, 'clean.test.js: left');
    const pid = Number(readFileSync(pidFile, 'utf8'));
    await waitFor(() => !running(pid), 2000, `the child ${pid} to be killed`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

test('README.md and docs/*.md: every relative link reaches its file and heading, and every .md file they name is in the repository', () => {
  const docs = readdirSync(join(ROOT, 'docs'))
    .filter((name) => name.endsWith('.md'))
    .map((name) => `docs/${name}`);
  assert.ok(docs.length >= 5, `docs found: ${docs.join(', ')}`);
  assert.equal(brokenDocReferences(ROOT, ['README.md', ...docs]), []);
});

test('brokenDocReferences: names a missing file, a missing heading and a file named but absent; takes what is there, the team specs and code blocks', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gredis-doc-links-'));
  try {
    mkdirSync(join(dir, 'docs'));
    writeFileSync(
      join(dir, 'docs/guide.md'),
      '# Guide\n\n## Behind `nginx`, a proxy\n\n## Behind `nginx`, a proxy\n\n### Stop: SIGTERM & SIGINT\n',
    );
    writeFileSync(
      join(dir, 'README.md'),
      [
        '# Readme',
        '[guide](docs/guide.md), [nginx](docs/guide.md#behind-nginx-a-proxy) and its twin',
        '[again](docs/guide.md#behind-nginx-a-proxy-1), [stop](docs/guide.md#stop-sigterm--sigint),',
        '[here](#readme), [web](https://example.com/x.md), the spec `shared/spec/protocol.md`,',
        'docs/guide.md in prose.',
        '[gone](docs/gone.md), [no heading](docs/guide.md#nowhere), [self](#nowhere-either),',
        'and multichat.md in prose.',
        '```sh',
        'cat [x](missing-in-code.md) other.md',
        '```',
      ].join('\n'),
    );
    assert.equal(brokenDocReferences(dir, ['README.md', 'docs/guide.md']), [
      'README.md: link to missing docs/gone.md',
      'README.md: link to docs/guide.md#nowhere, but docs/guide.md has no such heading',
      'README.md: link to #nowhere-either, but README.md has no such heading',
      'README.md: names multichat.md, which is not in the repository',
    ]);
    assert.equal(
      [...headingAnchors(readFileSync(join(dir, 'docs/guide.md'), 'utf8'))],
      ['guide', 'behind-nginx-a-proxy', 'behind-nginx-a-proxy-1', 'stop-sigterm--sigint'],
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/** An admin fragment as Gredis renders it: what the markup tests below rewrap and change. */
const FRAGMENT = `<p class="flash flash-success">The room “<a href="/admin/rooms/7/">&lt;script&gt;alert(1)&lt;/script&gt;</a>” was added successfully.</p>
<form method="post" action="/admin/rooms/7/" class="change-form"><input type="hidden" name="csrfmiddlewaretoken" value="abc123">
<div class="field"><label for="id_title">Title</label> <input type="text" name="title" id="id_title" value="Lobby &amp; more" maxlength="255" required aria-describedby="id_title_help"></div>
<ul class="objects"><li>Room: <a href="/admin/rooms/7/">Lobby</a></li><li>Room: <strong>Hall</strong> (<em>staff only</em>)</li></ul>
<p class="form-actions"><button type="submit" class="primary">Save</button> <a class="danger-link" href="/admin/rooms/7/delete/">Delete</a></p>
<pre>  kept
   as is</pre><textarea name="note">  a
 b</textarea></form>`;

test('canonical: a rewrap by prettier, at any width, or whitespace between blocks and attributes is the same markup', async () => {
  const expected = canonical(FRAGMENT);
  for (const printWidth of [20, 40, 80, 200]) {
    const rewrapped = await format(FRAGMENT, { parser: 'html', printWidth });
    assert.is.not(rewrapped, FRAGMENT, `prettier at ${printWidth} changed the whitespace`);
    assert.is(canonical(rewrapped), expected, `prettier at ${printWidth}`);
  }
  const spaced = FRAGMENT.replaceAll('><p', '>\n  \n<p')
    .replaceAll('<li>', '\n\t<li>')
    .replace('<input type="hidden"', '<input\n    type="hidden"  ')
    .replace('value="abc123">', 'value="abc123" />')
    .replace('</strong>', '</strong\n>')
    .replace('<ul class="objects">', '<ul class="objects">\n  ');
  assert.is(canonical(spaced), expected);
  assert.is(canonical('<!DOCTYPE html>\n<html>'), canonical('<!doctype html><html>'));
  const notice =
    '<p class="flash flash-success">The room “<a href="/admin/rooms/7/">&lt;script&gt;alert(1)&lt;/script&gt;</a>” was added successfully.</p><form';
  assert.is(expected.slice(0, notice.length), notice, 'what is shown, escaping included, as sent');
});

test('canonical: every change a user could see is another markup: text, entities, attributes, their values, order, and whitespace that shows', () => {
  const expected = canonical(FRAGMENT);
  const changes: [string, string][] = [
    ['a label', FRAGMENT.replace('>Title<', '>Name<')],
    ['a word in a sentence', FRAGMENT.replace('was added', 'was  saved')],
    ['escaping', FRAGMENT.replace('&lt;script&gt;', '<script>')],
    ['an entity', FRAGMENT.replace('&amp; more', '&amp;amp; more')],
    ['an attribute value', FRAGMENT.replace('maxlength="255"', 'maxlength="256"')],
    ['an attribute value, quoted otherwise', FRAGMENT.replace('maxlength="255"', 'maxlength=255')],
    ['an attribute gone', FRAGMENT.replace(' required', '')],
    [
      'attributes in another order',
      FRAGMENT.replace('type="text" name="title"', 'name="title" type="text"'),
    ],
    [
      'elements in another order',
      FRAGMENT.replace('<strong>Hall</strong>', '<em>Hall</em>').replace(
        '<em>staff only</em>',
        '<strong>staff only</strong>',
      ),
    ],
    ['a space between inline elements', FRAGMENT.replace('</label> <input', '</label><input')],
    ['a space beside a button', FRAGMENT.replace('</button> <a', '</button><a')],
    ['a space in a sentence', FRAGMENT.replace('Room: <strong>', 'Room:<strong>')],
    ['a space made a no-break space', FRAGMENT.replace('Room: <a', 'Room:\u00a0<a')],
    ['whitespace in pre', FRAGMENT.replace('  kept', ' kept')],
    ['whitespace in a textarea', FRAGMENT.replace('  a\n b', 'a b')],
    ['a tag name', FRAGMENT.replace('<em>staff only</em>', '<i>staff only</i>')],
  ];
  for (const [what, changed] of changes) {
    assert.is.not(changed, FRAGMENT, `${what}: the change is made`);
    assert.is.not(canonical(changed), expected, what);
  }
});

test('plain: the text a reader gets, blocks apart and inline elements joined, whatever the wrapping', () => {
  assert.is(plain('<ul><li>a</li><li>b</li></ul>'), 'a b');
  assert.is(plain('<ul>\n  <li>a</li>\n  <li>b</li>\n</ul>'), 'a b');
  assert.is(plain('<p>x<strong>y</strong>z &amp; &lt;b&gt;</p>'), 'xyz & <b>');
  assert.is(plain('<td>\ta\u00a0b</td><td>c</td>'), 'a b c');
});

test.run();
