/**
 * Whether `value` can key the hashes that SECRET_KEY keys (session auth hashes,
 * stored session keys). Checked at run time as well as by type, since JavaScript
 * callers and casts get past the type, and an empty key keys by nothing.
 */
export function isUsableSecret(value: unknown): value is string {
  return typeof value === 'string' && value !== '';
}
