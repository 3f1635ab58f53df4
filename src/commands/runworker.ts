import { Command, Option } from 'commander';
import { EVENT_CHANNELS } from '../protocol.js';
import { DEFAULTS } from '../settings.js';
import { WORKER_DEFAULTS } from '../worker/defaults.js';
import { EXIT_ABANDONED } from './abandon.js';
import { metricsBindOption, metricsPortOption, type MetricsFlags } from './metrics.js';
import { databaseOption, layerOption, numberIn, verbosityOption } from './options.js';

export interface RunWorkerFlags extends MetricsFlags {
  /** Undefined when neither --layer nor CHANNEL_LAYER_URL gives one. */
  layer: string | undefined;
  database: string;
  verbosity: number;
  onlyChannels?: string[];
  excludeChannels?: string[];
  concurrency: number;
  eventTimeout: number;
  orphanCheck: number;
  stopTimeout: number;
}

export { EXIT_ABANDONED } from './abandon.js';

export function runWorkerCommand(): Command {
  return new Command('runworker')
    .description(
      'run a worker for APP: it handles the HTTP and WebSocket events interface servers put on the layer',
    )
    .argument('[app]', 'the application to run', DEFAULTS.app)
    .addOption(layerOption({ shared: true }))
    .addOption(databaseOption())
    .addOption(verbosityOption())
    .addOption(
      new Option(
        '--only-channels <glob...>',
        `handle only these channels (of ${EVENT_CHANNELS.join(', ')})`,
      ),
    )
    .addOption(new Option('--exclude-channels <glob...>', 'do not handle these channels'))
    .addOption(
      new Option('--concurrency <n>', 'events handled at once (async I/O)')
        .default(WORKER_DEFAULTS.concurrency)
        .argParser(numberIn(1, 100_000, true)),
    )
    .addOption(
      new Option(
        '--event-timeout <seconds>',
        "a socket's event running longer than this is presumed lost and the socket's next event runs",
      )
        .default(60)
        .argParser(numberIn(1, 86_400)),
    )
    .addOption(
      new Option(
        '--orphan-check <seconds>',
        'while handling WebSocket events, how often to look for sockets of interface servers that died, to disconnect them (0: never)',
      )
        .default(WORKER_DEFAULTS.orphanCheck)
        .argParser(numberIn(0, 86_400)),
    )
    .addOption(
      new Option(
        '--stop-timeout <seconds>',
        `at SIGTERM, SIGINT or SIGHUP, how long events in progress may take to finish; those still running then are abandoned (lost, their sockets' next events served by other workers at once) and the worker exits ${EXIT_ABANDONED}`,
      )
        .default(WORKER_DEFAULTS.stopTimeout)
        .argParser(numberIn(0, 86_400)),
    )
    .addOption(metricsPortOption())
    .addOption(metricsBindOption())
    .action(async (appName: string, flags: RunWorkerFlags) => {
      const { runWorker } = await import('./runworker-action.js');
      await runWorker(appName, flags);
    });
}
