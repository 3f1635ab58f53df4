import { Command, Option } from 'commander';
import { appNames, findApp } from '../apps/registry.js';
import { createLogger } from '../logger.js';
import { Thyme } from '../server/index.js';
import { DEFAULTS, ENV, env } from '../settings.js';
import { CommandFailed } from './errors.js';
import { openLayer } from './layer.js';
import { stopOnSignal } from './lifecycle.js';
import { layerOption, numberIn, verbosityOption } from './options.js';

interface ThymeFlags {
  bind: string;
  port: number;
  verbosity: number;
  accessLog?: string;
  pingInterval: number;
  pingTimeout: number;
  httpTimeout: number;
  websocketConnectTimeout: number;
  websocketMaxMessageSize: number;
  httpMaxBodySize: number;
  outgoingBufferLimit: number;
  layer: string;
  metricsPort?: number;
  metricsBind: string;
}

export function thymeCommand(): Command {
  return new Command('thyme')
    .description(
      "run the interface server (HTTP and WebSocket) for APP; with memory:// it also runs APP's workers",
    )
    .argument('<app>', `the application to serve (${appNames().join(', ')})`)
    .addOption(new Option('-b, --bind <address>', 'address to listen on').default(DEFAULTS.bind))
    .addOption(
      new Option('-p, --port <port>', 'port to listen on (0 = any free port)')
        .default(DEFAULTS.port)
        .argParser(numberIn(0, 65535, true)),
    )
    .addOption(verbosityOption())
    .addOption(layerOption())
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
      new Option('--http-timeout <seconds>', 'answer 504 when no worker responds within this')
        .default(DEFAULTS.httpTimeout)
        .argParser(numberIn(0.1, 86400)),
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
        '--metrics-port <port>',
        'serve /metrics (Prometheus) and /healthz on this separate port',
      ).argParser(numberIn(0, 65535, true)),
    )
    .addOption(
      new Option('--metrics-bind <address>', 'address for the metrics port').default('127.0.0.1'),
    )
    .action(async (appName: string, flags: ThymeFlags) => {
      const app = findApp(appName);
      if (!app)
        throw new CommandFailed(`unknown app "${appName}" (known: ${appNames().join(', ')})`, 2);
      const logger = createLogger({ verbosity: flags.verbosity, name: 'thyme' });
      const layer = openLayer(flags.layer, logger);
      const allowedHosts = env(ENV.allowedHosts)?.split(',') ?? DEFAULTS.allowedHosts;
      const thyme = new Thyme(layer, {
        allowedHosts,
        staticDir: app.staticDir,
        pingInterval: flags.pingInterval,
        pingTimeout: flags.pingTimeout,
        httpTimeout: flags.httpTimeout,
        websocketConnectTimeout: flags.websocketConnectTimeout,
        websocketMaxMessageSize: flags.websocketMaxMessageSize,
        httpMaxBodySize: flags.httpMaxBodySize,
        outgoingBufferLimit: flags.outgoingBufferLimit,
        accessLog: flags.accessLog,
        logger,
      });
      let address;
      try {
        address = await thyme.listen(flags.port, flags.bind);
      } catch (error) {
        await layer.close();
        throw new CommandFailed(
          `cannot listen on ${flags.bind}:${flags.port}: ${(error as Error).message}`,
        );
      }
      if (flags.metricsPort !== undefined) {
        const metrics = await thyme.listenMetrics(flags.metricsPort, flags.metricsBind);
        logger.info(
          { port: metrics.port },
          `metrics on http://${flags.metricsBind}:${metrics.port}/metrics`,
        );
      }
      logger.info(
        { app: app.name, layer: layer.health().hosts.map((h) => h.url) },
        `serving ${app.name} on http://${address.address}:${address.port}/`,
      );
      await stopOnSignal(logger, async () => {
        await thyme.close();
        await layer.close();
      });
    });
}
