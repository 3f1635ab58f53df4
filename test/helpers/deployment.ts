import type { ChatAccess } from '../../src/apps/multichat/access.js';
import { createApplication } from '../../src/apps/multichat/index.js';
import { RoomRepository, type Room } from '../../src/apps/multichat/rooms.js';
import { findApp } from '../../src/apps/registry.js';
import { SessionStore } from '../../src/auth/sessions.js';
import { UserRepository, type User } from '../../src/auth/users.js';
import type { Database } from '../../src/db/connection.js';
import { createLayer, type ChannelLayer } from '../../src/index.js';
import type { Logger } from '../../src/logger.js';
import { Thyme } from '../../src/server/index.js';
import { EVENT_CHANNEL_CAPACITY } from '../../src/settings.js';
import { Worker } from '../../src/worker/runner.js';
import type { Application } from '../../src/worker/app.js';
import type { Test } from 'uvu';
import * as assert from 'uvu/assert';
import type { DatabaseBackend } from './databases.js';
import { BrowserlessClient } from './browserless.js';
import { testPrefix } from './layers.js';
import { GredisProcess, START_TIMEOUT_MS, startThyme } from './processes.js';
import { SHARED_REDIS_URL } from './redis-server.js';
import { within } from './wait.js';
import { TestClient } from './ws-client.js';

/** Fast hashing for fixtures: tests of the real cost use the default explicitly. */
export const TEST_PASSWORD_ITERATIONS = 1000;
/**
 * The SECRET_KEY of every deployment the tests start, so fixtures' sessions are
 * theirs; long and varied enough not to draw the weak-key warning.
 */
export const TEST_SECRET_KEY = 'test-only-0c8f2e9a7b6d5c4e3f2a1b0c9d8e7f6a5b4c3d2e1f0a-not-secret';

/** Users, sessions and rooms made directly in the database a deployment uses. */
export class Fixtures {
  readonly users: UserRepository;
  readonly sessions: SessionStore;
  readonly rooms: RoomRepository;

  constructor(readonly db: Database) {
    this.users = new UserRepository(db, {
      passwordIterations: TEST_PASSWORD_ITERATIONS,
      secret: TEST_SECRET_KEY,
    });
    this.sessions = new SessionStore(db, { secret: TEST_SECRET_KEY });
    this.rooms = new RoomRepository(db);
  }

  user(
    username: string,
    options: { password?: string; staff?: boolean; superuser?: boolean } = {},
  ): Promise<User> {
    return this.users.create({
      username,
      password: options.password ?? 'correct horse',
      isStaff: options.staff ?? false,
      isSuperuser: options.superuser ?? false,
    });
  }

  /** A logged-in session for `user` (with its password's auth hash): its `sessionid` cookie value. */
  async login(user: User): Promise<string> {
    const authHash = await this.users.sessionAuthHash(user.id);
    return (await this.sessions.create(user.id, {}, authHash ?? null)).key;
  }

  /**
   * A user made in the database (as `user`), then logged in on the chat at
   * `port` through the real login form: a client holding its session's cookies.
   */
  async signedIn(
    port: number,
    username: string,
    options: { password?: string; staff?: boolean; superuser?: boolean } = {},
  ): Promise<{ client: BrowserlessClient; user: User }> {
    const password = options.password ?? 'correct horse';
    const user = await this.user(username, { ...options, password });
    const client = new BrowserlessClient(port);
    assert.is((await client.login(username, password)).status, 302, `${username} logs in`);
    return { client, user };
  }

  room(title: string, staffOnly = false): Promise<Room> {
    return this.rooms.create(title, staffOnly);
  }
}

/** Where the chat can be reached: one base URL per Thyme. */
export interface ChatEndpoints {
  ports: number[];
}

/** Opens a chat WebSocket as the holder of `sessionKey`. */
export function chatClient(
  port: number,
  sessionKey: string | undefined,
  origin = `http://localhost:${port}`,
): Promise<TestClient> {
  return TestClient.open(`ws://localhost:${port}/chat/stream/`, {
    origin,
    headers: sessionKey ? { cookie: `sessionid=${sessionKey}` } : {},
  });
}

/** The client's next frame, parsed as JSON. */
export async function nextJson(
  client: TestClient,
  timeoutMs = 10_000,
): Promise<Record<string, unknown>> {
  return JSON.parse(String(await client.next(timeoutMs))) as Record<string, unknown>;
}

/**
 * The client joins the room and waits until the worker is done with the join;
 * returns its answer. The answer comes before the join's second check
 * (ChatConsumer.join), so a test that changes the database at once (deletes the
 * room, deactivates the user, changes a password) could meet that check and see
 * the join undone (a leave, a close) where it meant to test a later command; one
 * that locks a table could find that check, not its own command, waiting on the
 * lock. The same join again, harmless, is answered only after the first has
 * wholly run: a socket's commands run one after another.
 */
