import { Redis, ReplyError, type ChainableCommander, type RedisOptions } from 'ioredis';
import { before } from '../../deadline.js';
import { briefError, type Logger } from '../../logger.js';
import { LayerUnavailable } from '../errors.js';
import type { LayerStats } from '../types.js';
import { redactUrl, type RedisHostConfig } from '../url.js';
import { ServerClock } from './clock.js';
import { lacking, permissionRefusal, Refusals } from './refusals.js';
import { LuaScript, MAY_CALL } from './scripts.js';
import { SentinelWatch, type MasterAddress } from './sentinel-watch.js';

export type HostStatus = 'ready' | 'connecting' | 'down';
export type Arg = string | number | Buffer;
/** A Redis command as sent: its name, then its arguments (the first, its key, if it has one). */
export type Command = readonly [name: string, ...args: Arg[]];

/**
 * ioredis's scripting commands, typed alike: it has Buffer-reply variants of
 * every command at run time but does not type the scripting ones. (Its generic
 * callBuffer() cannot stand in: with auto-pipelining it drops the command name.)
 */
interface Scripting {
  evalsha(sha: string, numKeys: number, ...args: Arg[]): Promise<unknown>;
  eval(source: string, numKeys: number, ...args: Arg[]): Promise<unknown>;
  evalshaBuffer(sha: string, numKeys: number, ...args: Arg[]): Promise<unknown>;
  evalBuffer(source: string, numKeys: number, ...args: Arg[]): Promise<unknown>;
}

/**
 * ioredis's own (untyped) way to fail the commands sent and not answered, and
 * those queued for a connection not yet ready: they are then not sent on the
 * next connection.
 */
interface UnfulfilledQueue {
  flushQueue(error: Error, options: { offlineQueue: boolean; commandQueue?: boolean }): void;
  /**
   * What a connection lost while ready had sent and not had answered, held to
   * be sent again once a connection is ready: flushQueue leaves it alone.
   */
  prevCommandQueue: { shift(): { command: { reject(error: Error): void } } | undefined } | null;
}

/**
 * Runs a MULTI or pipeline and throws its first command's error (a WRONGTYPE, an
 * EXPIRE refused), as that command alone would: ioredis's exec() resolves with
 * the errors among the replies, where unread they went unnoticed. A MULTI
 * whose command Redis refused as it was queued (out of memory, an ACL's
 * NOPERM) is discarded whole, and its EXECABORT says only that: the refusal,
 * which says why, is thrown in its place.
 */
async function execChecked(commands: ChainableCommander): Promise<void> {
  let replies: [Error | null, unknown][] | null;
  try {
    replies = await commands.exec();
  } catch (error) {
    const [refusal] = (error as { previousErrors?: unknown[] }).previousErrors ?? [];
    throw refusal ?? error;
  }
  for (const [error] of replies ?? []) if (error) throw error;
}

/** A script call waiting for the end of this turn of the event loop to go out with others like it. */
interface QueuedCall {
  keys: readonly Arg[];
  args: readonly Arg[];
  resolve(value: unknown): void;
  reject(error: unknown): void;
}

interface Batch {
  script: LuaScript;
  buffers: boolean;
  calls: QueuedCall[];
}

/** Calls of one script sent as one EVAL, at most. */
const MAX_BATCH = 256;

/**
 * How long a connection ended on purpose (close, a reconnection) waits for the
 * server to close its side before it is destroyed: ioredis's disconnectTimeout,
 * 2 s by default. A live server closes at once; one that stopped answering
 * with its connections left open never does, and until then the socket kept a
 * stopping process alive 2 s past the layer's close, and held the reconnection.
 */
const DISCONNECT_WAIT_MS = 500;

/** A readiness probe's PING goes out once in this, at most (see RedisHost.probe). */
const PROBE_EVERY_MS = 1000;

/**
 * Who a refusal is recorded for (RedisHost.refusals): a script call's script
 * (LuaScript.plain: its batched form is the same), a reader itself, and plain commands and MULTIs
 * (see RedisHost.commands) by their command names, e.g. "MULTI ZADD EXPIRE EXEC".
 */
type Refused = LuaScript | object | string;

/** A script call, as recorded for its script when refused: what the probe runs dry. */
export interface ScriptCall {
  script: LuaScript;
  keys: readonly Arg[];
  args: readonly Arg[];
}

/** TCP keep-alive is how a blocked read notices a dead server: it never times out. */
const KEEP_ALIVE_MS = 10_000;

