/**
 * Protocol headers (byte pairs) as a map of lower-case name → value. Repeated
 * fields are combined with ", " (RFC 9110 §5.3), cookies with "; ".
 * Anything that is not a [bytes, bytes] pair is ignored.
 */
export function headerMap(list: unknown): Map<string, string> {
  const map = new Map<string, string>();
  if (!Array.isArray(list)) return map;
  for (const pair of list) {
    if (!Array.isArray(pair) || pair.length !== 2) continue;
    const [name, value] = pair as unknown[];
    if (!(name instanceof Uint8Array) || !(value instanceof Uint8Array)) continue;
    const key = Buffer.from(name).toString('latin1').toLowerCase();
    const text = Buffer.from(value).toString('latin1');
    const previous = map.get(key);
    map.set(
      key,
      previous === undefined ? text : `${previous}${key === 'cookie' ? '; ' : ', '}${text}`,
    );
  }
  return map;
}

/**
 * The origin of the site a request was made to, as a page of it would send in
 * `Origin`: the scope's scheme (a page at https:// opens wss://) and its Host.
 */
export function siteOrigin(scheme: string, host: string): string {
  return `${scheme === 'https' || scheme === 'wss' ? 'https' : 'http'}://${host}`;
}
