/** Where a URL starts in a text: its scheme. */
const SCHEME = /[a-z][a-z0-9+.-]*:\/\//gi;
/** Where a URL in a message ends, at the latest. */
const URL_END = /[\s"'`<>]/;
/** Query parameters whose value is a secret (password=, sentinel_password=, …). */
const SECRET_PARAM = /([?&][^=&#]*(?:pass|secret|token)[^=&#]*=)[^&#]*/gi;

/**
 * The text with the secrets of every URL in it replaced by "***", for messages
 * and logs, whether or not the URL parses: a password (everything from the
 * first ":" of the user part to the last "@" before the host, since an
 * unescaped "/", "#" or "@" in a password is just what makes such a URL
 * unparseable) and the values of query parameters that name a secret. It hides
 * too much rather than too little: an "@" later in the URL hides the host too.
 */
export function redactSecrets(text: string): string {
  const starts = [...text.matchAll(SCHEME)].map((match) => match.index);
  if (starts.length === 0) return text;
  let out = text.slice(0, starts[0]);
  starts.forEach((start, i) => {
    const next = starts[i + 1] ?? text.length;
    const stop = text.slice(start, next).search(URL_END);
    const end = stop === -1 ? next : start + stop;
    out += redactOne(text.slice(start, end)) + text.slice(end, next);
  });
  return out;
}

function redactOne(url: string): string {
  const hostStart = url.indexOf('://') + 3;
  const at = url.lastIndexOf('@');
  let shown = url;
  if (at > hostStart) {
    const colon = url.indexOf(':', hostStart);
    if (colon !== -1 && colon < at) shown = `${url.slice(0, colon + 1)}***${url.slice(at)}`;
  }
  return shown.replace(SECRET_PARAM, '$1***');
}