/**
 * The longest a lost connection waits between reconnection attempts: every
 * process reconnects to a restarted server within this of the others.
 */
export const RECONNECT_BACKOFF_MAX_MS = 2000;

/**
 * How long a Sentinel may take to name the master. ioredis waits forever by
 * default, and so a Sentinel that accepts connections but does not answer (its
 * process stopped, its machine gone behind a live address) held every
 * reconnection there instead of letting it ask the next one.
 */
const SENTINEL_COMMAND_TIMEOUT_MS = 2000;

/**
 * One Redis server of the layer: a command connection shared by all calls and
 * the blocking connections of the key readers.
 *
 * The command connection does not use ioredis's auto-pipelining: it builds a
 * Pipeline per turn, which measured 35–40 µs of CPU more per call than a plain
 * command when calls come one per turn (the common case below saturation), and
 * more per call at every batch size tried. Calls of one turn share a write
 * anyway: the batched scripts leave together with the stream corked.
 */
export class RedisHost {
  readonly label: string;
  readonly client: Redis;
  /** The server's time (see ServerClock), read at each connection. */
  readonly clock: ServerClock;
  private readonly blocking = new Set<Redis>();
  private readonly batches = new Map<string, Batch>();
  /** Round trips on the command connection not yet answered, and who waits for none. */
  private unanswered = 0;
  private answered: (() => void) | undefined;
  private batchFlushScheduled = false;
  /** Calls answered (or failed) so far, and the check that they still are: see watchReplies. */
  private settledCalls = 0;
  private watchdog: NodeJS.Timeout | undefined;
  private readonly replyTimeoutMs: number;
  /** When probe() last sent its PING (performance.now()), and whether it is unanswered. */
  private probedAt = -Infinity;
  private probing = false;
  private wasReady = false;
  /** The first connection failed, and that was said (once, at warn: a typo in the URL must show). */
  private unreachableReported = false;
  /** A lost connection's reconnections are refused by the server, and that was said (once an outage). */
  private refusalReported = false;
  private down = false;
  /** Why the last try to connect failed (ECONNREFUSED…), for the calls that fail meanwhile. */
  private connectFailure: Error | undefined;
  /**
   * Set when the server has no such database: ioredis would go on in database
   * 0 (another deployment's, maybe), so every connection to it is closed.
   */
  misconfigured: Error | undefined;
  private closing = false;
  /**
   * What this server refuses the layer for lack of permission: its key readers'
   * last reads (KeyReader), each script's last refused call, and each form of
   * plain command's. The layer's health shows the host `refused` while any is.
   */
  readonly refusals = new Refusals<Refused>();
  private readonly sentinelWatch: SentinelWatch | undefined;

  constructor(
    readonly config: RedisHostConfig,
    {
      connectionName,
      replyTimeoutMs,
    }: {
      /** CLIENT SETNAME of the command connection; lanes read owners' liveness from it. */
      connectionName: string;
      /** LayerOptions.replyTimeout. */
      replyTimeoutMs: number;
    },
    private readonly stats: LayerStats,
    private readonly logger: Logger,
  ) {
    this.label = redactUrl(config);
    if (config.kind === 'sentinel') {
      this.sentinelWatch = new SentinelWatch(
        config.sentinels,
        config.masterName,
        (address) => this.masterMoved(address),
        logger,
      );
    }
    this.replyTimeoutMs = replyTimeoutMs;
    this.client = this.connect({
      // Commands issued while the server is away wait a little, then fail with
      // LayerUnavailable so callers can shed load instead of queueing forever.
      maxRetriesPerRequest: 2,
      enableAutoPipelining: false,
      connectionName,
    });
    this.clock = new ServerClock(this.label, logger);
    this.client.on('ready', () => {
      void this.clock.read(this.client);
      if (this.down) this.logger.warn({ host: this.label }, 'channel layer host is back');
      else if (this.unreachableReported)
        this.logger.warn({ host: this.label }, 'reached the channel layer host');
      this.down = false;
      this.wasReady = true;
      this.refusalReported = false;
      this.connectFailure = undefined;
    });
    this.client.on('close', () => {
      if (this.wasReady && !this.down && !this.closing) {
        this.down = true;
        this.logger.warn({ host: this.label }, 'lost the channel layer host; reconnecting');
      }
    });
    this.client.on('error', (error: Error) => {
      if (!(error instanceof ReplyError)) this.connectFailure = error;
      if (!this.wasReady && !this.unreachableReported && !this.closing) {
        this.unreachableReported = true;
        // A server down, a wrong address or password: no stack, which says nothing
        // about them (and fills a terminal, where pino-pretty prints it in full).
        this.logger.warn(
          { host: this.label, code: (error as NodeJS.ErrnoException).code, reason: error.message },
          `cannot reach the channel layer host (${error.message}); retrying`,
        );
        return;
      }
      const refused = error instanceof ReplyError && this.down && !this.misconfigured;
      if (refused) this.failHeldCalls(error);
      if (refused && !this.refusalReported && !this.closing) {
        // The server answers and refuses the reconnection (a password set or
        // changed, an ACL user disabled while running): it will go on refusing
        // until someone acts, and "lost ... reconnecting" alone hid why.
        this.refusalReported = true;
        this.logger.warn(
          { host: this.label, reason: error.message },
          `the channel layer host refuses the reconnection (${error.message}); retrying`,
        );
        return;
      }
      this.logger.debug({ host: this.label, err: error }, 'channel layer connection error');
    });
  }

