import { createHash } from 'node:crypto';
import { constants, type Stats } from 'node:fs';
import { open, realpath, stat, type FileHandle } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { extname, join, sep } from 'node:path';
import { BROWSER_HEADERS } from '../browser-headers.js';
import { isRead } from '../metrics/endpoint.js';
import { methodNotAllowed } from './responses.js';

const CONTENT_TYPES: Record<string, string> = {
  '.css': 'text/css; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.json': 'application/json',
  '.html': 'text/html; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.webmanifest': 'application/manifest+json',
};

export const STATIC_PREFIX = '/static/';

/** Files up to this size are kept in memory; larger ones are streamed from disk. */
const MAX_HELD_FILE_BYTES = 512 * 1024;
/** What all held files together may take; past it, files are streamed. */
const MAX_HELD_BYTES = 32 * 1024 * 1024;
/** URL paths remembered at most: symlinks inside the directory can make many name one file. */
const MAX_PATHS = 1000;
/** A remembered file is checked against the disk at most this often. */
const RECHECK_MS = 1000;
/** Reads of a file that was written to while read, before giving up on it. */
const READ_ATTEMPTS = 3;
/**
 * Opens a real path (every link in it already resolved): a link put there since
 * is not followed. Without blocking: opening a FIFO to read waits for a writer,
 * which would hold one of libuv's few threads (and the request) for as long as
 * none comes. A FIFO, socket or device is then refused by the fstat of the
 * handle before a byte is read (load): what is checked is what was opened, where
 * a stat before the open would leave the path free to be swapped in between.
 * Reads of a regular file ignore O_NONBLOCK.
 */
const OPEN_FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;

/**
 * What tells one version of a file from another. Size and mtime alone miss a
 * copy that keeps both (`cp -p`, `rsync -a`, reproducible builds); a rename
 * brings a new inode, and any write or `utimes` a new ctime.
 */
interface Identity {
  dev: number;
  ino: number;
  size: number;
  mtimeMs: number;
  ctimeMs: number;
}

function identityOf(info: Stats): Identity {
  const { dev, ino, size, mtimeMs, ctimeMs } = info;
  return { dev, ino, size, mtimeMs, ctimeMs };
}

function sameIdentity(a: Identity, b: Identity): boolean {
  return (
    a.dev === b.dev &&
    a.ino === b.ino &&
    a.size === b.size &&
    a.mtimeMs === b.mtimeMs &&
    a.ctimeMs === b.ctimeMs
  );
}

/** What is known of one file of the directory. */
interface StaticFile {
  /** The real path, inside the directory. */
  path: string;
  identity: Identity;
  /** The response headers but Content-Length, ready to send. */
  headers: Record<string, string>;
  etag: string;
  /** The content, when held in memory. */
  body: Buffer | undefined;
  checkedAt: number;
  checking: boolean;
}

/**
 * Serves files under one directory at /static/, with a strong ETag and
 * `Cache-Control: no-cache` (browsers keep the file and revalidate it, so a
 * deploy is picked up without fingerprinted names). Nothing outside the
 * directory can be reached: no "..", no dot-files, no symlinks leading out.
 *
 * A file once served is answered from memory. Every `fs` call goes through
 * libuv's small thread pool, which password hashing and DNS lookups share: were
 * each request to `realpath`, `stat` and read the file there, the page's CSS and
 * script would wait behind a burst of logins. The disk is looked at again in the
 * background, when the file is asked for a second or more after the last look,
 * and a changed file is served from then on. Files too large to hold are opened
 * and checked on every request, so that what goes out matches its headers.
 */
export class StaticFiles {
  private readonly files = new Map<string, StaticFile>();
  private heldBytes = 0;
  private root: string | undefined;

  constructor(private readonly directory: string) {}

  /**
   * Answers with the file and resolves with the status, or resolves with
   * undefined, having written nothing, when the directory has no such file: the
   * caller then lets the application answer, so a miss gets the app's own 404
   * page like any unknown path. `path` is decoded (the request's Target.path), as
   * the application sees it: /%73tatic/site.css is /static/site.css for both.
   */
  async handle(
    req: IncomingMessage,
    res: ServerResponse,
    path: string,
  ): Promise<number | undefined> {
    const segments = pathSegments(path.slice(STATIC_PREFIX.length));
    if (!segments) return undefined;
    const key = segments.join('/');
    let file = this.files.get(key);
    if (file && !file.checking && Date.now() - file.checkedAt >= RECHECK_MS)
      void this.recheck(key, file);
    if (!file) {
      file = await this.load(segments);
      if (!file) return undefined;
      this.remember(key, file);
    }
    // Another method is refused only for a file that is there, as whitenoise
    // does (Django's own static view has no check at all): a miss goes to the
    // application, whatever the method, as a GET's does; a 405 would tell the
    // client that a GET of it works (Allow), and that a file of that name
    // exists. OPTIONS is refused too, as whitenoise and nginx's static module
    // do: no method but GET and HEAD is ever allowed here, and with no
    // Access-Control-Allow-Origin given, a CORS preflight has nothing to learn.
    if (!isRead(req)) return methodNotAllowed(res);
    if (file.body) return serveHeld(req, res, file, file.body);
    return this.serveStreamed(req, res, key, segments, file);
  }

