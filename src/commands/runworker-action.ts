import type { Server } from 'node:http';
import { appNames } from '../apps/registry.js';
import { globToRegExp } from '../glob.js';
import type { ChannelLayer } from '../layer/types.js';
import { createLogger, type Logger } from '../logger.js';
import { serveMetrics } from '../metrics/endpoint.js';
import { EVENT_CHANNELS } from '../protocol.js';
import { Worker } from '../worker/runner.js';
import { exitAbandoned } from './abandon.js';
import { prepareApplication, requireApp } from './app-runtime.js';
import { CommandFailed } from './errors.js';
import { isMemoryLayerUrl, layerLogFields, openLayer } from './layer.js';
import { stopOnSignal } from './lifecycle.js';
import { withServerDatabase } from './startup-signals.js';
import { metricsListenFailed, metricsUrl, type MetricsFlags } from './metrics.js';
import type { RunWorkerFlags } from './runworker.js';

/** The action of `gredis runworker`, loaded only when it runs: its modules are the heavy ones. */
export async function runWorker(appName: string, flags: RunWorkerFlags): Promise<void> {
  const entry = requireApp(appName);
  const channels = selectChannels(flags.onlyChannels, flags.excludeChannels);
  const logger = createLogger({ verbosity: flags.verbosity, name: 'worker' });
  const layerUrl = flags.layer;
  if (layerUrl === undefined || isMemoryLayerUrl(layerUrl))
    throw new CommandFailed(
      "runworker needs a shared channel layer (e.g. --layer redis://127.0.0.1:6379/0): with the in-process layer, thyme runs the app's workers itself, in its own process",
      2,
    );
  await withServerDatabase(flags.database, logger, async (db) => {
    const build = await prepareApplication(entry, db, logger);
    // Connected only now: a worker that cannot start on its database (not
    // migrated, no SECRET_KEY) says that alone, no layer warnings before it.
    const layer = openLayer(layerUrl, logger, { laneLease: flags.eventTimeout });
    // A stop's wind-down ends here (the worker's report says when): the layer's
    // close shares it. Undefined when no stop ran: the close's own bound then.
    let windDownEnd: number | undefined;
    // Closed last: /healthz answers 503 (stopping) until the process exits,
    // rather than refusing probes while the layer winds down.
    let metrics: Server | undefined;
    try {
      const worker = new Worker(layer, build(layer), {
        channels,
        concurrency: flags.concurrency,
        orphanCheck: flags.orphanCheck,
        stopTimeout: flags.stopTimeout,
        logger,
      });
      // The metrics port opens before the worker takes an event, and the stop
      // handler goes on in the same turn as start(): a signal that came while
      // the port opened found no handler, so the process died of it, taking
      // the events in flight with it.
      metrics = await serveWorkerMetrics(worker, flags, logger);
      worker.start();
      const announcing = announceRunning(layer, logger, entry.name, channels);
      const report = await stopOnSignal(logger, async () => {
        announcing.cancel();
        return worker.stop();
      });
      windDownEnd = report.windDownEnd;
      if (report.abandoned > 0) await exitAbandoned(layer, db, logger, windDownEnd);
    } finally {
      await layer.close(windDownEnd);
      metrics?.close();
    }
  });
}

/**
 * How long the layer's first connection may take before the worker says it
 * waits: a Redis that is up answers within milliseconds, and "waiting" at every
 * healthy start would read as a fault.
 */
const FIRST_CONNECTION_GRACE_MS = 1000;

/**
 * Logs that the worker runs once the layer has answered. With the layer
 * unreachable at start its receives wait for it (retrying for as long as it
 * takes), and "running" then would read as healthy: past the first
 * connection's grace it says it waits, and which hosts it waits for, until
 * then; /healthz is 503 meanwhile. cancel() stops it saying either (a stop).
 */
function announceRunning(
  layer: ChannelLayer,
  logger: Logger,
  app: string,
  channels: string[],
): { cancel(): void } {
  let cancelled = false;
  const running = (): void => {
    if (!cancelled)
      logger.info({ app, channels, ...layerLogFields(layer) }, `worker for ${app} running`);
  };
  const waiting = setTimeout(() => {
    if (cancelled) return;
    const hosts = layer.health().hosts.filter((host) => host.status !== 'ready');
    logger.info(
      { app, hosts: hosts.map((host) => host.url) },
      `worker for ${app} waiting for the channel layer`,
    );
  }, FIRST_CONNECTION_GRACE_MS);
  void layer.whenReady().then(() => {
    clearTimeout(waiting);
    running();
  });
  return {
    cancel: () => {
      cancelled = true;
      clearTimeout(waiting);
    },
  };
}

/** Serves the worker's /metrics and /healthz when asked to; stops the worker if it cannot. */
async function serveWorkerMetrics(
  worker: Worker,
  flags: MetricsFlags,
  logger: Logger,
): Promise<Server | undefined> {
  if (flags.metricsPort === undefined) return undefined;
  try {
    const { server, address } = await serveMetrics(
      { metrics: () => worker.renderMetrics(), health: () => worker.health() },
      flags.metricsPort,
      flags.metricsBind,
    );
    logger.info({ port: address.port }, metricsUrl(flags.metricsBind, address.port));
    return server;
  } catch (error) {
    await worker.stop();
    throw new CommandFailed(`${metricsListenFailed(flags)}: ${(error as Error).message}`);
  }
}

function selectChannels(only: string[] | undefined, exclude: string[] | undefined): string[] {
  const matches = (globs: string[]) => (channel: string) =>
    globs.some((glob) => globToRegExp(glob).test(channel));
  // A glob that names no channel is a typo (http.requests), or the app's name
  // swallowed by the variadic flag: silently ignoring it would change what runs.
  for (const [flag, globs] of [
    ['--only-channels', only],
    ['--exclude-channels', exclude],
  ] as const) {
    const unmatched = globs?.find((glob) => !EVENT_CHANNELS.some(matches([glob])));
    if (unmatched !== undefined)
      throw new CommandFailed(
        `${flag} ${JSON.stringify(unmatched)} matches no channel (the channels: ${EVENT_CHANNELS.join(', ')})${appNames().includes(unmatched) ? "; give the app's name before the flag" : ''}`,
        2,
      );
  }
  let channels = [...EVENT_CHANNELS];
  if (only) channels = channels.filter(matches(only));
  if (exclude) channels = channels.filter((channel) => !matches(exclude)(channel));
  if (channels.length === 0)
    throw new CommandFailed(
      `no channels left to handle (choose from ${EVENT_CHANNELS.join(', ')})`,
      2,
    );
  return channels;
}