  /**
   * Resolves once the command connection is ready (ioredis's ready check has
   * been answered), at once if it is: see ChannelLayer.whenReady.
   */
  whenReady(): Promise<void> {
    if (this.status === 'ready') return Promise.resolve();
    return new Promise((resolve) => {
      const onReady = (): void => {
        if (this.status !== 'ready') return; // a misconfigured server: never
        this.client.off('ready', onReady);
        resolve();
      };
      this.client.on('ready', onReady);
    });
  }

  get status(): HostStatus {
    if (this.misconfigured) return 'down';
    if (this.client.status === 'ready') return 'ready';
    return this.down ? 'down' : 'connecting';
  }

  /**
   * Sends a PING when nothing else waits for the server (once a second at
   * most): a readiness probe's way to hear of a server that stopped answering
   * with its connections left open. A process that only waits in blocked reads
   * (a Thyme whose users only listen) times nothing else, and would say it is
   * ready for as long as TCP takes to give up (many minutes). The watch
   * (watchReplies) drops the connections once the PING has gone unanswered for
   * the reply timeout, and the host is then not ready until it answers again.
   *
   * After a script call refused for lack of permission, the probe runs that
   * call again dry instead (LuaScript.dry: every command it would run is
   * checked, nothing written), which answers as the PING would; after
   * commands refused (RedisHost.commands), MAY_CALL asks whether they may run
   * now, without running them: the host is ready again once each is allowed.
   * Without it, a process taken out of service for the refusal would get no
   * traffic, hence no call to find out.
   */
  probe(): void {
    const now = performance.now();
    if (this.probing || this.unanswered > 0 || this.closing || this.status !== 'ready') return;
    if (now - this.probedAt < PROBE_EVERY_MS) return;
    this.probing = true;
    this.probedAt = now;
    const asked: Promise<unknown>[] = [];
    for (const [who, work] of this.refusals.entries()) {
      if (who instanceof LuaScript) {
        // evalOnce: a refused dry run leaves the refused call recorded, to ask about again.
        const [{ script, keys, args }] = work as [ScriptCall];
        asked.push(
          this.evalOnce(script.dry, keys, args, false).then((refused) => {
            if (refused === 1) this.allowed(who, `its script ${who.name}`);
          }),
        );
      } else if (typeof who === 'string') {
        const commands = work as Command[];
        // A MULTI's own commands too: refused MULTI or EXEC, the MULTI never
        // runs, however allowed the commands in it are.
        const checked = commands.length > 1 ? [['multi'], ...commands, ['exec']] : commands;
        const argv = checked.flatMap((command) => [command.length, ...command]);
        asked.push(
          this.evalWith(MAY_CALL, [], argv, false).then((refused) => {
            if (refused === 1) this.allowed(who, who);
          }),
        );
      }
    }
    const answer = asked.length > 0 ? Promise.all(asked) : this.call((client) => client.ping());
    answer
      .catch(() => undefined) // the silence is what tells, and the watch hears it
      .finally(() => (this.probing = false));
  }

  private allowed(who: Refused, what: string): void {
    if (this.refusals.allowed(who))
      this.logger.warn(
        { host: this.label },
        `the channel layer's Redis user may run ${what} again`,
      );
  }

