/** Its port, when a URL's authority has one: `redis://h:99999/0` → "99999". */
const PORT = /^[a-z][a-z0-9+.-]*:\/\/(?:[^@/?#]*@)?(?:\[[^\]]*\]|[^:/?#]*):(\d+)(?:[/?#]|$)/i;

/**
 * Why `new URL(text)` refused `text`, in words a user can act on. The URL parser
 * only says "Invalid URL"; the usual cause, once the scheme is right, is a port
 * out of range.
 */
export function whyNotUrl(text: string): string {
  const port = PORT.exec(text)?.[1];
  if (port !== undefined && Number(port) > 65535) return `port ${port} is out of range (0–65535)`;
  return 'not a URL';
}