export async function joinSettled(
  client: TestClient,
  roomId: number,
): Promise<Record<string, unknown>> {
  const join = JSON.stringify({ command: 'join', room: roomId });
  client.send(join);
  const answer = await nextJson(client);
  assert.is(answer.join, String(roomId), 'the join is answered');
  client.send(join);
  assert.equal(await nextJson(client), answer, 'joining again is answered alike');
  return answer;
}

/**
 * A chat client of a new user `username` on `port` that has joined `roomId`,
 * settled (joinSettled): nothing of the join still runs when a test then locks a
 * table or kills a worker. The answers are checked and consumed. `clients`
 * collects it for the test's clean-up.
 */
export async function joinedClient(
  port: number,
  fixtures: Fixtures,
  username: string,
  roomId: number,
  clients: TestClient[],
): Promise<TestClient> {
  const client = await chatClient(port, await fixtures.login(await fixtures.user(username)));
  clients.push(client);
  await joinSettled(client, roomId);
  return client;
}

/** MultiChat embedded in the test process: in-process layer, one Thyme, one Worker. */
export class EmbeddedChat implements ChatEndpoints {
  ports: number[] = [];
  private constructor(
    readonly layer: ChannelLayer,
    readonly thyme: Thyme,
    private worker: Worker,
    private readonly app: Application,
  ) {}

  /** Stops the worker, as when no `runworker` is up: Thyme serves on, events wait in the layer. */
  async stopWorker(): Promise<void> {
    await this.worker.stop();
  }

  /** A worker again, for the same application: it takes the events that waited. */
  startWorker(): void {
    this.worker = new Worker(this.layer, this.app).start();
  }

  /** `layerUrl` puts the same single process on another layer (a Redis one, with its own prefix). */
  static async start(
    db: Database,
    settings: {
      notifyEnterLeave?: boolean;
      chatBurst?: number;
      chatPerSecond?: number;
      /** Thyme's websocketRate (0: none). */
      websocketRate?: number;
      /** Thyme's websocketConnectTimeout, seconds (5 by default). */
      websocketConnectTimeout?: number;
      /** The chat's access checks, for a test that steers their timing. */
      access?: ChatAccess;
      /** The application's and Thyme's logger, for a test that reads its lines (silent by default). */
      logger?: Logger;
    } = {},
    layerUrl = 'memory://',
  ): Promise<EmbeddedChat> {
    const { websocketRate, websocketConnectTimeout, access, logger, ...appSettings } = settings;
    const layer = createLayer(layerUrl, {
      channelCapacity: Object.entries(EVENT_CHANNEL_CAPACITY),
    });
    const fixtures = new Fixtures(db);
    const app = createApplication(
      {
        layer,
        db,
        users: fixtures.users,
        sessions: fixtures.sessions,
        logger: logger ?? (await import('../../src/logger.js')).silentLogger(),
        settings: { notifyEnterLeave: appSettings.notifyEnterLeave ?? true, ...appSettings },
      },
      access,
    );
    const worker = new Worker(layer, app).start();
    const thyme = new Thyme(layer, {
      logger,
      allowedHosts: ['localhost', '127.0.0.1'],
      staticDir: findApp('multichat')?.staticDir, // the page's script, for a browser
      websocketRate,
      websocketConnectTimeout,
    });
    const chat = new EmbeddedChat(layer, thyme, worker, app);
    chat.ports = [(await thyme.listen(0, '127.0.0.1')).port];
    return chat;
  }

  async stop(): Promise<void> {
    await this.thyme.close();
    await this.worker.stop();
    await this.layer.flush();
    await this.layer.close();
  }
}

/**
 * MultiChat as deployed: `gredis runworker` × N and `gredis thyme` × M on Redis
 * and a database. `layerUrl`: the CHANNEL_LAYER_URL they share (the shared Redis
 * under a fresh prefix unless given, e.g. a `redis+sentinel://` one).
 */
export class DistributedChat implements ChatEndpoints {
  readonly workers: GredisProcess[] = [];
  readonly thymes: GredisProcess[] = [];
  ports: number[] = [];

  constructor(
    readonly database: DatabaseBackend,
    private readonly env: Record<string, string> = {},
    readonly layerUrl = `${SHARED_REDIS_URL}?prefix=${testPrefix()}`,
  ) {}

  get processEnv(): Record<string, string> {
    return {
      DATABASE_URL: this.database.url,
      CHANNEL_LAYER_URL: this.layerUrl,
      SECRET_KEY: TEST_SECRET_KEY,
      ...this.env,
    };
  }

  /** `env` adds to, or overrides, the deployment's (another CHANNEL_LAYER_URL, say). */
  async startWorker(args: string[] = [], env: Record<string, string> = {}): Promise<GredisProcess> {
    const worker = GredisProcess.start(['runworker', 'multichat', ...args], {
      ...this.processEnv,
      ...env,
    });
    this.workers.push(worker); // stopped by stop() even if it never comes up
    await worker.waitForLine(
      (line) => line.msg === 'worker for multichat running',
      START_TIMEOUT_MS,
    );
    return worker;
  }

