import { Command, Option } from 'commander';
import { appNames, type AppEntry } from '../apps/registry.js';
import { InMemoryChannelLayer } from '../layer/index.js';
import type { ChannelLayer } from '../layer/types.js';
import { Worker, windDownEnd, type StopReport } from '../worker/runner.js';
import { EXIT_ABANDONED, exitAbandoned } from './abandon.js';
import { loadApplication, requireApp } from './app-runtime.js';
import { withDatabase } from './database.js';
import { DatabaseProbe } from '../db/probe.js';
import { createLogger, type Logger } from '../logger.js';
import {
  AccessLogUnavailable,
  SocketPathUnavailable,
  Thyme,
  TlsUnusable,
  type ThymeOptions,
  type TlsFiles,
} from '../server/index.js';
import { allowedHostsFromEnv, DEFAULTS } from '../settings.js';
import { CommandFailed } from './errors.js';
import { openLayer } from './layer.js';
import { urlHost } from '../listen.js';
import {
  metricsBindOption,
  metricsListenFailed,
  metricsPortOption,
  metricsUrl,
  type MetricsFlags,
} from './metrics.js';
import { stopOnSignal } from './lifecycle.js';
import { readTlsFiles, watchTlsFiles, type TlsPaths } from './tls-files.js';
import {
  bindAddress,
  databaseOption,
  layerOption,
  numberIn,
  socketPath,
  verbosityOption,
} from './options.js';

/** The flags; those named as Thyme's options are passed on as they are. */
interface ThymeFlags
  extends
    MetricsFlags,
    Pick<
      ThymeOptions,
      | 'pingInterval'
      | 'pingTimeout'
      | 'httpTimeout'
      | 'keepAliveTimeout'
      | 'websocketConnectTimeout'
      | 'websocketMaxMessageSize'
      | 'httpMaxBodySize'
      | 'outgoingBufferLimit'
      | 'websocketRate'
      | 'websocketBurst'
      | 'maxConnections'
      | 'stopTimeout'
    > {
  bind: string;
  port: number;
  unixSocket?: string;
  sslCertfile?: string;
  sslKeyfile?: string;
  verbosity: number;
  accessLog?: string;
  layer: string;
  database: string;
  eventLanes: boolean;
  proxyHeaders: boolean;
}

/** The flags, with what the action read from the environment and the TLS files. */
type ServeFlags = ThymeFlags & {
  allowedHosts: string[];
  tls: { paths: TlsPaths; files: TlsFiles } | undefined;
  readinessChecks: ThymeOptions['readinessChecks'];
};