  /**
   * Watches for a server gone without closing anything (its machine died, a
   * failover moved it): TCP would take many minutes to give up on its
   * connections. While calls are unanswered, a check every third of the reply
   * timeout looks whether any was answered since the last; none for the whole
   * timeout, and the command connection is dropped and made again, and so are
   * the blocking connections to the same server, which never time out (an idle
   * read is silent); their reads are reissued. The calls left unanswered fail
   * (LayerUnavailable), and are not sent again: the server may have run them
   * (it was only stalled, or a replica has them), and a second run would
   * deliver a message twice. A message a dead connection had popped is lost
   * with it, as with any connection lost. The check stops once
   * nothing is unanswered: an idle process runs none, and a busy one pays no
   * timer per call (ioredis's socketTimeout did: 2 µs per echoed message).
   */
  private watchReplies(): void {
    if (this.watchdog || this.closing) return;
    const every = this.replyTimeoutMs / 3;
    let seen = this.settledCalls;
    let progressAt = performance.now();
    let tickAt = progressAt;
    this.watchdog = setInterval(() => {
      const now = performance.now();
      // A late tick means this process was not running (a blocked event loop,
      // a paused or starved process): the replies that came meanwhile wait
      // behind this timer, unread. That time tells nothing of the server.
      const late = now - tickAt > 2 * every;
      tickAt = now;
      if (this.settledCalls !== seen || late) {
        seen = this.settledCalls;
        progressAt = now;
      } else if (this.unanswered === 0) {
        clearInterval(this.watchdog);
        this.watchdog = undefined;
      } else if (now - progressAt >= this.replyTimeoutMs) {
        progressAt = now;
        // Timers run before the poll for I/O: replies already here are read
        // first, and only then is the silence judged.
        setImmediate(() => {
          if (this.settledCalls !== seen) seen = this.settledCalls;
          else if (this.unanswered > 0 && !this.closing) this.dropSilentConnections();
        });
      }
    }, every);
    this.watchdog.unref();
  }

  /**
   * Fails, with the server's refusal, the calls the lost connection had sent
   * and not had answered. ioredis holds them to send again once a connection
   * is ready, which a refused reconnection (an ACL user deleted or disabled, a
   * password changed) may never be: they waited for ever, past the reply
   * timeout too (watchReplies fails only what is queued), and with them the
   * event a worker ran, or a flush. Calls made since fail at the reconnections
   * anyway (maxRetriesPerRequest).
   */
  private failHeldCalls(refusal: Error): void {
    const queue = this.client as unknown as UnfulfilledQueue;
    const held = queue.prevCommandQueue;
    queue.prevCommandQueue = null;
    for (let item = held?.shift(); item; item = held?.shift()) item.command.reject(refusal);
  }

  private dropSilentConnections(): void {
    // Said once per outage, at warn, and for it the lost connection's own line
    // is not said: a silence of minutes drops every reconnection the server
    // holds up (one a reply timeout), and each said anew would tell nothing.
    this.logger[this.down ? 'debug' : 'warn'](
      { host: this.label, unanswered: this.unanswered, seconds: this.replyTimeoutMs / 1000 },
      'the channel layer host stopped answering; reconnecting',
    );
    if (this.wasReady) this.down = true;
    // Fail the calls on their way rather than let ioredis resend them on the
    // new connection (autoResendUnfulfilledCommands): a server only stalled (a
    // long command, a paused machine, a healed network) runs them when it
    // wakes, and a resent group_send would then deliver its message twice.
    const noReply = new Error(`no reply for ${this.replyTimeoutMs / 1000} s`);
    const queue = this.client as unknown as UnfulfilledQueue;
    if (this.client.status === 'ready') queue.flushQueue(noReply, { offlineQueue: false });
    // A reconnection the server never answered (its kernel took the connection,
    // its process does not run) holds the calls made meanwhile unsent, for the
    // ready check. ioredis would carry them to the next connection, and fail
    // them only every third reconnection (maxRetriesPerRequest): each is one of
    // these drops, so a call waited up to three reply timeouts. Unsent, they
    // cannot run twice: they fail now too. (Not the ready check's own commands,
    // whose failure would make ioredis reconnect by itself as well.)
    else queue.flushQueue(noReply, { offlineQueue: true, commandQueue: false });
    this.client.disconnect(true);
    for (const client of this.blocking) if (client.status === 'ready') client.disconnect(true);
  }