  /** A file too large to hold: streamed through a handle whose stat matches the headers. */
  private async serveStreamed(
    req: IncomingMessage,
    res: ServerResponse,
    key: string,
    segments: string[],
    known: StaticFile,
  ): Promise<number | undefined> {
    let file = known;
    for (let attempt = 1; ; attempt++) {
      const handle = await open(file.path, OPEN_FLAGS).catch(() => undefined);
      const info = await handle?.stat().catch(() => undefined);
      if (handle && info && sameIdentity(identityOf(info), file.identity)) {
        return streamFrom(req, res, file, handle);
      }
      await handle?.close().catch(() => undefined);
      // Changed since it was looked at: look again.
      const fresh = attempt < READ_ATTEMPTS ? await this.load(segments) : undefined;
      if (!fresh) {
        this.forget(key);
        return undefined;
      }
      this.remember(key, fresh);
      if (fresh.body) return serveHeld(req, res, fresh, fresh.body);
      file = fresh;
    }
  }

  /** Reads what the disk holds at the path, or undefined when it is not a file of the directory. */
  private async load(segments: string[]): Promise<StaticFile | undefined> {
    this.root ??= await realpath(this.directory);
    const real = await realpath(join(this.root, ...segments)).catch(() => undefined);
    if (!real?.startsWith(this.root + sep)) return undefined;
    for (let attempt = 0; attempt < READ_ATTEMPTS; attempt++) {
      const handle = await open(real, OPEN_FLAGS).catch(() => undefined);
      if (!handle) return undefined;
      try {
        const before = await handle.stat();
        if (!before.isFile()) return undefined;
        const content = await handle.readFile();
        const after = await handle.stat();
        const identity = identityOf(after);
        // Written to while read: read it again.
        if (!sameIdentity(identityOf(before), identity) || content.length !== after.size) continue;
        const etag = `"${createHash('sha256').update(content).digest('base64url').slice(0, 27)}"`;
        return {
          path: real,
          identity,
          etag,
          headers: {
            ETag: etag,
            'Cache-Control': 'no-cache',
            'Last-Modified': after.mtime.toUTCString(),
            'Content-Type':
              CONTENT_TYPES[extname(real).toLowerCase()] ?? 'application/octet-stream',
            ...BROWSER_HEADERS,
            // Range requests get the whole file: say so, rather than leave
            // clients to find out (RFC 9110 §14.3).
            'Accept-Ranges': 'none',
          },
          body: content.length <= MAX_HELD_FILE_BYTES ? content : undefined,
          checkedAt: Date.now(),
          checking: false,
        };
      } catch {
        return undefined;
      } finally {
        await handle.close().catch(() => undefined);
      }
    }
    return undefined;
  }

  /** In the background: drops or reloads a remembered file that the disk no longer matches. */
  private async recheck(key: string, file: StaticFile): Promise<void> {
    file.checking = true;
    const segments = key.split('/');
    const real = await realpath(join(this.root!, ...segments)).catch(() => undefined);
    const info = real ? await stat(real).catch(() => undefined) : undefined;
    if (this.files.get(key) !== file) return;
    if (real === file.path && info && sameIdentity(identityOf(info), file.identity)) {
      file.checkedAt = Date.now();
      file.checking = false;
      return;
    }
    const fresh = await this.load(segments);
    if (this.files.get(key) !== file) return;
    this.forget(key);
    if (fresh) this.remember(key, fresh);
  }

  /** Keeps `file` for `key` (in place of what was there), its body if the budget allows. */
  private remember(key: string, file: StaticFile): void {
    this.forget(key);
    if (this.files.size >= MAX_PATHS) return; // served, not remembered
    if (file.body && this.heldBytes + file.body.length > MAX_HELD_BYTES) file.body = undefined;
    this.heldBytes += file.body?.length ?? 0;
    this.files.set(key, file);
  }

  private forget(key: string): void {
    const file = this.files.get(key);
    if (!file) return;
    this.heldBytes -= file.body?.length ?? 0;
    this.files.delete(key);
  }
}

/**
 * The decoded path's segments under /static/, or undefined when it could name
 * something outside. Not decoded again: %252e%252e is a file named "%2e%2e".
 */
function pathSegments(relative: string): string[] | undefined {
  if (relative.includes('\0') || relative.includes('\\')) return undefined;
  const segments = relative.split('/');
  if (segments.some((s) => s === '' || s === '.' || s === '..' || s.startsWith('.')))
    return undefined;
  return segments;
}

/**
 * Whether the client already has this version (a 304), as RFC 9110 §13.2.2
 * orders the checks: If-None-Match when present, else If-Modified-Since.
 */
function notModified(req: IncomingMessage, file: StaticFile): boolean {
  const ifNoneMatch = req.headers['if-none-match'];
  if (ifNoneMatch !== undefined) return etagMatches(ifNoneMatch, file.etag);
  const ifModifiedSince = req.headers['if-modified-since'];
  return ifModifiedSince !== undefined && unmodifiedSince(ifModifiedSince, file);
}

