/**
 * Host and Origin checks as Django does them: `Host` must be an allowed host for
 * every request, and a WebSocket's `Origin` must name an allowed host too (no
 * Origin is refused: browsers always send one, so its absence means a script
 * that could forge anything else).
 */
export class AllowedHosts {
  private readonly any: boolean;
  private readonly exact = new Set<string>();
  private readonly suffixes: string[] = [];

  constructor(patterns: readonly string[]) {
    this.any = patterns.includes('*');
    for (const raw of patterns) {
      const pattern = raw.trim().toLowerCase();
      if (pattern === '' || pattern === '*') continue;
      if (pattern.startsWith('.')) this.suffixes.push(pattern);
      else this.exact.add(pattern);
    }
  }

  /** Checks a `Host` header value (with or without port). */
  allowsHost(header: string | undefined): boolean {
    if (header === undefined) return false;
    const host = stripPort(header.trim().toLowerCase());
    if (host === undefined) return false;
    return this.allowsName(host);
  }

  /**
   * Why a `Host` is refused, in the words of Django's DisallowedHost (a Python
   * repr of the header, and of the domain it names, lowercased).
   */
  refusal(header: string | undefined): string {
    const raw = header ?? '';
    const domain = stripPort(raw.trim().toLowerCase());
    const invalid = `Invalid HTTP_HOST header: ${pythonRepr(raw)}.`;
    return domain === undefined
      ? `${invalid} The domain name provided is not valid according to RFC 1034/1035.`
      : `${invalid} You may need to add ${pythonRepr(domain)} to ALLOWED_HOSTS.`;
  }

  /** Checks an `Origin` header value (scheme://host[:port]). */
  allowsOrigin(header: string | undefined): boolean {
    if (header === undefined || header === 'null') return this.any;
    let url: URL;
    try {
      url = new URL(header);
    } catch {
      return false;
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') return false;
    return this.allowsName(url.hostname.toLowerCase());
  }

  private allowsName(host: string): boolean {
    if (this.any || this.exact.has(host)) return true;
    return this.suffixes.some((suffix) => host.endsWith(suffix) || host === suffix.slice(1));
  }
}

/**
 * "example.com:8000" → "example.com", "[::1]:80" → "[::1]"; undefined when
 * malformed. As Django's split_domain_port: a name's one trailing dot is
 * dropped ("example.com." is the fully qualified example.com, and browsers
 * send the Host as typed), and a bracketed literal must look like IPv6.
 */
function stripPort(host: string): string | undefined {
  if (host.startsWith('[')) {
    const end = host.indexOf(']');
    if (end === -1) return undefined;
    const rest = host.slice(end + 1);
    if (rest !== '' && !/^:\d{1,5}$/.test(rest)) return undefined;
    const literal = host.slice(0, end + 1);
    return /^\[[a-f0-9]*:[a-f0-9.:]+\]$/.test(literal) ? literal : undefined;
  }
  const [name, port, extra] = host.split(':');
  if (extra !== undefined || name === undefined) return undefined;
  if (port !== undefined && !/^\d{1,5}$/.test(port)) return undefined;
  if (!/^[a-z0-9.-]+$/.test(name)) return undefined;
  const domain = name.endsWith('.') ? name.slice(0, -1) : name;
  return domain === '' ? undefined : domain;
}

/** A string as Python's repr() writes one: single-quoted unless it holds a single quote and no double. */
function pythonRepr(text: string): string {
  const quote = text.includes("'") && !text.includes('"') ? '"' : "'";
  const escaped = text.replace(/\\/g, '\\\\').replaceAll(quote, `\\${quote}`);
  return `${quote}${escaped}${quote}`;
}