  /**
   * Sentinel announced a failover of this host's master: every open connection
   * not already on the new master reconnects, and asks a Sentinel where it is
   * (one reconnecting already will ask when it tries again). A blocked read's
   * pending command fails and is reissued there; commands on their way are
   * resent, as when the connection drops (the old master, made a replica,
   * would refuse them, or it is gone).
   */
  private masterMoved(address: MasterAddress): void {
    if (this.closing) return;
    this.logger.info(
      { host: this.label, master: `${address.host}:${address.port}` },
      'Sentinel moved the channel layer master; reconnecting to it',
    );
    for (const client of [this.client, ...this.blocking]) {
      const stream = client.stream as { remoteAddress?: string; remotePort?: number } | undefined;
      const open = client.status === 'ready' || client.status === 'connect';
      const there = stream?.remoteAddress === address.host && stream.remotePort === address.port;
      if (open && !there) client.disconnect(true);
    }
  }

  /** A new connection for a blocking read; it never gives up reconnecting. */
  blockingClient(name: string): Redis {
    const client = this.connect({
      // 0: a read pending when the connection drops fails at once, so the reader
      // can reissue it (with the new connection's id) once the server is back.
      maxRetriesPerRequest: 0,
      autoResendUnfulfilledCommands: false,
      enableAutoPipelining: false,
      connectionName: name,
    });
    client.on('error', (error: Error) => {
      this.logger.debug({ host: this.label, err: error }, 'reader connection error');
    });
    this.blocking.add(client);
    return client;
  }

  releaseBlockingClient(client: Redis): void {
    this.blocking.delete(client);
    client.disconnect();
  }

  /**
   * Runs one round trip, counting it and mapping connection failures to
   * LayerUnavailable. So is a call Redis refused for lack of permission: like an
   * outage, it strikes every call alike until an operator grants the user what
   * it lacks, and readiness says so (the host is `refused`): callers answer
   * "try again later" (503, 1013) in one line rather than take it for a bug.
   */
  async call<T>(operation: (client: Redis) => Promise<T>): Promise<T> {
    if (this.misconfigured) throw new LayerUnavailable(this.label, { cause: this.misconfigured });
    const started = performance.now();
    this.unanswered++;
    this.watchReplies();
    try {
      return await operation(this.client);
    } catch (error) {
      if (outOfMemory(error)) {
        throw new LayerUnavailable(this.label, { cause: error, reason: OUT_OF_MEMORY });
      }
      const refusal = permissionRefusal(error);
      if (refusal) throw this.unavailableFor(refusal);
      if (error instanceof ReplyError) throw error;
      if (error instanceof Error && error.name === 'MaxRetriesPerRequestError') {
        // ioredis's words for it ('Reached the max retries per request limit … Refer
        // to "maxRetriesPerRequest" option') name a setting an operator of Gredis
        // does not have, and hide why: say the host is not connected, and what the
        // last try to connect met.
        throw new LayerUnavailable(this.label, {
          cause: this.connectFailure ?? error,
          reason: NOT_CONNECTED,
        });
      }
      throw new LayerUnavailable(this.label, { cause: error });
    } finally {
      this.settledCalls++;
      if (--this.unanswered === 0) this.answered?.();
      this.stats.roundTrips++;
      this.stats.roundTripSeconds += (performance.now() - started) / 1000;
    }
  }

  /**
   * Calls `page` with each batch of keys that match `pattern` (SCAN MATCH), one
   * batch at a time. SCAN walks the whole keyspace: for rare work only.
   */
  async scanKeys(
    pattern: string,
    count: number,
    page: (keys: string[]) => Promise<void>,
  ): Promise<void> {
    let cursor = '0';
    do {
      const [next, keys] = await this.command<[string, string[]]>(
        'scan',
        cursor,
        'MATCH',
        pattern,
        'COUNT',
        count,
      );
      cursor = next;
      if (keys.length > 0) await page(keys);
    } while (cursor !== '0');
  }

  /**
   * Runs one command on the command connection, as `commands` does (a refusal
   * makes the host `refused`), and returns its reply as Redis sent it. Every
   * plain command of the layer's work goes through here, not through `call`:
   * one the user may not run fails every time alike, and readiness must say so.
   */
  async command<T = unknown>(name: string, ...args: Arg[]): Promise<T> {
    return (await this.commands([[name, ...args]])) as T;
  }

  /**
   * Runs `commands` on the command connection: one alone (its reply returned),
   * several in one MULTI (all or none, execChecked). Refused for lack of
   * permission, they make the host `refused` as a script call does, until the
   * probe finds them allowed (MAY_CALL), and the log says once what the user
   * lacks.
   */
  async commands(commands: readonly [Command, ...Command[]]): Promise<unknown> {
    try {
      const [[name, ...args], ...more] = commands;
      return await this.call((client) =>
        more.length === 0
          ? client.call(name, ...args)
          : execChecked(client.multi(commands.map((command) => [...command]))),
      );
    } catch (error) {
      this.noteRefused(commands, error);
      throw error;
    }
  }

