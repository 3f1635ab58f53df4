import type { IncomingMessage } from 'node:http';
import type { Address, HeaderList } from '../protocol.js';

/** A request target split into the protocol's decoded path and raw query bytes. */
export interface Target {
  path: string;
  query: Uint8Array;
}

/** Splits `req.url`; undefined when its percent-encoding is malformed. */
export function parseTarget(url: string | undefined): Target | undefined {
  const raw = url ?? '/';
  const question = raw.indexOf('?');
  const rawPath = question === -1 ? raw : raw.slice(0, question);
  const query = question === -1 ? '' : raw.slice(question + 1);
  if (!rawPath.startsWith('/')) return undefined;
  let path: string;
  try {
    path = decodeURIComponent(rawPath);
  } catch {
    return undefined;
  }
  if (path.includes('\0')) return undefined;
  return { path, query: Buffer.from(query, 'latin1') };
}

/** Headers as the protocol wants them: byte pairs, names lower-cased, order and duplicates kept. */
export function headerList(req: IncomingMessage): HeaderList {
  const raw = req.rawHeaders;
  const list: HeaderList = [];
  for (let i = 0; i < raw.length; i += 2) {
    list.push([Buffer.from(raw[i]!.toLowerCase(), 'latin1'), Buffer.from(raw[i + 1]!, 'latin1')]);
  }
  return list;
}

export function clientAddress(req: IncomingMessage): Address {
  return [req.socket.remoteAddress ?? '', req.socket.remotePort ?? 0];
}

export function serverAddress(req: IncomingMessage): Address {
  return [req.socket.localAddress ?? '', req.socket.localPort ?? 0];
}

export function isTls(req: IncomingMessage): boolean {
  return 'encrypted' in req.socket && Boolean((req.socket as { encrypted?: boolean }).encrypted);
}

/**
 * The request's Host header, or undefined when it has none or more than one
 * (RFC 9112 §3.2: answered 400). Node keeps only the first of several in
 * `headers`, while the worker would see them all.
 */
export function singleHost(req: IncomingMessage): string | undefined {
  let host: string | undefined;
  for (let i = 0; i < req.rawHeaders.length; i += 2) {
    if (req.rawHeaders[i]!.toLowerCase() !== 'host') continue;
    if (host !== undefined) return undefined;
    host = req.rawHeaders[i + 1]!;
  }
  return host;
}
