/** `url` (a Redis layer URL) with the layer's key prefix as its query (replacing any). */
export function withPrefix(url: string, prefix: string): string {
  const parsed = new URL(url);
  parsed.searchParams.set('prefix', prefix);
  return parsed.toString();
}
