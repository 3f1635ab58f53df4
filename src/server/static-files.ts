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

interface CachedTag {
  mtimeMs: number;
  size: number;
  etag: string;
}

/**
 * Serves files under one directory at /static/, with a strong ETag and
 * `Cache-Control: no-cache` (browsers keep the file and revalidate it, so a
 * deploy is picked up at once without fingerprinted names). Nothing outside the
 * directory can be reached: no "..", no dot-files, no symlinks leading out.
 */
export class StaticFiles {
  private readonly tags = new Map<string, CachedTag>();
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
    const file = await this.resolve(pathname.slice(STATIC_PREFIX.length));
    if (!file) return undefined;
    const info = await stat(file).catch(() => undefined);
    if (!info?.isFile()) return undefined;
    const etag = await this.etag(file, info.mtimeMs, info.size);
    const headers: Record<string, string> = {
      ETag: etag,
      'Cache-Control': 'no-cache',
      'Last-Modified': info.mtime.toUTCString(),
      'Content-Type': CONTENT_TYPES[extname(file).toLowerCase()] ?? 'application/octet-stream',
      'X-Content-Type-Options': 'nosniff',
    };
    const ifNoneMatch = req.headers['if-none-match'];
    if (
      ifNoneMatch &&
      ifNoneMatch.split(',').some((tag) => tag.trim() === etag || tag.trim() === '*')
    ) {
      return end(res, 304, undefined, headers);
    }
    headers['Content-Length'] = String(info.size);
    res.writeHead(200, headers);
    if (req.method === 'HEAD') {
      res.end();
      return 200;
    }
    await new Promise<void>((resolve) => {
      const stream = createReadStream(file);
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

  /** Maps a URL path under /static/ to a file inside the directory, or undefined. */
  private async resolve(relative: string): Promise<string | undefined> {
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
    this.root ??= await realpath(this.directory);
    const candidate = join(this.root, ...segments);
    const real = await realpath(candidate).catch(() => undefined);
    if (!real || !real.startsWith(this.root + sep)) return undefined;
    return real;
  }

  private async etag(file: string, mtimeMs: number, size: number): Promise<string> {
    const cached = this.tags.get(file);
    if (cached && cached.mtimeMs === mtimeMs && cached.size === size) return cached.etag;
    const digest = createHash('sha256')
      .update(await readFile(file))
      .digest('base64url')
      .slice(0, 27);
    const etag = `"${digest}"`;
    this.tags.set(file, { mtimeMs, size, etag });
    return etag;
  }
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
