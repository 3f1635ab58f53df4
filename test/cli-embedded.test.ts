/**
 * The embedded default as a newcomer runs it: in an empty directory, `gredis
 * migrate`, `gredis createsuperuser`, then `gredis thyme multichat` alone serves
 * pages, login and the chat (SQLite file, in-process layer), and stops cleanly.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { suite } from './helpers/suite.js';
import * as assert from 'uvu/assert';
import { RoomRepository } from '../src/apps/multichat/rooms.js';
import { openDatabase } from '../src/db/connection.js';
import { BrowserlessClient } from './helpers/browserless.js';
import { runGredis } from './helpers/cli.js';
import { assertCountersNotDown, parseExposition } from './helpers/exposition.js';
import { httpRequest } from './helpers/http-client.js';
import { testPrefix } from './helpers/layers.js';
import { RedisSentinel, RedisServer, SHARED_REDIS_URL } from './helpers/redis-server.js';
import { spawn } from 'node:child_process';
import { createServer, type AddressInfo } from 'node:net';
import { GREDIS_BIN, GredisProcess } from './helpers/processes.js';
import { waitFor, within } from './helpers/wait.js';
import { TestClient } from './helpers/ws-client.js';

const test = suite('embedded: gredis thyme multichat');
let dir: string;

test.before(() => {
  dir = mkdtempSync(join(tmpdir(), 'gredis-embedded-'));
});
test.after(() => {
  rmSync(dir, { recursive: true, force: true });
});

test('migrate, createsuperuser, thyme: log in, chat, then SIGTERM closes sockets with 1001 and exits 0', async () => {
  const env = { CHANNEL_LAYER_URL: undefined, DATABASE_URL: undefined };
  const migrated = await runGredis(['migrate'], { cwd: dir, env });
  assert.is(migrated.code, 0, migrated.stderr);
  const created = await runGredis(
    ['createsuperuser', '--noinput', '--username', 'admin', '--email', 'admin@example.com'],
    {
      cwd: dir,
      env: { ...env, GREDIS_SUPERUSER_PASSWORD: 'embedded pw' },
    },
  );
  assert.is(created.code, 0, created.stderr);
  const db = openDatabase(`sqlite://${join(dir, 'gredis.sqlite3')}`);
  const room = await new RoomRepository(db).create('Embedded room');
  await db.close();

  const args = [GREDIS_BIN, 'thyme', 'multichat', '--port', '0', '--proxy-headers'];
  const child = spawn(process.execPath, args, {
    cwd: dir,
    env: {
      ...process.env,
      GREDIS_LOG_FORMAT: 'json',
      GREDIS_LOG_LEVEL: 'info',
      CHANNEL_LAYER_URL: '',
      DATABASE_URL: '',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const proc = new GredisProcess(child);
  try {
    const listening = await proc.waitForLine((l) => l.msg === 'Thyme listening');
    const port = listening.port as number;
    const served = await proc.waitForLine(
      (l) => typeof l.msg === 'string' && l.msg.startsWith('serving multichat'),
    );
    assert.is(served.embedded, true);
    assert.is(served.prefix, undefined, 'no key prefix in process');

    const browser = new BrowserlessClient(port);
    const login = await browser.login('admin', 'embedded pw');
    assert.is(login.status, 302);
    const home = await browser.get('/');
    assert.is(home.status, 200);
    assert.match(home.body.toString(), /data-room-id="\d+"/);
    assert.is((await browser.get('/static/chat.css')).status, 200);
    // Behind a TLS-terminating proxy (--proxy-headers): Secure cookies, and the
    // https Origin passes the CSRF check.
    const secure = new BrowserlessClient(port);
    const https = { 'x-forwarded-proto': 'https' };
    await secure.get('/accounts/login/', https);
    assert.match(String(secure.cookies.get('csrftoken')), /./);
    const secureLogin = await secure.post(
      '/accounts/login/',
      { username: 'admin', password: 'embedded pw', next: '/' },
      { headers: { ...https, origin: `https://localhost:${port}` } },
    );
    assert.is(secureLogin.status, 302, secureLogin.body.toString().slice(0, 200));
    const cookies = ([] as string[]).concat(secureLogin.headers['set-cookie'] ?? []);
    assert.ok(
      cookies.some((c) => /^sessionid=.*;\s*Secure/i.test(c)),
      `a Secure session cookie: ${cookies.join(' | ')}`,
    );
    const missing = await browser.get('/static/no-such.css');
    assert.is(missing.status, 404);
    assert.match(missing.body.toString(), /class="site-header"/, 'the 404 page in the site layout');

    const client = await TestClient.open(`ws://localhost:${port}/chat/stream/`, {
      origin: `http://localhost:${port}`,
      headers: { cookie: `sessionid=${browser.cookies.get('sessionid')}` },
    });
    client.send(JSON.stringify({ command: 'join', room: room.id }));
    assert.equal(JSON.parse(String(await client.next())), {
      join: String(room.id),
      title: 'Embedded room',
    });
    client.send(JSON.stringify({ command: 'send', room: room.id, message: 'hello embedded' }));
    assert.is(JSON.parse(String(await client.next())).message, 'hello embedded');

    child.kill('SIGTERM');
    assert.is((await within(client.closed, 5000, 'the socket to close')).code, 1001);
    assert.is((await within(proc.exited, 10_000, 'exit')).code, 0);
  } finally {
    child.kill('SIGKILL');
  }
});

test('npm start: migrates and serves; SIGTERM to npm reaches the server, which stops (no orphan)', async () => {
  const packageRoot = join(GREDIS_BIN, '..', '..');
  const child = spawn('npm', ['start', '--silent', '--', '--port', '0'], {
    cwd: packageRoot,
    env: {
      ...process.env,
      GREDIS_LOG_FORMAT: 'json',
      GREDIS_LOG_LEVEL: 'info',
      CHANNEL_LAYER_URL: '',
      DATABASE_URL: `sqlite://${join(dir, 'npm-start.sqlite3')}`,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const proc = new GredisProcess(child);
  let serverPid: number | undefined;
  try {
    const listening = await within(
      proc.waitForLine((l) => l.msg === 'Thyme listening'),
      20_000,
      'npm start to listen',
    );
    serverPid = listening.pid as number;
    assert.is.not(serverPid, child.pid, 'the server runs under npm');
    child.kill('SIGTERM');
    await within(proc.exited, 10_000, 'npm to exit');
    await waitFor(() => !isRunning(serverPid!), 5000, 'the server to stop');
  } finally {
    child.kill('SIGKILL');
    if (serverPid !== undefined && isRunning(serverPid)) process.kill(serverPid, 'SIGKILL');
  }
});

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

test('runworker refuses the in-process layer, and bad flags exit 2 with one line', async () => {
  const memory = await runGredis(['runworker', '--layer', 'memory://'], { cwd: dir });
  assert.is(memory.code, 2);
  assert.match(memory.stderr, /needs a shared channel layer/);
  // Without --layer or CHANNEL_LAYER_URL: the same refusal, and --help offers no
  // default it would refuse.
  const none = await runGredis(['runworker'], { cwd: dir, env: { CHANNEL_LAYER_URL: undefined } });
  assert.is(none.code, 2);
  assert.match(none.stderr, /needs a shared channel layer/);
  const usage = await runGredis(['runworker', '--help'], { env: { CHANNEL_LAYER_URL: undefined } });
  const layerHelp = /--layer <url>[\s\S]*?(?=\n {2}-)/.exec(usage.stdout)?.[0] ?? '';
  assert.match(layerHelp, /\(required\)/);
  assert.not.match(layerHelp, /memory/);
  for (const args of [
    ['runworker', '--concurrency', 'lots'],
    ['runworker', 'nochat'],
    ['runworker', '--only-channels', 'nothing.matches'],
    ['runworker', '--exclude-channels', 'http.requests'], // a typo, not "exclude nothing"
    ['runworker', '--only-channels', 'websocket.*', 'multichat'], // the app swallowed
    ['thyme', 'multichat', '--ping-interval', '-1'],
    ['thyme', 'multichat', '-b', ''], // would listen on every interface
    // No lookup resolves these: a typo, not a failure to listen (exit 1).
    ['thyme', 'multichat', '-b', 'exa mple'],
    ['thyme', 'multichat', '-b', '999.1.1.1'],
    ['thyme', 'multichat', '--metrics-port', '0', '--metrics-bind', 'localhost:9100'],
    // The metrics on Thyme's own port: the bind's default, the same address, a wildcard.
    ['thyme', 'multichat', '--port', '18099', '--metrics-port', '18099'],
    ['thyme', 'multichat', '-b', '0.0.0.0', '-p', '18099', '--metrics-port', '18099'],
    ['thyme', 'multichat', '-p', '18099', '--metrics-port', '18099', '--metrics-bind', '::'],
    ['thyme', 'multichat', '--database', 'sqlite://:memory:'], // empty in every process
    ['migrate', '--database', 'sqlite://:memory:'],
    ['thyme', 'multichat', '-p', '1e3'],
    ['thyme', 'multichat', '-p', '0x50'],
    ['thyme', 'multichat', '-p', ' 80'],
    ['migrate', '--bogus'],
    ['bogus', '--help'], // not the top-level help, exit 0, as if "bogus" were fine
    ['help', 'bogus'], // not the top-level help without a reason
  ]) {
    const result = await runGredis(args, { cwd: dir });
    assert.is(result.code, 2, `${args.join(' ')}: ${result.stderr}`);
    // A one-line reason (cli.md), its hint included.
    assert.is(result.stderr.trim().split('\n').length, 1, result.stderr);
    assert.not.match(result.stderr, /\n\s+at /, 'no stack trace');
  }
  // The URL, once: a bad one of several is named beside the whole.
  for (const [layer, reason] of [
    ['redis://localhost:99999/0', 'port 99999 is out of range (0–65535)'],
    ['redis//localhost', 'not a URL'],
    ['memory://x y', 'not a URL'],
    ['redis+sentinel://a b:26379/mymaster', 'bad sentinel address "a b:26379"'],
    ['redis+sentinel://localhost:99999/mymaster', 'bad sentinel address "localhost:99999"'],
    ['redis://127.0.0.1:6379/0,redis://a b', '"redis://a b": not a URL'],
  ]) {
    const result = await runGredis(['thyme', 'multichat', '--layer', layer!], {
      cwd: dir,
      timeoutMs: 10_000,
    });
    assert.is(result.code, 2, result.stderr);
    assert.ok(
      result.stderr.startsWith(
        `gredis: invalid channel layer URL ${JSON.stringify(layer)}: ${reason} (expected memory://`,
      ),
      result.stderr,
    );
  }
  for (const [args, env, message] of [
    [['thyme', 'multichat'], { ALLOWED_HOSTS: ',' }, /ALLOWED_HOSTS names no host/],
    // The Host header's port is not compared: these would answer every request with 400.
    ...['localhost:8000', 'https://chat.example.com', '::1'].map(
      (entry) =>
        [
          ['thyme', 'multichat', '--port', '0'],
          { ALLOWED_HOSTS: `chat.example.com,${entry}` },
          new RegExp(`ALLOWED_HOSTS entry "${entry}" is not a host name`),
        ] as const,
    ),
    [['migrate'], { GREDIS_LOG_LEVEL: 'bogus' }, /GREDIS_LOG_LEVEL must be one of .*"bogus"/],
    [
      ['migrate'],
      { GREDIS_LOG_FORMAT: 'yaml' },
      /GREDIS_LOG_FORMAT must be json or pretty; got "yaml"/,
    ],
    [
      ['migrate'],
      { GREDIS_LOG_FOLD_SECONDS: '10s' },
      /GREDIS_LOG_FOLD_SECONDS must be a number of seconds from 0\.1 to 86400; got "10s"/,
    ],
    [
      ['thyme', 'multichat', '--port', '0'],
      { MULTICHAT_NOTIFY_ENTER_LEAVE: 'maybe' },
      /MULTICHAT_NOTIFY_ENTER_LEAVE must be true or false, got "maybe"/,
    ],
    [
      ['thyme', 'multichat', '--port', '0'],
      // Never a whole token in the bucket: every chat command would be RATE_LIMITED.
      { MULTICHAT_RATE_BURST: '0.5' },
      /MULTICHAT_RATE_BURST must be a positive whole number, got "0.5"/,
    ],
  ] as const) {
    // A server that starts instead of refusing is killed, and fails the code check.
    const result = await runGredis([...args], { cwd: dir, env: { ...env }, timeoutMs: 10_000 });
    assert.is(result.code, 2, `${args.join(' ')}: ${result.stderr}`);
    assert.match(result.stderr, message);
    assert.is(result.stderr.trim().split('\n').length, 1, result.stderr);
  }
  // Pretty on request without a terminal (a container's log viewer), JSON by default there.
  for (const [format, listening] of [
    ['pretty', /^\[[\d:. ]+\] INFO \(thyme\/\d+\): Thyme listening$/m],
    ['', /^\{"level":30,.*"msg":"Thyme listening"/m],
  ] as const) {
    const child = spawn(process.execPath, [GREDIS_BIN, 'thyme', 'multichat', '--port', '0'], {
      cwd: dir,
      env: { ...process.env, GREDIS_LOG_FORMAT: format, GREDIS_LOG_LEVEL: 'info' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    const exited = new Promise((resolve) => child.on('close', resolve));
    try {
      await waitFor(() => listening.test(stdout), 20_000).catch((error: Error) => {
        throw new Error(`${format || 'default'} format: ${error.message}; stdout: ${stdout}`);
      });
    } finally {
      child.kill('SIGTERM');
      await exited;
    }
  }
  const swallowed = await runGredis(
    [
      'runworker',
      '--only-channels',
      'websocket.*',
      'multichat',
      '--layer',
      'redis://127.0.0.1:1/0',
    ],
    { cwd: dir },
  );
  assert.match(swallowed.stderr, /give the app's name before the flag/);
  const help = await runGredis(['runworker', '--help'], { cwd: dir });
  assert.is(help.code, 0);
  assert.match(help.stdout, /--only-channels/);
  for (const command of ['thyme', 'runworker', 'migrate', 'createsuperuser', 'changepassword']) {
    const text = (await runGredis([command, '--help'], { cwd: dir })).stdout;
    const long = text.split('\n').filter((line) => line.length > 80);
    assert.equal(long, [], `${command} --help fits 80 columns`);
  }
});

test('runworker --metrics-port: /metrics counts the events it handled, by channel; /healthz', async () => {
  const layer = `${SHARED_REDIS_URL}?prefix=${testPrefix()}`;
  const env = { DATABASE_URL: `sqlite://${join(dir, 'gredis.sqlite3')}` };
  const worker = GredisProcess.start(
    ['runworker', 'multichat', '--layer', layer, '--metrics-port', '0'],
    env,
  );
  const thyme = GredisProcess.start(['thyme', 'multichat', '--layer', layer, '--port', '0'], env);
  try {
    const metricsPort = (await worker.waitForLine((l) => /^metrics on http/.test(String(l.msg))))
      .port as number;
    const port = (await thyme.waitForLine((l) => l.msg === 'Thyme listening')).port as number;
    assert.is((await httpRequest(port, '/')).status, 302);
    assert.is((await httpRequest(port, '/')).status, 302);
    const metrics = (await httpRequest(metricsPort, '/metrics')).body.toString();
    assert.match(metrics, /^gredis_worker_events_total\{channel="http\.request"\} 2$/m);
    assert.match(
      metrics,
      /^gredis_worker_event_seconds_total\{channel="http\.request"\} 0\.\d*[1-9]/m,
    );
    assert.match(metrics, /^gredis_worker_events_running 0$/m);
    assert.match(metrics, /^gredis_layer_up 1$/m);
    const series = parseExposition(metrics);
    assert.is((await httpRequest(port, '/')).status, 302);
    assertCountersNotDown(
      series,
      parseExposition((await httpRequest(metricsPort, '/metrics')).body.toString()),
    );
    for (const path of ['/metrics', '/healthz'])
      assert.is((await httpRequest(metricsPort, path, { method: 'POST' })).status, 405, path);
    assert.is((await httpRequest(metricsPort, '/')).status, 404);
    const health = await httpRequest(metricsPort, '/healthz');
    assert.is(health.status, 200);
    assert.is((JSON.parse(health.body.toString()) as { running: number }).running, 0);
  } finally {
    await thyme.stop('SIGTERM');
    await worker.stop('SIGTERM');
  }
});

test("ioredis's console warning (a password Redis does not need) is a log line, not raw text", async () => {
  const layer = `redis://:not-needed@127.0.0.1:6379/0?prefix=${testPrefix()}`;
  const worker = GredisProcess.start(['runworker', 'multichat', '--layer', layer], {
    DATABASE_URL: `sqlite://${join(dir, 'gredis.sqlite3')}`,
  });
  try {
    const line = await worker.waitForLine((l) => l.source === 'console');
    assert.is(line.level, 40);
    assert.match(String(line.msg), /does not require a password/);
    assert.not.match(String(line.msg), /^\[WARN\]/);
    await worker.waitForLine((l) => /worker for multichat running/.test(String(l.msg)));
    assert.equal(worker.stderr, [], 'nothing written around the logger');
  } finally {
    await worker.stop('SIGTERM');
  }
});

test('a Sentinel of the URL down is one warning line, not raw stacks on stderr', async () => {
  const master = await RedisServer.start();
  const sentinel = await RedisSentinel.start(master, 'm');
  // The first Sentinel listed is down: the worker asks the next one for the
  // master, and the watch for failovers keeps trying the first.
  const layer = `redis+sentinel://127.0.0.1:1,127.0.0.1:${sentinel.port}/m/0?prefix=${testPrefix()}`;
  const worker = GredisProcess.start(['runworker', 'multichat', '--layer', layer], {
    DATABASE_URL: `sqlite://${join(dir, 'gredis.sqlite3')}`,
  });
  try {
    await worker.waitForLine((l) => /worker for multichat running/.test(String(l.msg)));
    const line = await worker.waitForLine((l) => /Sentinel 127\.0\.0\.1:1\b/.test(String(l.msg)));
    assert.is(line.level, 40);
    assert.match(String(line.msg), /cannot reach the Sentinel 127\.0\.0\.1:1 \(.*ECONNREFUSED/);
    await new Promise((resolve) => setTimeout(resolve, 1500)); // it retries meanwhile
    const about = worker.lines.filter(
      (l) => (l.level as number) >= 40 && /Sentinel/.test(String(l.msg)),
    );
    assert.is(about.length, 1, `said once: ${JSON.stringify(about)}`);
    assert.equal(worker.stderr, [], 'nothing written around the logger');
  } finally {
    await worker.stop('SIGTERM');
    await sentinel.stop();
    await master.stop();
  }
});

test('a worker that cannot reach its layer says so at the default log level, and keeps trying', async () => {
  const worker = GredisProcess.start(
    ['runworker', 'multichat', '--layer', 'redis://127.0.0.1:1/0', '--metrics-port', '0'],
    { DATABASE_URL: `sqlite://${join(dir, 'gredis.sqlite3')}`, GREDIS_LOG_LEVEL: 'info' },
  );
  try {
    // Not ready without its layer: a load balancer or an orchestrator can see it.
    const metricsPort = (await worker.waitForLine((l) => /^metrics on http/.test(String(l.msg))))
      .port as number;
    assert.is((await httpRequest(metricsPort, '/healthz')).status, 503);
    const warning = await worker.waitForLine((l) => /channel layer host/.test(String(l.msg)));
    assert.is(warning.level, 40, 'warn');
    assert.match(String(warning.msg), /cannot reach the channel layer host \(.*ECONNREFUSED.*\)/);
    assert.is(worker.child.exitCode, null, 'still running');
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const repeated = worker.lines.filter((l) => /channel layer host/.test(String(l.msg)));
    assert.is(repeated.length, 1, `said once, not at every retry: ${JSON.stringify(repeated)}`);
    // Not "running" while it waits (worker-process checks the line once the layer is back).
    assert.equal(
      worker.lines.filter((l) => /^worker for multichat /.test(String(l.msg))).map((l) => l.msg),
      ['worker for multichat waiting for the channel layer'],
    );
    // A service away is no bug: no stack (on a terminal, pino-pretty prints it in full),
    // here nor in the worker's first checks of the layer, which fail too.
    const stacks = worker.lines.filter((l) =>
      /\n\s+at /.test(JSON.stringify(l).replace(/\\n/g, '\n')),
    );
    assert.equal(stacks, [], 'no stack trace for a layer that is away');
    // Its key is the one generated beside the database: nothing to say about it.
    assert.not.ok(worker.lines.some((l) => /SECRET_KEY/.test(String(l.msg))));
  } finally {
    await worker.stop('SIGTERM');
  }
});

test("a weak SECRET_KEY is warned about at start, as Django's check --deploy does", async () => {
  for (const key of ['abc', 'a'.repeat(60)]) {
    const worker = GredisProcess.start(
      ['runworker', 'multichat', '--layer', 'redis://127.0.0.1:1/0'],
      {
        DATABASE_URL: `sqlite://${join(dir, 'gredis.sqlite3')}`,
        GREDIS_LOG_LEVEL: 'info',
        SECRET_KEY: key,
      },
    );
    try {
      const warning = await worker.waitForLine((l) => /SECRET_KEY is weak/.test(String(l.msg)));
      assert.is(warning.level, 40);
      assert.match(
        String(warning.msg),
        key === 'abc' ? /3 characters, 3 different/ : /60 characters, 1 different/,
      );
    } finally {
      await worker.stop('SIGTERM');
    }
  }
});

test("--version is Gredis's own, also under another package's npm run", async () => {
  const { version } = JSON.parse(
    readFileSync(new URL('../../package.json', import.meta.url), 'utf8'),
  ) as {
    version: string;
  };
  // npm sets npm_package_version to the version of the package whose script runs.
  const result = await runGredis(['--version'], {
    cwd: dir,
    env: { npm_package_version: '9.9.9' },
    timeoutMs: 10_000,
  });
  assert.is(result.code, 0, result.stderr);
  assert.is(result.stdout.trim(), version);
});

test('help and usage errors load no driver, server or logger package: only a command that runs does', async () => {
  // A resolve hook (in the real CLI, through NODE_OPTIONS) notes every package
  // the process imports.
  const loaded = join(dir, 'loaded.txt');
  const hooks = join(dir, 'hooks.mjs');
  writeFileSync(
    hooks,
    `import { appendFileSync } from 'node:fs';
export async function resolve(specifier, context, next) {
  const resolved = await next(specifier, context);
  const name = /[/]node_modules[/]((?:@[^/]+[/])?[^/]+)[/]/.exec(resolved.url)?.[1];
  if (name) appendFileSync(${JSON.stringify(loaded)}, name + '\\n');
  return resolved;
}
`,
  );
  const register = join(dir, 'register.mjs');
  writeFileSync(
    register,
    `import { register } from 'node:module';\nregister(${JSON.stringify(pathToFileURL(hooks).href)});\n`,
  );
  const packagesOf = async (args: string[]) => {
    writeFileSync(loaded, '');
    const result = await runGredis(args, {
      cwd: dir,
      env: { NODE_OPTIONS: `--import=${pathToFileURL(register).href}` },
      timeoutMs: 10_000,
    });
    const names = [...new Set(readFileSync(loaded, 'utf8').split('\n'))];
    return { code: result.code, stderr: result.stderr, names };
  };
  const heavy = ['knex', 'pg', 'better-sqlite3', 'ioredis', 'ws', 'pino', 'busboy'];
  for (const [args, code] of [
    [['--help'], 0],
    [['thyme', '--help'], 0],
    [['runworker', '--help'], 0],
    [['migrate', '--help'], 0],
    [['createsuperuser', '--help'], 0],
    [['changepassword', '--help'], 0],
    [['thyme', 'multichat', '--bogus'], 2],
    [['thyme', 'multichat', '--port', '99999'], 2],
    [['runworker', '--concurrency', 'lots'], 2],
  ] as const) {
    const { code: status, stderr, names } = await packagesOf([...args]);
    assert.is(status, code, `${args.join(' ')}: ${stderr}`);
    assert.ok(names.includes('commander'), `${args.join(' ')}: the hook saw commander`);
    assert.equal(
      names.filter((name) => heavy.includes(name)),
      [],
      `${args.join(' ')} loads no heavy package`,
    );
  }
  // The hook does see them when a command runs.
  const { code, names } = await packagesOf(['migrate', '--list']);
  assert.is(code, 0);
  assert.ok(names.includes('knex') && names.includes('pino'), names.join(', '));
});

test('runworker on a database it cannot start on says that alone, without connecting to the layer', async () => {
  // Stands for Redis: counts who connects (and answers nothing).
  const connections: unknown[] = [];
  const redis = createServer((socket) => connections.push(socket.destroy()));
  await new Promise<void>((resolve) => redis.listen(0, '127.0.0.1', resolve));
  const { port } = redis.address() as AddressInfo;
  const fresh = mkdtempSync(join(tmpdir(), 'gredis-unmigrated-'));
  try {
    const result = await runGredis(
      [
        'runworker',
        '--layer',
        `redis://127.0.0.1:${port}/0`,
        '--database',
        `sqlite://${join(fresh, 'db.sqlite3')}`,
      ],
      { cwd: fresh, env: { GREDIS_LOG_LEVEL: undefined }, timeoutMs: 10_000 },
    );
    assert.is(result.code, 1, result.stderr);
    assert.match(
      result.stderr,
      /^gredis: the database \S+ does not exist yet: run "node \S+ migrate" first\n$/,
    );
    assert.is(result.stdout, '', 'no layer warning');
    assert.is(connections.length, 0, 'connections to the layer');
  } finally {
    redis.close();
    rmSync(fresh, { recursive: true, force: true });
  }
});

test.run();