  /**
   * When `error` is Redis refusing `commands` (as `commands` runs them) for
   * lack of permission: the host is `refused` until the probe finds them
   * allowed (MAY_CALL), and the log says once what the user lacks. For
   * commands sent some other way, e.g. in a pipeline with a command whose
   * failure is only looked at.
   */
  noteRefused(commands: readonly [Command, ...Command[]], error: unknown): void {
    const refusal = permissionRefusal(error);
    const names = commands.map(([name]) => name.toUpperCase()).join(' ');
    const who = commands.length > 1 ? `MULTI ${names} EXEC` : names;
    if (refusal && this.refusals.refused(who, refusal, commands)) {
      const key = String(commands[0]![1] ?? '');
      this.logger.warn(
        { host: this.label, commands: who, key, reason: refusal.message },
        `the channel layer's Redis user lacks ${lacking(refusal, key)} to run ${who} (${refusal.message}): not ready until it has it`,
      );
    }
  }

  /** EVALSHA, or EVAL when the server does not have the script (e.g. after a restart). */
  eval(script: LuaScript, keys: readonly Arg[], args: readonly Arg[]): Promise<unknown> {
    return this.evalWith(script, keys, args, false);
  }

  /** Like `eval`, with bulk strings in the reply as Buffers (for scripts returning stored bytes). */
  evalBuffer(script: LuaScript, keys: readonly Arg[], args: readonly Arg[]): Promise<unknown> {
    return this.evalWith(script, keys, args, true);
  }

  /**
   * Like `eval`/`evalBuffer`, but calls of the same script made in the same turn
   * of the event loop go to Redis as one batched EVAL (in call order, atomically).
   * Each call still gets its own reply; a failure of the batch fails each of its
   * calls. The batch leaves in setImmediate, after every I/O callback of this
   * turn has run: with process.nextTick it would leave after the first one, and
   * frames from many sockets (one callback each) would each cost a script.
   */
  evalBatched(
    script: LuaScript,
    keys: readonly Arg[],
    args: readonly Arg[],
    buffers = false,
  ): Promise<unknown> {
    const id = buffers ? `${script.sha}:b` : script.sha;
    let batch = this.batches.get(id);
    if (!batch || batch.calls.length >= MAX_BATCH) {
      if (batch) this.runBatch(batch);
      batch = { script, buffers, calls: [] };
      this.batches.set(id, batch);
    }
    if (!this.batchFlushScheduled) {
      this.batchFlushScheduled = true;
      setImmediate(this.flushBatches);
    }
    const calls = batch.calls;
    return new Promise((resolve, reject) => calls.push({ keys, args, resolve, reject }));
  }

  private readonly flushBatches = (): void => {
    this.batchFlushScheduled = false;
    const batches = [...this.batches.values()];
    this.batches.clear();
    // One write for all of them: each EVALSHA is written synchronously as it is
    // called. (ioredis types `stream` as always there; before the first connection
    // it is not.)
    const stream = this.client.stream as Redis['stream'] | undefined;
    stream?.cork();
    try {
      for (const batch of batches) this.runBatch(batch);
    } finally {
      stream?.uncork();
    }
  };

  private runBatch(batch: Batch): void {
    const { calls } = batch;
    if (calls.length === 1) {
      const [only] = calls;
      this.evalWith(batch.script, only!.keys, only!.args, batch.buffers).then(
        only!.resolve,
        only!.reject,
      );
      return;
    }
    const keys: Arg[] = [];
    const header: Arg[] = [calls.length];
    const args: Arg[] = [];
    for (const call of calls) {
      keys.push(...call.keys);
      args.push(...call.args);
      header.push(call.keys.length, call.args.length);
    }
    this.evalWith(batch.script.batched, keys, [...header, ...args], batch.buffers).then(
      (replies) => {
        const list = replies as unknown[];
        calls.forEach((call, i) => call.resolve(list[i]));
      },
      (error: unknown) => {
        for (const call of calls) call.reject(error);
      },
    );
  }

