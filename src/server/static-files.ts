import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readFile, realpath, stat } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { extname, join, sep } from 'node:path';

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
/** A held file is checked against the disk at most this often. */
const RECHECK_MS = 1000;

/** What is known of one file of the directory. */
interface StaticFile {
  /** The real path, inside the directory. */
  path: string;
  mtimeMs: number;
  size: number;
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
 * background, at most once a second per file, so a changed file is served from
 * the next request after that check.
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
   * page like any unknown path.
   */
  async handle(
    req: IncomingMessage,
    res: ServerResponse,
    pathname: string,
  ): Promise<number | undefined> {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      return end(res, 405, 'Method Not Allowed', { Allow: 'GET, HEAD' });
    }
    const segments = pathSegments(pathname.slice(STATIC_PREFIX.length));
    if (!segments) return undefined;
    const key = segments.join('/');
    let file = this.files.get(key);
    if (file) {
      if (!file.checking && Date.now() - file.checkedAt >= RECHECK_MS) void this.recheck(key, file);
    } else {
      file = await this.load(segments);
      if (!file) return undefined;
      // Two first requests for one file may both load it: the later one stays.
      this.forget(key);
      this.hold(key, file);
    }
    return serve(req, res, file);
  }

  /** Reads what the disk holds at the path, or undefined when it is not a file of the directory. */
  private async load(segments: string[]): Promise<StaticFile | undefined> {
    this.root ??= await realpath(this.directory);
    const real = await realpath(join(this.root, ...segments)).catch(() => undefined);
    if (!real?.startsWith(this.root + sep)) return undefined;
    const info = await stat(real).catch(() => undefined);
    if (!info?.isFile()) return undefined;
    const content = await readFile(real).catch(() => undefined);
    // Changed while read: the stat no longer describes it; the next request loads again.
    if (!content || content.length !== info.size) return undefined;
    const etag = `"${createHash('sha256').update(content).digest('base64url').slice(0, 27)}"`;
    const held = content.length <= MAX_HELD_FILE_BYTES;
    return {
      path: real,
      mtimeMs: info.mtimeMs,
      size: info.size,
      etag,
      headers: {
        ETag: etag,
        'Cache-Control': 'no-cache',
        'Last-Modified': info.mtime.toUTCString(),
        'Content-Type': CONTENT_TYPES[extname(real).toLowerCase()] ?? 'application/octet-stream',
        'X-Content-Type-Options': 'nosniff',
      },
      body: held ? content : undefined,
      checkedAt: Date.now(),
      checking: false,
    };
  }

  /** In the background: drops or reloads a held file that the disk no longer matches. */
  private async recheck(key: string, file: StaticFile): Promise<void> {
    file.checking = true;
    const segments = key.split('/');
    const real = await realpath(join(this.root!, ...segments)).catch(() => undefined);
    const info = real ? await stat(real).catch(() => undefined) : undefined;
    if (this.files.get(key) !== file) return;
    if (real === file.path && info?.mtimeMs === file.mtimeMs && info.size === file.size) {
      file.checkedAt = Date.now();
      file.checking = false;
      return;
    }
    const fresh = await this.load(segments);
    if (this.files.get(key) !== file) return;
    this.forget(key);
    if (fresh) this.hold(key, fresh);
  }

  private hold(key: string, file: StaticFile): void {
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

/** The path's segments under /static/, or undefined when it could name something outside. */
function pathSegments(relative: string): string[] | undefined {
  let decoded: string;
  try {
    decoded = decodeURIComponent(relative);
  } catch {
    return undefined;
  }
  if (decoded.includes('\0') || decoded.includes('\\')) return undefined;
  const segments = decoded.split('/');
  if (segments.some((s) => s === '' || s === '.' || s === '..' || s.startsWith('.')))
    return undefined;
  return segments;
}

async function serve(req: IncomingMessage, res: ServerResponse, file: StaticFile): Promise<number> {
  const ifNoneMatch = req.headers['if-none-match'];
  if (
    ifNoneMatch &&
    ifNoneMatch.split(',').some((tag) => tag.trim() === file.etag || tag.trim() === '*')
  ) {
    return end(res, 304, undefined, file.headers);
  }
  res.writeHead(200, { ...file.headers, 'Content-Length': String(file.size) });
  if (req.method === 'HEAD') {
    res.end();
    return 200;
  }
  if (file.body) {
    res.end(file.body);
    return 200;
  }
  await new Promise<void>((resolve) => {
    const stream = createReadStream(file.path);
    stream.on('error', () => {
      res.destroy();
      resolve();
    });
    res.on('close', () => {
      stream.destroy();
      resolve();
    });
    stream.pipe(res);
  });
  return 200;
}

function end(
  res: ServerResponse,
  status: number,
  body?: string,
  headers: Record<string, string> = {},
): number {
  res.writeHead(
    status,
    body ? { ...headers, 'Content-Type': 'text/plain; charset=utf-8' } : headers,
  );
  res.end(body);
  return status;
}
