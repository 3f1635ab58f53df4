/**
 * Logging of failures: a burst of like lines is one line, then a count per
 * interval; a service away is one line without a stack, a bug keeps its stack.
 */
import { suite } from './helpers/suite.js';
import * as assert from 'uvu/assert';
import { LayerUnavailable } from '../src/layer/errors.js';
import { briefError, BurstLogger, createLogger, serializeError } from '../src/logger.js';
import { logAppFailure } from '../src/worker/failures.js';
import { captureLogs, ERROR, WARN } from './helpers/log-capture.js';
import { sleep, waitFor } from './helpers/wait.js';

const test = suite('burst logger');

test('the first of a burst is written in full; the rest are counted at the end of the interval', async () => {
  const { logger, lines } = captureLogs();
  const burst = new BurstLogger(logger, 300);
  for (let i = 0; i < 5; i++) burst.warn({ socket: i }, 'the layer is away');
  burst.warn({}, 'something else');
  assert.equal(
    lines.map((line) => [line.msg, line.socket]),
    [
      ['the layer is away', 0],
      ['something else', undefined],
    ],
  );
  await waitFor(() => lines.length === 3, 2000, 'the count');
  // Written at the interval's end, it says when the last one came (here: at once).
  assert.match(
    String(lines[2]!.msg),
    /^the layer is away \(4 more like it in 0\.3 s, the last \d+\.\d s ago\)$/,
  );
  assert.is(lines[2]!.more, 4);
  const lastAt = Date.parse(String(lines[2]!.lastAt));
  assert.ok(Date.now() - lastAt >= 250 && Date.now() - lastAt < 2000, 'lastAt: when the last came');
  assert.is(lines[2]!.level, WARN);
  // Quiet for an interval: the next one is written in full again.
  await sleep(350);
  burst.warn({ socket: 9 }, 'the layer is away');
  assert.is(lines.length, 4);
  assert.equal([lines[3]!.msg, lines[3]!.socket], ['the layer is away', 9]);
});

test('BurstLogger.for gives every caller of one logger the same counts', () => {
  const { logger } = captureLogs();
  assert.is(BurstLogger.for(logger), BurstLogger.for(logger));
  assert.is.not(BurstLogger.for(logger), BurstLogger.for(captureLogs().logger));
});

test('briefError: the message and its cause in one line', () => {
  const error = new Error('channel layer host a is unavailable', {
    cause: new Error('max retries'),
  });
  assert.equal(briefError(error), { error: 'channel layer host a is unavailable: max retries' });
  assert.equal(briefError('plain'), { error: 'plain' });
});

test('logAppFailure: a layer or database away is one line without a stack; a bug keeps its stack', () => {
  const { logger, lines } = captureLogs();
  const away = new LayerUnavailable('127.0.0.1:6379', { cause: new Error('ECONNREFUSED') });
  const lost = Object.assign(new Error('terminating connection due to administrator command'), {
    code: '57P01',
  });
  for (let i = 0; i < 3; i++) logAppFailure(logger, away, { path: '/chat/' }, 'handler failed');
  logAppFailure(logger, lost, {}, 'view failed');
  logAppFailure(logger, new TypeError('x is undefined'), { path: '/' }, 'view failed');
  assert.equal(
    lines.map((line) => [line.level, line.msg, 'err' in line]),
    [
      [WARN, 'handler failed', false],
      [WARN, 'view failed', false],
      [ERROR, 'view failed', true],
    ],
  );
  assert.is(lines[0]!.error, 'channel layer host 127.0.0.1:6379 is unavailable: ECONNREFUSED');
  assert.match(String((lines[2]!.err as { stack: string }).stack), /TypeError: x is undefined/);
});

test("an error's Redis command goes to the log without its arguments (AUTH's are the password)", () => {
  const error = Object.assign(new Error('WRONGPASS invalid username-password pair'), {
    command: { name: 'auth', args: ['alice', 'LEAKpw'] },
    previousErrors: [
      Object.assign(new Error('again'), { command: { name: 'auth', args: ['alice', 'LEAKpw'] } }),
    ],
  });
  const shown = JSON.stringify(serializeError(error));
  assert.not.match(shown, /LEAKpw/);
  assert.match(shown, /"command":\{"name":"auth"\}/);
  assert.match(shown, /WRONGPASS/);
});

test('GREDIS_LOG_LEVEL is read whatever its case', () => {
  const before = process.env.GREDIS_LOG_LEVEL;
  try {
    process.env.GREDIS_LOG_LEVEL = 'WARN';
    assert.is(createLogger().level, 'warn');
    process.env.GREDIS_LOG_LEVEL = 'Bogus';
    assert.throws(() => createLogger(), /GREDIS_LOG_LEVEL must be one of/);
  } finally {
    if (before === undefined) delete process.env.GREDIS_LOG_LEVEL;
    else process.env.GREDIS_LOG_LEVEL = before;
  }
});

test.run();