export function thymeCommand(): Command {
  return new Command('thyme')
    .description(
      "run the interface server (HTTP and WebSocket) for APP; with memory:// it also runs APP's workers",
    )
    .argument('<app>', `the application to serve (${appNames().join(', ')})`)
    .addOption(
      new Option('-b, --bind <address>', 'address to listen on')
        .default(DEFAULTS.bind)
        .argParser(bindAddress),
    )
    .addOption(
      new Option('-p, --port <port>', 'port to listen on (0 = any free port)')
        .default(DEFAULTS.port)
        .argParser(numberIn(0, 65535, true)),
    )
    .addOption(
      new Option(
        '-u, --unix-socket <path>',
        'listen on this Unix socket instead of an address and port (for a proxy on the same machine)',
      )
        .conflicts(['bind', 'port'])
        .argParser(socketPath),
    )
    .addOption(
      new Option(
        '--ssl-certfile <file>',
        'serve HTTPS and WSS with this certificate (PEM; the chain after it); a renewal of either file is served to new connections without a restart',
      ),
    )
    .addOption(
      new Option('--ssl-keyfile <file>', "the certificate's private key (PEM, unencrypted)"),
    )
    .addOption(verbosityOption())
    .addOption(layerOption())
    .addOption(databaseOption())
    .addOption(
      new Option(
        '--access-log <file>',
        'append NCSA-style access log lines (HTTP and WebSocket) to this file',
      ),
    )
    .addOption(
      new Option('--ping-interval <seconds>', 'seconds between keep-alive pings')
        .default(DEFAULTS.pingInterval)
        .argParser(numberIn(0.1, 86400)),
    )
    .addOption(
      new Option('--ping-timeout <seconds>', 'drop a WebSocket silent for this long')
        .default(DEFAULTS.pingTimeout)
        .argParser(numberIn(0.1, 86400)),
    )
    .addOption(
      new Option(
        '--http-timeout <seconds>',
        'answer 504 when no worker responds within this; cut off a response whose next chunk takes longer',
      )
        .default(DEFAULTS.httpTimeout)
        .argParser(numberIn(0.1, 86400)),
    )
    .addOption(
      new Option(
        '--keep-alive-timeout <seconds>',
        'close an idle keep-alive HTTP connection after this; behind a load balancer, make it longer than its idle timeout',
      )
        .default(DEFAULTS.keepAliveTimeout)
        // Keep-Alive: timeout=N tells clients whole seconds: under 1 it would say 0.
        .argParser(numberIn(1, 86400)),
    )
    .addOption(
      new Option(
        '--websocket-connect-timeout <seconds>',
        'answer 503 when no worker accepts a WebSocket within this',
      )
        .default(DEFAULTS.websocketConnectTimeout)
        .argParser(numberIn(0.1, 3600)),
    )
    .addOption(
      new Option('--websocket-max-message-size <bytes>', 'close with 1009 above this')
        .default(DEFAULTS.websocketMaxMessageSize)
        .argParser(numberIn(1, 2 ** 31, true)),
    )
    .addOption(
      new Option('--http-max-body-size <bytes>', 'refuse request bodies above this with 413')
        .default(DEFAULTS.httpMaxBodySize)
        .argParser(numberIn(0, 2 ** 31, true)),
    )
    .addOption(
      new Option(
        '--outgoing-buffer-limit <bytes>',
        'close a WebSocket with 1013 when this much is waiting to be written',
      )
        .default(DEFAULTS.outgoingBufferLimit)
        .argParser(numberIn(1024, 2 ** 31, true)),
    )
    .addOption(
      new Option(
        '--websocket-rate <messages>',
        'messages per second a WebSocket may send after its burst; faster clients are slowed (0 = no limit)',
      )
        .default(DEFAULTS.websocketRate)
        .argParser(numberIn(0, 1e6)),
    )
    .addOption(
      new Option(
        '--websocket-burst <messages>',
        'messages a WebSocket may send at once, before --websocket-rate applies',
      )
        .default(DEFAULTS.websocketBurst)
        .argParser(numberIn(1, 1e6, true)),
    )
    .addOption(
      new Option(
        '--stop-timeout <seconds>',
        `at SIGTERM/SIGINT, how long the stop may wait for HTTP responses in flight; those no worker has answered by then get 503, streamed ones are cut off. With memory:// (its own workers) it bounds the whole stop: events still running then are abandoned (as runworker's) and thyme exits ${EXIT_ABANDONED}`,
      )
        .default(DEFAULTS.stopTimeout)
        .argParser(numberIn(0, 86_400)),
    )
    .addOption(
      new Option(
        '--max-connections <count>',
        'client connections (HTTP and WebSocket) open at once; one more is answered 503 and closed (over TLS, once its handshake is done); 0 = no limit',
      )
        .default(DEFAULTS.maxConnections)
        .argParser(numberIn(0, 1e7, true)),
    )
    .addOption(metricsPortOption())
    .addOption(metricsBindOption())
    .addOption(
      new Option(
        '--no-event-lanes',
        "only for workers that are not Gredis workers: do not deposit WebSocket events in their sockets' lanes, and keep sockets open when the layer loses its data",
      ),
    )
    .addOption(
      new Option(
        '--proxy-headers',
        'take the client address and scheme from X-Forwarded-For and X-Forwarded-Proto (only behind a proxy that sets them)',
      ),
    )
    .action(async (appName: string, flags: ThymeFlags) => {
      const entry = requireApp(appName);
      const paths = tlsPaths(flags);
      const tls = paths && { paths, files: await readTlsFiles(paths) };
      const allowedHosts = allowedHostsFromEnv();
      const logger = createLogger({ verbosity: flags.verbosity, name: 'thyme' });
      const layer = openLayer(flags.layer, logger);
      const serveWith = (
        worker: Worker | undefined,
        readinessChecks: ServeFlags['readinessChecks'] = {},
      ) => serve(entry, layer, { ...flags, allowedHosts, tls, readinessChecks }, logger, worker);
      // A stop's wind-down ends here (serve says when): the layer's close shares
      // it. Undefined when no stop ran: the close's own bound then.
      let stopEnd: number | undefined;
      try {
        // Thyme alone runs no page, and never touches the database.
        if (!(layer instanceof InMemoryChannelLayer)) {
          ({ windDownEnd: stopEnd } = await serveWith(undefined));
          return;
        }
        // The embedded default: the in-process layer reaches no other process, so
        // this process runs the app's workers itself.
        await withDatabase(flags.database, logger, async (db) => {
          const app = await loadApplication(entry, db, layer, logger);
          const worker = new Worker(layer, app, {
            stopTimeout: flags.stopTimeout,
            logger,
          }).start();
          // Its pages need the database: a process that cannot serve them is not ready.
          const database = new DatabaseProbe(db);
          const report = await serveWith(worker, { database: () => database.check() });
          stopEnd = report.windDownEnd;
          // Not db.close(): it would wait for the abandoned handlers' queries.
          if (report.abandoned > 0) await exitAbandoned(layer, db, logger, stopEnd);
        });
      } finally {
        await layer.close(stopEnd);
      }
    });
}

