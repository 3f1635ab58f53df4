/** Python's urllib.parse.quote, which Django's redirects and URIs are made with. */

const ALWAYS_SAFE = /^[A-Za-z0-9_.\-~]$/;

/** Django's escape_uri_path: what a path keeps unescaped in a URI. */
export const PATH_SAFE = "/:@&+$,-_.!~*'()";
/** Django's iri_to_uri: what a query string keeps (its "%" escapes included). */
export const QUERY_SAFE = "/#%[]=:;$&()+,!?*@'~";

/**
 * Percent-encodes every byte but ASCII letters, digits, "_.-~" and those in
 * `safe`, as quote(bytes, safe) does. Text is encoded as UTF-8 first.
 */
export function quote(value: string | Uint8Array, safe = '/'): string {
  const bytes = typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
  let out = '';
  for (const byte of bytes) {
    const char = String.fromCharCode(byte);
    out +=
      byte < 0x80 && (ALWAYS_SAFE.test(char) || safe.includes(char))
        ? char
        : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}
