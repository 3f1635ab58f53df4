import type { Server } from 'node:http';
import type { AppEntry } from '../apps/registry.js';
import { InMemoryChannelLayer } from '../layer/index.js';
import type { ChannelLayer } from '../layer/types.js';
import { Worker, windDownEnd, type StopReport } from '../worker/runner.js';
import { exitAbandoned } from './abandon.js';
import { prepareApplication, requireApp } from './app-runtime.js';
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
import { allowedHostsFromEnv } from '../settings.js';
import { CommandFailed } from './errors.js';
import { layerLogFields, openLayer } from './layer.js';
import { urlHost } from '../listen.js';
import { serveMetrics } from '../metrics/endpoint.js';
import { metricsListenFailed, metricsUrl } from './metrics.js';
import { stopOnSignal } from './lifecycle.js';
import { withServerDatabase } from './startup-signals.js';
import type { ThymeFlags } from './thyme.js';
import { readTlsFiles, watchTlsFiles, type TlsPaths } from './tls-files.js';

/** The flags, with what the action read from the environment and the TLS files. */
type ServeFlags = ThymeFlags & {
  allowedHosts: string[];
  tls: { paths: TlsPaths; files: TlsFiles } | undefined;
  readinessChecks: ThymeOptions['readinessChecks'];
};

/** The action of `gredis thyme`, loaded only when it runs: its modules are the heavy ones. */
export async function runThyme(appName: string, flags: ThymeFlags): Promise<void> {
  const entry = requireApp(appName);
  const paths = tlsPaths(flags);
  const tls = paths && { paths, files: await readTlsFiles(paths) };
  const allowedHosts = allowedHostsFromEnv();
  const logger = createLogger({ verbosity: flags.verbosity, name: 'thyme' });
  const layer = openLayer(flags.layer, logger);
  // The metrics port outlives the stop: its /healthz answers 503 (closing) until
  // the process exits, rather than refusing probes while the worker and the
  // layer wind down.
  const metricsPort: { server?: Server } = {};
  const serveWith = (
    worker: Worker | undefined,
    readinessChecks: ServeFlags['readinessChecks'] = {},
  ) =>
    serve(
      entry,
      layer,
      { ...flags, allowedHosts, tls, readinessChecks },
      logger,
      worker,
      metricsPort,
    );
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
    await withServerDatabase(flags.database, logger, async (db) => {
      const app = (await prepareApplication(entry, db, logger))(layer);
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
    metricsPort.server?.close();
  }
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
  metricsPort: { server?: Server },
): Promise<StopReport> {
  const thyme = await startOrStop(worker, () => newThyme(entry, layer, flags, logger));
  // The metrics port opens first, and the stop handler goes on in the turn the
  // main port starts listening: a signal that came between the two found no
  // handler, so the process died of it and no socket got its 1001.
  if (flags.metricsPort !== undefined) {
    const { server, address } = await startOrStop(
      worker,
      () => serveMetrics(thyme.metricsSource, flags.metricsPort!, flags.metricsBind),
      { failed: metricsListenFailed(flags), thyme },
    );
    metricsPort.server = server;
    logger.info({ port: address.port }, metricsUrl(flags.metricsBind, address.port));
  }
  const serving = await startOrStop(worker, () => listen(thyme, flags), {
    failed: `cannot listen on ${flags.unixSocket ?? `${flags.bind}:${flags.port}`}`,
  });
  // A renewed certificate is served without a restart (open connections keep theirs).
  const unwatch =
    flags.tls &&
    watchTlsFiles(flags.tls.paths, flags.tls.files, (files) => thyme.replaceTls(files), logger);
  logger.info(
    {
      app: entry.name,
      ...layerLogFields(layer),
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
    slowClientTimeout: flags.slowClientTimeout,
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
