import { Command, Option } from 'commander';
import { appNames } from '../apps/registry.js';
import type { ThymeOptions } from '../server/index.js';
import { DEFAULTS } from '../settings.js';
import { EXIT_ABANDONED } from './abandon.js';
import {
  metricsBindOption,
  metricsPortClash,
  metricsPortOption,
  type MetricsFlags,
} from './metrics.js';
import {
  bindAddress,
  databaseOption,
  layerOption,
  numberIn,
  socketPath,
  verbosityOption,
} from './options.js';

/** The flags; those named as Thyme's options are passed on as they are. */
export interface ThymeFlags
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
      | 'slowClientTimeout'
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
        'close a WebSocket with 1013 when more than this has waited to be written for --slow-client-timeout as another message comes (a client not reading), or at once when 16 times this waits',
      )
        .default(DEFAULTS.outgoingBufferLimit)
        .argParser(numberIn(1024, 2 ** 31, true)),
    )
    .addOption(
      new Option(
        '--slow-client-timeout <seconds>',
        'how long a WebSocket may have more than --outgoing-buffer-limit waiting to be written',
      )
        .default(DEFAULTS.slowClientTimeout)
        .argParser(numberIn(0.1, 3600)),
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
        `at SIGTERM, SIGINT or SIGHUP, how long the stop may wait for HTTP responses in flight; those no worker has answered by then get 503, streamed ones are cut off. With memory:// (its own workers) it bounds the whole stop: events still running then are abandoned (as runworker's) and thyme exits ${EXIT_ABANDONED}`,
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
    .action(async (appName: string, flags: ThymeFlags, command: Command) => {
      const clash = flags.unixSocket ? undefined : metricsPortClash(flags, flags.bind, flags.port);
      if (clash) command.error(clash, { exitCode: 2, code: 'gredis.metricsPort' });
      const { runThyme } = await import('./thyme-action.js');
      await runThyme(appName, flags);
    });
}
