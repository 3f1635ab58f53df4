import { serialize, type SerializeOptions } from 'cookie';
import { STATUS_CODES } from 'node:http';
import type { SafeHtml } from './html.js';

/** A header value with a character a header cannot carry (control, or above U+00FF). */
export class InvalidHeaderValue extends TypeError {
  constructor(
    readonly headerName: string,
    value: string,
  ) {
    super(`invalid value for header ${JSON.stringify(headerName)}: ${JSON.stringify(value)}`);
    this.name = 'InvalidHeaderValue';
  }
}

/** What a view returns: status, headers (in order, duplicates kept) and a body. */
export class Response {
  readonly headers: [string, string][] = [];

  constructor(
    public status: number,
    public body: Buffer = Buffer.alloc(0),
    contentType?: string,
  ) {
    if (contentType) this.headers.push(['content-type', contentType]);
  }

  static html(page: SafeHtml, status = 200): Response {
    return new Response(status, Buffer.from(page.value), 'text/html; charset=utf-8');
  }

  static text(text: string, status = 200): Response {
    return new Response(status, Buffer.from(text), 'text/plain; charset=utf-8');
  }

  static json(value: unknown, status = 200): Response {
    return new Response(status, Buffer.from(JSON.stringify(value)), 'application/json');
  }

  static redirect(location: string, status = 302): Response {
    return new Response(status).header('location', location);
  }

  static status(status: number): Response {
    return Response.text(`${status} ${STATUS_CODES[status] ?? ''}\n`, status);
  }

  /** Throws InvalidHeaderValue for a value a header cannot carry as it is. */
  header(name: string, value: string): this {
    // Headers go out as Latin-1 bytes (one per character): a character above
    // U+00FF would be cut to its low byte, and CR/LF would split the header.
    if (/[^\t\x20-\x7e\x80-\xff]/.test(value)) throw new InvalidHeaderValue(name, value);
    this.headers.push([name.toLowerCase(), value]);
    return this;
  }

  /** Adds to the Vary header (once per name). */
  vary(name: string): this {
    const existing = this.headers.find(([n]) => n === 'vary');
    if (!existing) return this.header('vary', name);
    const names = existing[1].split(',').map((v) => v.trim().toLowerCase());
    if (!names.includes(name.toLowerCase())) existing[1] = `${existing[1]}, ${name}`;
    return this;
  }

  getHeader(name: string): string | undefined {
    return this.headers.find(([n]) => n === name)?.[1];
  }

  setCookie(name: string, value: string, options: SerializeOptions = {}): this {
    return this.header('set-cookie', serialize(name, value, { path: '/', ...options }));
  }

  deleteCookie(name: string, options: SerializeOptions = {}): this {
    return this.header(
      'set-cookie',
      serialize(name, '', { path: '/', ...options, maxAge: 0, expires: new Date(0) }),
    );
  }
}