  /**
   * A call refused for lack of permission fails as the layer being unavailable
   * (see call), and makes the host `refused` until the probe finds it
   * allowed. An EVALSHA refused is not retried by EVAL, as ioredis does after
   * NOSCRIPT: a user that may EVAL and not EVALSHA (an ACL written for
   * channels_redis, which runs EVAL) lacks other commands of this layer too,
   * which no fallback covers; each EVAL would also carry the whole script. One
   * line naming what to grant lets the operator fix the ACL instead.
   */
  private async evalWith(
    script: LuaScript,
    keys: readonly Arg[],
    args: readonly Arg[],
    buffers: boolean,
  ): Promise<unknown> {
    try {
      return await this.evalOnce(script, keys, args, buffers);
    } catch (error) {
      this.noteRefusedScript({ script, keys, args }, error);
      throw error;
    }
  }

  /**
   * When `error` is Redis refusing `call` for lack of permission: the host is
   * `refused` until the probe, running `call` dry, finds it allowed, and the
   * log says once what the user lacks. Also for a refusal a script caught and
   * replied with (see LUA_APPLIED), `call` then what the probe is to run dry.
   */
  noteRefusedScript(call: ScriptCall, error: unknown): void {
    const refusal = permissionRefusal(error);
    const { name } = call.script;
    if (refusal && this.refusals.refused(call.script.plain, refusal, [call])) {
      const key = String(call.keys[0] ?? '');
      this.logger.warn(
        { host: this.label, script: name, key, reason: refusal.message },
        `the channel layer's Redis user lacks ${lacking(refusal, call.keys.map(String))} to run the layer's scripts (${name}: ${refusal.message}): not ready until it has it`,
      );
    }
  }

  /** Whether a script call was refused and the probe has not found its script allowed since. */
  get refusesScripts(): boolean {
    for (const [who] of this.refusals.entries()) if (who instanceof LuaScript) return true;
    return false;
  }

  /** What a call Redis refused for lack of permission (`refusal`) fails with. */
  unavailableFor(refusal: Error): LayerUnavailable {
    return new LayerUnavailable(this.label, { cause: refusal, reason: REFUSED });
  }

  /**
   * Runs `script` by its SHA (EVALSHA), or by its source (EVAL) if the server
   * has not seen it yet (NOSCRIPT); `buffers`: replies as Buffers.
   */
  private evalOnce(
    script: LuaScript,
    keys: readonly Arg[],
    args: readonly Arg[],
    buffers: boolean,
  ): Promise<unknown> {
    return this.call(async (client) => {
      const scripting = client as unknown as Scripting;
      const run = (command: 'evalsha' | 'eval', body: string): Promise<unknown> =>
        scripting[buffers ? (`${command}Buffer` as const) : command](
          body,
          keys.length,
          ...keys,
          ...args,
        );
      try {
        return await run('evalsha', script.sha);
      } catch (error) {
        const missing =
          error instanceof ReplyError && (error as Error).message.startsWith('NOSCRIPT');
        if (!missing) throw error;
        return await run('eval', script.source);
      }
    });
  }

  /**
   * Closes every connection, waiting for the server until `deadline`
   * (performance.now()) at most: calls made before close() finish first (this
   * turn's batch leaves now, and calls still on their way, such as a script's
   * EVAL after NOSCRIPT, get their replies), then the command connection ends
   * with a QUIT. A server that stopped answering with its connections left open
   * (its machine gone, a network path broken) would answer neither: past the
   * deadline they are closed without, and their calls fail.
   */
  async close(deadline: number): Promise<void> {
    this.closing = true;
    clearInterval(this.watchdog);
    this.sentinelWatch?.close();
    if (this.batchFlushScheduled) this.flushBatches();
    if (this.unanswered > 0) {
      const allAnswered = new Promise<void>((resolve) => (this.answered = resolve));
      await before(deadline, allAnswered);
    }
    for (const client of this.blocking) client.disconnect();
    this.blocking.clear();
    // A QUIT refused or unanswered changes nothing: the connection is closed below
    // either way, after what was written to it (ioredis ends the stream, and
    // destroys it DISCONNECT_WAIT_MS later if the server has not closed its side).
    if (this.client.status === 'ready') await before(deadline, this.client.quit());
    this.client.disconnect();
  }