  async startThyme(args: string[] = []): Promise<number> {
    const { proc, port } = await startThyme(args, this.processEnv);
    this.thymes.push(proc);
    this.ports.push(port);
    return port;
  }

  async stop(): Promise<void> {
    await Promise.all([...this.thymes, ...this.workers].map((proc) => proc.stop('SIGTERM')));
    const layer = createLayer(this.layerUrl);
    try {
      await within(layer.flush(), 10_000, 'emptying the layer');
    } finally {
      await layer.close();
    }
  }
}

/** What a test of the embedded chat works with; a fresh chat for every test. */
export interface EmbeddedChatState {
  db: Database;
  fixtures: Fixtures;
  chat: EmbeddedChat;
  port: number;
}

/**
 * Registers the hooks that give a suite `database`: set up and migrated once
 * before its tests (`opened` receives the connection, and fixtures on it), and
 * torn down after them. Emptying it between tests is left to the suite: only
 * once what uses it has stopped.
 */
export function useMigratedDatabase(
  test: Test,
  database: DatabaseBackend,
  opened: (db: Database, fixtures: Fixtures) => void,
): void {
  test.before(async () => {
    await database.setup();
    const db = await database.openMigrated();
    opened(db, new Fixtures(db));
  });
  test.after(() => database.teardown());
}

/**
 * Registers the hooks of a suite that runs each test against a fresh embedded
 * chat on `database` (set up once, emptied after each test); `bind` receives the
 * state before each test.
 */
export function useEmbeddedChat(
  test: Test,
  database: DatabaseBackend,
  bind: (state: EmbeddedChatState) => void,
): void {
  let db: Database;
  let fixtures: Fixtures;
  let chat: EmbeddedChat;
  useMigratedDatabase(test, database, (opened, made) => ([db, fixtures] = [opened, made]));
  test.before.each(async () => {
    chat = await EmbeddedChat.start(db);
    bind({ db, fixtures, chat, port: chat.ports[0]! });
  });
  test.after.each(async () => {
    await chat.stop();
    await database.truncate(db);
  });
}

/** How a suite's tests sign users in on its chat and open their chat sockets. */
export interface SignedInClients {
  /** A user made in the database with the suite's password, logged in through the real login form. */
  signedIn(
    username: string,
    options?: { staff?: boolean; superuser?: boolean },
  ): Promise<{ client: BrowserlessClient; user: User }>;
  /** A chat socket opened with a signed-in `client`'s session, dropped after the test. */
  chatOf(client: BrowserlessClient): Promise<TestClient>;
}

/**
 * SignedInClients on the chat `chat()` gives (Fixtures.signedIn at its port,
 * every user with `password`); registers the hook of `test` that drops, after
 * each test, the sockets chatOf opened.
 */
export function useSignedInClients(
  test: Test,
  chat: () => { fixtures: Fixtures; port: number },
  password: string,
): SignedInClients {
  const sockets: TestClient[] = [];
  test.after.each(() => {
    for (const socket of sockets.splice(0)) socket.ws.terminate();
  });
  return {
    signedIn: (username, options = {}) => {
      const { fixtures, port } = chat();
      return fixtures.signedIn(port, username, { password, ...options });
    },
    chatOf: async (client) => {
      const socket = await chatClient(chat().port, client.cookies.get('sessionid')!);
      sockets.push(socket);
      return socket;
    },
  };
}

/** What a test of the distributed chat works with; a fresh deployment for every test. */
export interface DistributedChatState {
  db: Database;
  fixtures: Fixtures;
  /** Nothing started yet: each test starts the workers and Thymes it needs. */
  chat: DistributedChat;
}

/**
 * Registers the hooks of a suite that runs each test against a fresh
 * DistributedChat with `env` on `database` (set up once, emptied after each
 * test); `bind` receives the state before each test. After each test, the
 * sockets in `clients` are dropped, then the chat's processes stopped: hooks a
 * suite registers before this one run before them.
 */
export function useDistributedChat(
  test: Test,
  database: DatabaseBackend,
  env: Record<string, string>,
  clients: TestClient[],
  bind: (state: DistributedChatState) => void,
): void {
  let db: Database;
  let fixtures: Fixtures;
  let chat: DistributedChat;
  useMigratedDatabase(test, database, (opened, made) => ([db, fixtures] = [opened, made]));
  test.before.each(() => {
    chat = new DistributedChat(database, env);
    bind({ db, fixtures, chat });
  });
  test.after.each(async () => {
    for (const client of clients.splice(0)) client.ws.terminate();
    await chat.stop();
    await database.truncate(db);
  });
}