/**
 * Listens until SIGINT/SIGTERM, then shuts down gracefully (sockets first, then
 * the worker); resolves with what the worker abandoned and when the rest of the
 * stop must end.
 */
async function serve(
  entry: AppEntry,
  layer: ChannelLayer,
  flags: ServeFlags,
  logger: Logger,
  worker: Worker | undefined,
): Promise<StopReport> {
  const thyme = await startOrStop(worker, () => newThyme(entry, layer, flags, logger));
  const serving = await startOrStop(worker, () => listen(thyme, flags), {
    failed: `cannot listen on ${flags.unixSocket ?? `${flags.bind}:${flags.port}`}`,
  });
  if (flags.metricsPort !== undefined) {
    const metrics = await startOrStop(
      worker,
      () => thyme.listenMetrics(flags.metricsPort!, flags.metricsBind),
      { failed: metricsListenFailed(flags), thyme },
    );
    logger.info({ port: metrics.port }, metricsUrl(flags.metricsBind, metrics.port));
  }
  // A renewed certificate is served without a restart (open connections keep theirs).
  const unwatch =
    flags.tls &&
    watchTlsFiles(flags.tls.paths, flags.tls.files, (files) => thyme.replaceTls(files), logger);
  logger.info(
    {
      app: entry.name,
      layer: layer.health().hosts.map((h) => h.url),
      embedded: worker !== undefined,
    },
    `serving ${entry.name} on ${serving}`,
  );
  return stopOnSignal(logger, async () => {
    // --stop-timeout bounds the whole stop: the worker has what the server's wait
    // for in-flight responses left of it (an abandoned request has had its 503).
    const deadline = performance.now() + flags.stopTimeout * 1000;
    unwatch?.();
    await thyme.close();
    return (await worker?.stop(deadline)) ?? { abandoned: 0, windDownEnd: windDownEnd(deadline) };
  });
}

/** Listens where the flags say; resolves with where, as the serving line shows it. */
async function listen(thyme: Thyme, flags: ServeFlags): Promise<string> {
  if (flags.unixSocket !== undefined) {
    await thyme.listenOnSocket(flags.unixSocket);
    return `unix:${flags.unixSocket}`;
  }
  const address = await thyme.listen(flags.port, flags.bind);
  return `${flags.tls ? 'https' : 'http'}://${urlHost(address.address)}:${address.port}/`;
}

/**
 * A start-up step: when it fails, what was started so far is stopped (the
 * process must exit, not linger half-serving), and an error the user can act on
 * becomes a CommandFailed (`failed` says what could not be done).
 */
async function startOrStop<T>(
  worker: Worker | undefined,
  step: () => T | Promise<T>,
  { failed, thyme }: { failed?: string; thyme?: Thyme } = {},
): Promise<T> {
  try {
    return await step();
  } catch (error) {
    await thyme?.close();
    await worker?.stop();
    if (
      error instanceof AccessLogUnavailable ||
      error instanceof SocketPathUnavailable ||
      error instanceof TlsUnusable
    )
      throw new CommandFailed(error.message);
    if (failed) throw new CommandFailed(`${failed}: ${(error as Error).message}`);
    throw error;
  }
}

function newThyme(entry: AppEntry, layer: ChannelLayer, flags: ServeFlags, logger: Logger): Thyme {
  return new Thyme(layer, {
    stopTimeout: flags.stopTimeout,
    readinessChecks: flags.readinessChecks,
    allowedHosts: flags.allowedHosts,
    staticDir: entry.staticDir,
    pingInterval: flags.pingInterval,
    pingTimeout: flags.pingTimeout,
    httpTimeout: flags.httpTimeout,
    keepAliveTimeout: flags.keepAliveTimeout,
    websocketConnectTimeout: flags.websocketConnectTimeout,
    websocketMaxMessageSize: flags.websocketMaxMessageSize,
    httpMaxBodySize: flags.httpMaxBodySize,
    outgoingBufferLimit: flags.outgoingBufferLimit,
    websocketRate: flags.websocketRate,
    websocketBurst: flags.websocketBurst,
    maxConnections: flags.maxConnections,
    accessLog: flags.accessLog,
    announceEvents: flags.eventLanes,
    proxyHeaders: flags.proxyHeaders ?? false,
    tls: flags.tls?.files,
    logger,
  });
}

/** --ssl-certfile and --ssl-keyfile, which go together; undefined for plain HTTP. */
function tlsPaths(flags: ThymeFlags): TlsPaths | undefined {
  const { sslCertfile, sslKeyfile } = flags;
  if (sslCertfile === undefined && sslKeyfile === undefined) return undefined;
  if (sslCertfile === undefined || sslKeyfile === undefined)
    throw new CommandFailed(
      '--ssl-certfile and --ssl-keyfile go together: give both, or neither',
      2,
    );
  return { cert: sslCertfile, key: sslKeyfile };
}
