/**
 * The benchmarks' numeric flags: parsed with a clear error naming the flag.
 */

/** `value` as a number > 0, or `fallback` when the flag was not given. */
export function positiveNumber(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const parsed = Number(value);
  if (!Number.isFinite(parsed) || parsed <= 0) throw new Error(`--${name} must be > 0`);
  return parsed;
}

/**
 * As positiveNumber, and whole: counts such as clients or rounds (a fractional
 * window of credits would never run out).
 */
export function positiveCount(name: string, value: string | undefined, fallback: number): number {
  const parsed = positiveNumber(name, value, fallback);
  if (!Number.isInteger(parsed)) throw new Error(`--${name} must be a whole number`);
  return parsed;
}