  /**
   * Replaces a connection that was just opened (ioredis's 'connect': its
   * handshake, CLIENT SETNAME and the ready check, sent) if the server has sent
   * not a byte back within replyTimeout. ioredis's connectTimeout ends with the
   * TCP connect, and watchReplies runs only while calls wait, so a connection
   * that stays silent (a network path broken after the TCP handshake, a proxy
   * whose upstream is gone) stayed "connecting" for good, after Redis answered
   * new connections again too: a Thyme started then kept /healthz at 503, and
   * a worker's reads never reached Redis while it said it ran. A server
   * loading its data answers (LOADING), and is left to finish.
   */
  private dropIfSilent(client: Redis): void {
    const stream = client.stream;
    let heard = false;
    stream.once('data', () => (heard = true));
    setTimeout(() => {
      if (heard || this.closing || client.stream !== stream || client.status !== 'connect') return;
      if (client !== this.client && !this.blocking.has(client)) return; // released
      const seconds = this.replyTimeoutMs / 1000;
      if (client === this.client && !this.wasReady && !this.unreachableReported) {
        // Said once, at warn, as a refused first connection is: a process started
        // against a silent server must not look as if it waited for nothing.
        this.unreachableReported = true;
        this.logger.warn(
          { host: this.label, seconds },
          'the channel layer host accepted the connection and did not answer; retrying',
        );
      } else {
        this.logger.debug({ host: this.label, seconds }, 'silent new connection; connecting again');
      }
      client.disconnect(true);
    }, this.replyTimeoutMs).unref();
  }

  private connect(extra: RedisOptions): Redis {
    const common: RedisOptions = {
      keepAlive: KEEP_ALIVE_MS,
      disconnectTimeout: DISCONNECT_WAIT_MS,
      // Reconnect with backoff, forever: a layer outlives a Redis restart.
      retryStrategy: (attempt) =>
        Math.min(50 * 2 ** Math.min(attempt, 6), RECONNECT_BACKOFF_MAX_MS),
      ...extra,
    };
    const client =
      this.config.kind === 'url'
        ? new Redis(this.config.url, common)
        : new Redis({
            ...common,
            sentinels: this.config.sentinels,
            // Failovers are heard by this host's one SentinelWatch, not by a
            // detector per connection (failoverDetector).
            sentinelCommandTimeout: SENTINEL_COMMAND_TIMEOUT_MS,
            name: this.config.masterName,
            db: this.config.db,
            ...(this.config.password ? { password: this.config.password } : {}),
          });
    // ioredis ends a Sentinel connection for good (status 'end', every command
    // failing at once) when it is told to disconnect while it asks a Sentinel
    // for the master: masterMoved does, when a failover is announced during a
    // reconnection (the master died, so its connections were reconnecting),
    // and so may dropSilentConnections. Only close,
    // releaseBlockingClient and a misconfiguration end ours on purpose.
    client.on('connect', () => this.dropIfSilent(client));
    client.on('end', () => {
      if (this.closing || this.misconfigured) return;
      if (client !== this.client && !this.blocking.has(client)) return;
      this.logger.debug({ host: this.label }, 'channel layer connection ended; connecting again');
      client.connect().catch(() => undefined);
    });
    // The SELECT of a database the server does not have fails, and ioredis goes
    // on in database 0. Its reply comes before the ready check's, so closing
    // the connection here comes before any command of ours is sent.
    client.prependListener('error', (error: Error) => {
      if (!(error instanceof ReplyError) || !/DB index is out of range/i.test(error.message))
        return;
      client.disconnect();
      if (this.misconfigured) return;
      this.misconfigured = error;
      this.logger.error(
        { host: this.label, ...briefError(error) },
        'the channel layer host has no such database: not using it (fix the /db of the URL)',
      );
    });
    return client;
  }
}

const OUT_OF_MEMORY = 'out of memory (maxmemory reached, nothing evictable)';
const REFUSED = 'refused for lack of permission';
const NOT_CONNECTED = 'not connected, reconnecting';

/**
 * Whether Redis refused `error`'s command for lack of memory (maxmemory with a
 * policy that had nothing to evict): a full layer, which frees as readers drain
 * and keys expire, so the caller should try again later (LayerUnavailable:
 * 1013, 503) rather than take it for a bug. Refused, the command wrote
 * nothing: a MULTI is discarded whole (execChecked), and a script is refused,
 * if at all, before its first write (Redis checks a script's memory only then,
 * so it stays atomic).
 */
function outOfMemory(error: unknown): boolean {
  return error instanceof ReplyError && (error as Error).message.startsWith('OOM ');
}

/** `text` as a SCAN MATCH pattern that matches only itself. */
export function literalPattern(text: string): string {
  return text.replace(/[*?[\]\\]/g, '\\$&');
}
