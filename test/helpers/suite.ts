import { suite as uvuSuite, type Callback, type Test } from 'uvu';
import { killLeftovers } from './processes.js';

let beforeHookFailed = false;
// uvu sets process.exitCode itself when it is done; an exit listener runs after it.
process.on('exit', () => {
  if (beforeHookFailed) process.exitCode = 1;
});

/**
 * uvu's `suite`, whose `before` hooks cannot fail in silence. uvu's runner
 * returns from a `finally` block, which swallows a `before` hook's error: the
 * suite prints "(0 / N)" with no reason and the process exits 0, so test/run.ts
 * counted a deployment that never started as a passed file. Here the error is
 * printed and the process exits 1. Every test file takes `suite` from here
 * (eslint refuses uvu's own). Once its last suite has run, the gredis processes
 * its tests left running are killed, and named (killLeftovers).
 */
export function suite<T = Record<string, unknown>>(name = '', context?: T): Test<T> {
  const test = uvuSuite<T>(name, context);
  const before = test.before;
  const guarded = (hook: Callback<T>): void =>
    before(async (state) => {
      try {
        await hook(state);
      } catch (error) {
        beforeHookFailed = true;
        console.error(`\n  a before hook of "${name}" failed, so none of its tests ran:`, error);
        throw error;
      }
    });
  test.before = Object.assign(guarded, { each: before.each });
  if (process.env.GREDIS_TEST_TIMES) timeEachTest(test);
  const run = test.run;
  test.run = () => {
    suitesToRun++;
    // After the suite's own after hooks; every file's suites are queued before any runs.
    test.after(() => {
      if (--suitesToRun > 0) return;
      for (const args of killLeftovers())
        console.error(`\n  a gredis process the tests left running was killed: ${args}`);
    });
    run();
  };
  return test;
}

/** Suites of this file not yet run to their end. */
let suitesToRun = 0;

/**
 * GREDIS_TEST_TIMES=1: prints each test's time (from its first before-each
 * hook to its first after-each hook) after its result: to find what makes a
 * file slow.
 */
function timeEachTest<T>(test: Test<T>): void {
  let started = 0;
  test.before.each(() => {
    started = performance.now();
  });
  test.after.each((state) => {
    const name = (state as { __test__?: string }).__test__ ?? '';
    const seconds = ((performance.now() - started) / 1000).toFixed(1);
    process.stderr.write(`\n    ${seconds.padStart(6)} s  ${name}\n`);
  });
}
