import type { IncomingMessage } from 'node:http';
import type { Address, HeaderList } from '../protocol.js';

/** A request target split into the protocol's decoded path and raw query bytes. */
export interface Target {
  path: string;
  query: Uint8Array;
  /**
   * The authority (`host[:port]`) of an absolute-form target, `GET
   * http://example.com/chat/ HTTP/1.1`, which a server must accept (RFC 9112
   * §3.2.2); undefined for the usual origin form, `GET /chat/ HTTP/1.1`.
   */
  authority?: string;
}

/** An absolute-form target: the scheme, the authority, then the path and query. */
const ABSOLUTE_FORM = /^https?:\/\/([^/?#]*)(.*)$/is;

/** Splits `req.url`; undefined when it is malformed (its percent-encoding, a fragment, say). */
export function parseTarget(url: string | undefined): Target | undefined {
  let raw = url ?? '/';
  let authority: string | undefined;
  const absolute = ABSOLUTE_FORM.exec(raw);
  if (absolute) {
    authority = absolute[1]!;
    // An http(s) URI has a host (RFC 9110 §4.2.1), and no userinfo a sender
    // may use (§4.2.4): what the client meant by one is anybody's guess.
    if (authority === '' || authority.includes('@')) return undefined;
    // http://example.com and http://example.com?q name the path "/" (§4.2.3).
    const rest = absolute[2]!;
    raw = rest.startsWith('/') ? rest : `/${rest}`;
  }
  // A fragment is the client's alone and never sent (RFC 9112 §3.2: no "#" in
  // a request target). Node lets one through: it would reach the worker in the
  // path ("/p#x", the same as a decoded "/p%23x") or the query_string, which
  // none of them names.
  if (raw.includes('#')) return undefined;
  const question = raw.indexOf('?');
  const rawPath = question === -1 ? raw : raw.slice(0, question);
  const query = question === -1 ? '' : raw.slice(question + 1);
  if (!rawPath.startsWith('/')) return undefined;
  // A % not followed by two hex digits breaks RFC 3986: the target is malformed.
  if (/%(?![0-9a-f]{2})/i.test(rawPath)) return undefined;
  const path = decodePercents(rawPath);
  if (path.includes('\0')) return undefined;
  const target: Target = { path, query: Buffer.from(query, 'latin1') };
  if (authority !== undefined) target.authority = authority;
  return target;
}

/**
 * The target of the server-wide OPTIONS, `OPTIONS * HTTP/1.1` (asterisk-form,
 * RFC 9112 §3.2.4): a question about the server, not about a resource, so
 * Thyme answers it itself (route) rather than hand a worker the path "*",
 * which no application routes.
 */
export const ASTERISK: Target = Object.freeze({ path: '*', query: new Uint8Array(0) });

/**
 * The request's target: ASTERISK for `OPTIONS *`, otherwise as parseTarget
 * splits it. Only OPTIONS may have the asterisk (§3.2.4): `GET *` stays
 * malformed (undefined).
 */
export function requestTarget(req: IncomingMessage): Target | undefined {
  if (req.url === '*' && req.method === 'OPTIONS') return ASTERISK;
  return parseTarget(req.url);
}

/** Bytes that are no UTF-8 become U+FFFD; never a BOM taken off (a path starts with "/" anyway). */
const UTF8 = new TextDecoder('utf-8', { ignoreBOM: true });

/**
 * Percent-decodes a well-formed path as UTF-8. Escaped bytes that are no UTF-8
 * (%E9, Latin-1 "é" from an old client) are still a valid URI: each bad
 * sequence becomes U+FFFD, as Daphne and uvicorn decode (Python's unquote), so
 * the application answers such a path like any other, where
 * decodeURIComponent would throw.
 */
function decodePercents(rawPath: string): string {
  if (!rawPath.includes('%')) return rawPath;
  const bytes = rawPath.replace(/%([0-9a-f]{2})/gi, (_, hex: string) =>
    String.fromCharCode(parseInt(hex, 16)),
  );
  return UTF8.decode(Buffer.from(bytes, 'latin1'));
}

/**
 * Why a request with an Upgrade header is refused when it declares a body:
 * Node hands whatever follows the headers over as upgrade data (declaresBody).
 */
export const BODY_WITH_UPGRADE = 'a request body cannot come with this Upgrade header';

/**
 * Whether the request line names HTTP/2 or later. llhttp takes `HTTP/2.0` (for
 * HTTP/2's preface) and Node would serve it as HTTP/1.1, the worker told
 * http_version "2.0"; but HTTP/2 has no request line (RFC 9113 §3: binary
 * frames after that preface), so such a client speaks a version Thyme does not:
 * 505 (RFC 9110 §15.6.6).
 */
export function namesHttp2OrLater(req: IncomingMessage): boolean {
  return req.httpVersionMajor >= 2;
}

/**
 * Whether the request line names no HTTP/1.x version: llhttp takes a line with
 * none (`GET /path`, HTTP/0.9's) as HTTP/0.9, as it does `HTTP/0.9` itself,
 * and reads headers after it all the same; Node would serve it as HTTP/1.1.
 * An HTTP/0.9 client reads no status line, and one that sent no version sent
 * no request Thyme can answer: 400, saying so (without a Host, the Host check
 * would answer first, blaming the Host).
 */
export function namesHttp09(req: IncomingMessage): boolean {
  return req.httpVersionMajor === 0;
}

/** The reason of Thyme's 400 for a request line namesHttp09 finds. */
export const NO_HTTP1_VERSION =
  'the request line names no HTTP/1.x version (HTTP/0.9); Thyme speaks HTTP/1.0 and HTTP/1.1';

/** The reason of Thyme's 505, on the page and in a refused handshake. */
export const VERSION_NOT_SUPPORTED = 'Thyme speaks HTTP/1.0 and HTTP/1.1';

/**
 * Whether the request declares a body. Node hands an upgrade request's listener
 * everything after the headers as upgrade data, body and all.
 */
export function declaresBody(req: IncomingMessage): boolean {
  return (
    req.headers['transfer-encoding'] !== undefined ||
    Number(req.headers['content-length'] ?? 0) !== 0
  );
}

/**
 * Headers as the protocol wants them: byte pairs, names lower-cased, order and
 * duplicates kept. For an absolute-form target the worker is given its
 * authority as the Host, in place of the Host line (or after the headers of an
 * HTTP/1.0 request that had none): it is the host the request is for and the
 * one ALLOWED_HOSTS was checked against (requestHost), so an application that
 * builds links from Host never sees a host that was not checked.
 */
export function headerList(req: IncomingMessage, target: Target): HeaderList {
  const raw = req.rawHeaders;
  const list: HeaderList = [];
  const { authority } = target;
  let hostGiven = false;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!.toLowerCase();
    const isHost = name === 'host' && authority !== undefined;
    hostGiven ||= isHost;
    list.push([
      Buffer.from(name, 'latin1'),
      Buffer.from(isHost ? authority : raw[i + 1]!, 'latin1'),
    ]);
  }
  if (authority !== undefined && !hostGiven)
    list.push([Buffer.from('host', 'latin1'), Buffer.from(authority, 'latin1')]);
  return list;
}

/**
 * Who sent the request: the socket's peer, or with `proxied` (ThymeOptions.
 * proxyHeaders) the last X-Forwarded-For entry, the one the proxy in front
 * added (earlier ones came from the client and prove nothing).
 */
export function clientAddress(req: IncomingMessage, proxied = false): Address {
  if (proxied) {
    const forwarded = lastValue(req.headers['x-forwarded-for']);
    if (forwarded) return [forwarded, 0];
  }
  return [req.socket.remoteAddress ?? '', req.socket.remotePort ?? 0];
}

/**
 * A client as the access log's first field shows it, the same for HTTP and
 * WebSocket lines: the address alone, as NCSA lines (Apache's, nginx's) have
 * it, and `-` for none (a Unix socket's client has no address).
 */
export function logHost([host]: Address): string {
  return host === '' ? '-' : host;
}

/**
 * Where the request arrived: the socket's own address, or on a Unix socket
 * (which has none) its path and port 0, as ASGI servers give `[path, None]`.
 */
export function serverAddress(req: IncomingMessage, socketPath?: string): Address {
  const { localAddress, localPort } = req.socket;
  if (localAddress === undefined && socketPath !== undefined) return [socketPath, 0];
  return [localAddress ?? '', localPort ?? 0];
}

/** Whether the client's connection is TLS: this socket's, or with `proxied` the proxy's (X-Forwarded-Proto). */
export function isTls(req: IncomingMessage, proxied = false): boolean {
  if (proxied) {
    const proto = lastValue(req.headers['x-forwarded-proto'])?.toLowerCase();
    if (proto) return proto === 'https' || proto === 'wss';
  }
  return 'encrypted' in req.socket && Boolean((req.socket as { encrypted?: boolean }).encrypted);
}

/** The last entry of a comma-separated header (Node joins repeated ones with ", "). */
function lastValue(header: string | string[] | undefined): string | undefined {
  const joined = Array.isArray(header) ? header.join(',') : header;
  const last = joined?.split(',').pop()?.trim();
  return last ? last : undefined;
}

/**
 * The host a request is for, which ALLOWED_HOSTS is checked against, or
 * undefined (a 400) for none. RFC 9112 §3.2.2: the authority of an
 * absolute-form target replaces the Host header, so it is the one checked.
 * That is no way past the check: the authority must be allowed itself, and the
 * Host it replaces never reaches the worker (headerList). Either form is
 * refused when it breaks §3.2: more than one Host line (Node keeps only the
 * first in `headers`, while the worker would see them all), or an HTTP/1.1
 * request with none.
 */
export function requestHost(req: IncomingMessage, target: Target): string | undefined {
  const hosts: string[] = [];
  for (let i = 0; i < req.rawHeaders.length; i += 2) {
    if (req.rawHeaders[i]!.toLowerCase() === 'host') hosts.push(req.rawHeaders[i + 1]!);
  }
  if (hosts.length > 1) return undefined;
  if (target.authority === undefined) return hosts[0];
  return hosts.length === 1 || req.httpVersion === '1.0' ? target.authority : undefined;
}
