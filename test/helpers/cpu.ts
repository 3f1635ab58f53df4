import * as assert from 'uvu/assert';

/**
 * The CPU time, in ms (user and system), this process spends until `work`
 * settles: time on the CPU, not on the clock, so another process's load does
 * not count. With Thyme and the worker in this process (an embedded chat),
 * that is what a request costs the server, and the client's share. The garbage
 * made before is collected first (tests run with --expose-gc), so that its
 * collection is not counted against `work`.
 */
export async function cpuMsOf(work: () => Promise<unknown>): Promise<number> {
  (globalThis as { gc?: () => void }).gc?.();
  const before = process.cpuUsage();
  await work();
  const used = process.cpuUsage(before);
  return (used.user + used.system) / 1000;
}

/**
 * Asserts that a request (its CPU times, `measured`, in several rounds) costs
 * about what its `baseline` does: less than twice it plus 50 ms, comparing the
 * least of each, as the machine's other work only ever adds. The bound is far
 * from the 5-10 times more of work that grows with a field's size (NFKC, an
 * array of its characters), and from the noise of a busy 2-core machine.
 */
export function assertCostsAsMuch(measured: number[], baseline: number[], what: string): void {
  const least = Math.min(...measured);
  const base = Math.min(...baseline);
  const all = (times: number[]): string => times.map((ms) => ms.toFixed(0)).join(', ');
  assert.ok(
    least < 2 * base + 50,
    `${what}: at least ${least.toFixed(0)} ms of CPU, against ${base.toFixed(0)} ms (${all(measured)} against ${all(baseline)})`,
  );
}

/**
 * The CPU times of each of `requests`, sent `rounds` times in turn (so that
 * the machine's moments of load fall on all alike), by name.
 */
export async function cpuMsOfEach<Name extends string>(
  requests: Record<Name, () => Promise<unknown>>,
  rounds = 5,
): Promise<Record<Name, number[]>> {
  const names = Object.keys(requests) as Name[];
  const times = Object.fromEntries(names.map((name) => [name, []])) as unknown as Record<
    Name,
    number[]
  >;
  for (let round = 0; round < rounds; round++)
    for (const name of names) times[name].push(await cpuMsOf(requests[name]));
  return times;
}
