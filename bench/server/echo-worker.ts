/**
 * Bench-only worker process: the echo application of bench/lib/echo-worker.ts on
 * a shared layer (e.g. Redis), serving a separate Thyme process. Logs one JSON line
 * {"msg": "echo worker ready"} once its receive loops run.
 *
 *   node dist/bench/server/echo-worker.js --layer 'redis://127.0.0.1:6379/0?prefix=bench.x.' [--receivers 50]
 */
import { parseArgs } from 'node:util';
import { openLayer } from '../../src/commands/layer.js';
import { stopOnSignal } from '../../src/commands/lifecycle.js';
import { createLogger } from '../../src/logger.js';
import { EchoWorker } from '../lib/echo-worker.js';

const { values } = parseArgs({
  options: {
    layer: { type: 'string' },
    receivers: { type: 'string', default: '50' },
  },
});
if (!values.layer) throw new Error('--layer is required');

const logger = createLogger({ name: 'echo-worker' });
const layer = openLayer(values.layer, logger);
const worker = new EchoWorker(layer, Number(values.receivers), (error) => {
  // The first few only: under a persistent fault every message would log.
  if (worker.failures <= 3) logger.warn({ err: error }, 'echo reply failed');
}).start();
logger.info({ receivers: Number(values.receivers) }, 'echo worker ready');
await stopOnSignal(logger, async () => {
  await worker.stop();
  await layer.close();
  logger.info({ echoed: worker.echoed, failures: worker.failures }, 'echo worker stopped');
});
// As in embedded-echo.ts: a stray handle must not keep a stopped worker alive.
process.exit(0);
