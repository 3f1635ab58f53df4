import * as assert from 'uvu/assert';

type ErrorClass = abstract new (...args: never[]) => Error;

/** Asserts that `action` rejects with an instance of `expected`; returns the error. */
export async function rejects<E extends Error>(
  action: () => Promise<unknown>,
  expected: ErrorClass & { prototype: E },
  message?: string,
): Promise<E> {
  let outcome: unknown;
  try {
    await action();
  } catch (error) {
    outcome = error;
  }
  if (outcome === undefined)
    assert.unreachable(message ?? `expected a ${expected.name}, but nothing was thrown`);
  assert.instance(
    outcome,
    expected,
    message ?? `expected a ${expected.name}, got ${String(outcome)}`,
  );
  return outcome as E;
}
