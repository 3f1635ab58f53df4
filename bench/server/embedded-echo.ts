/**
 * Bench-only server: Thyme and an echo worker in one process on the in-process
 * layer (memory://), what `gredis thyme` with memory:// will be once the worker
 * framework runs apps in process. Logs JSON lines; "Thyme listening" has the port.
 *
 *   node dist/bench/server/embedded-echo.js [--port 0] [--receivers 1] [--ping-timeout S]
 */
import { parseArgs } from 'node:util';
import { openLayer } from '../../src/commands/layer.js';
import { stopOnSignal } from '../../src/commands/lifecycle.js';
import { createLogger } from '../../src/logger.js';
import { Thyme } from '../../src/server/index.js';
import { EchoWorker } from '../lib/echo-worker.js';

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: '0' },
    receivers: { type: 'string', default: '1' },
    // As `gredis thyme --ping-timeout`; Thyme's default when absent.
    'ping-timeout': { type: 'string' },
  },
});

const logger = createLogger({ name: 'embedded-echo' });
// openLayer, as the commands do: the event channels get their production capacities.
const layer = openLayer('memory://', logger);
const worker = new EchoWorker(layer, Number(values.receivers), (error) => {
  // The first few only: under a persistent fault every message would log.
  if (worker.failures <= 3) logger.warn({ err: error }, 'echo reply failed');
}).start();
const pingTimeout = values['ping-timeout'];
const thyme = new Thyme(layer, {
  logger,
  // The echo worker speaks the layer protocol only (no lanes): nothing would take
  // the deposits, as with any non-Gredis worker.
  announceEvents: false,
  // As the Redis-layer Thyme's flags (server-processes.ts): checked on every message, never binding.
  websocketRate: 1e6,
  websocketBurst: 1e6,
  ...(pingTimeout === undefined ? {} : { pingTimeout: Number(pingTimeout) }),
});
await thyme.listen(Number(values.port), '127.0.0.1');
await stopOnSignal(logger, async () => {
  await thyme.close();
  await worker.stop();
  await layer.close();
});
// Nothing should be left running, but a stray handle must not keep a stopped server alive.
process.exit(0);