/**
 * If-None-Match compares weakly (RFC 9110 §13.1.2): W/"x" matches "x". A proxy
 * that compresses on the way (nginx's gzip) weakens the ETag it passes on, and
 * the browser sends that back.
 */
function etagMatches(ifNoneMatch: string, etag: string): boolean {
  return ifNoneMatch.split(',').some((raw) => {
    const tag = raw.trim();
    return tag === '*' || (tag.startsWith('W/') ? tag.slice(2) : tag) === etag;
  });
}

/**
 * If-Modified-Since (RFC 9110 §13.1.3): unmodified when the file's mtime, to
 * the whole second Last-Modified carries, is not after the date. A value that
 * is no HTTP-date is ignored (a 200), as the RFC asks.
 */
function unmodifiedSince(ifModifiedSince: string, file: StaticFile): boolean {
  const since = parseHttpDate(ifModifiedSince);
  if (since === undefined) return false;
  return Math.floor(file.identity.mtimeMs / 1000) * 1000 <= since;
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/**
 * The forms of an HTTP-date (RFC 9110 §5.6.7): IMF-fixdate, and the obsolete
 * RFC 850 and asctime forms, which a recipient must accept too.
 */
const HTTP_DATE_FORMS = [
  /^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), (?<day>\d{2}) (?<month>[A-Z][a-z]{2}) (?<year>\d{4}) (?<hour>\d{2}):(?<minute>\d{2}):(?<second>\d{2}) GMT$/,
  /^(?:Mon|Tues|Wednes|Thurs|Fri|Satur|Sun)day, (?<day>\d{2})-(?<month>[A-Z][a-z]{2})-(?<year>\d{2}) (?<hour>\d{2}):(?<minute>\d{2}):(?<second>\d{2}) GMT$/,
  /^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) (?<month>[A-Z][a-z]{2}) (?<day>[ \d]\d) (?<hour>\d{2}):(?<minute>\d{2}):(?<second>\d{2}) (?<year>\d{4})$/,
];

/**
 * An HTTP-date as milliseconds since the epoch, or undefined for anything
 * else. Not Date.parse, which reads "2099" or "31 Feb" as dates (the file then
 * counted as unmodified), and asctime in the server's own time zone.
 */
function parseHttpDate(value: string): number | undefined {
  const fields = HTTP_DATE_FORMS.map((form) => form.exec(value)?.groups).find(Boolean);
  if (!fields) return undefined;
  const month = MONTHS.indexOf(fields.month!);
  const [day, hour, minute, second] = [fields.day, fields.hour, fields.minute, fields.second].map(
    Number,
  ) as [number, number, number, number];
  let year = Number(fields.year);
  if (fields.year!.length === 2) {
    // RFC 850's two-digit year is the latest with those digits that is not
    // more than 50 years ahead (§5.6.7).
    const now = new Date().getUTCFullYear();
    year += now - (now % 100);
    if (year > now + 50) year -= 100;
  }
  const time = Date.UTC(year, month, day, hour, minute, second);
  const date = new Date(time);
  // Date.UTC rolls fields over (31 Feb is 2 March): such a value is no date.
  const exact =
    month >= 0 &&
    date.getUTCDate() === day &&
    date.getUTCHours() === hour &&
    date.getUTCMinutes() === minute &&
    date.getUTCSeconds() === second;
  return exact ? time : undefined;
}

/** Answers 304 when the client has this version (false: nothing more to send), or writes the 200 headers. */
function begin(
  req: IncomingMessage,
  res: ServerResponse,
  file: StaticFile,
  length: number,
): boolean {
  if (notModified(req, file)) {
    res.writeHead(304, file.headers).end();
    return false;
  }
  res.writeHead(200, { ...file.headers, 'Content-Length': String(length) });
  return true;
}

function serveHeld(
  req: IncomingMessage,
  res: ServerResponse,
  file: StaticFile,
  body: Buffer,
): number {
  if (begin(req, res, file, body.length)) res.end(req.method === 'HEAD' ? undefined : body);
  return res.statusCode;
}

/** Streams the file's bytes from `handle` (closed here), exactly as many as its headers say. */
async function streamFrom(
  req: IncomingMessage,
  res: ServerResponse,
  file: StaticFile,
  handle: FileHandle,
): Promise<number> {
  const { size } = file.identity;
  if (!begin(req, res, file, size) || req.method === 'HEAD' || size === 0) {
    await handle.close().catch(() => undefined);
    if (!res.writableEnded) res.end();
    return res.statusCode;
  }
  await new Promise<void>((resolve) => {
    const stream = handle.createReadStream({ start: 0, end: size - 1 });
    let sent = 0;
    stream.on('data', (chunk: string | Buffer) => {
      sent += chunk.length;
    });
    stream.on('error', () => {
      res.destroy();
      resolve();
    });
    // Cut short (the file shrank under us): the client must not take what follows
    // on this connection for the rest of the body.
    stream.on('end', () => {
      if (sent < size) res.destroy();
    });
    res.on('close', () => {
      stream.destroy();
      resolve();
    });
    stream.pipe(res);
  });
  return 200;
}
