import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { listenOn } from '../listen.js';

/** The path of the readiness probe, on the metrics port (and Thyme's public port). */
export const HEALTH_PATH = '/healthz';

/** Whether a process can do its work, and the details a private port may show. */
export interface HealthReport {
  ok: boolean;
  details: Record<string, unknown>;
}

/**
 * One readiness check's answer, shown as is in /healthz's details. Here with
 * the probe's report rather than in server/, whose option runs the checks:
 * the database probe (db/probe.ts) makes one too, and db/ must not depend on
 * the server.
 */
export interface ReadinessResult {
  ok: boolean;
  /** Why not, in one line. */
  error?: string;
}

/** What a process reports on its metrics port. */
export interface MetricsSource {
  /** The /metrics page (Exposition.text()). */
  metrics(): string;
  health(): HealthReport | Promise<HealthReport>;
}

/**
 * Headers a probe's answers add to their own: a public port's (Thyme's), which
 * a browser may load, carry BROWSER_HEADERS; the metrics port, private and read
 * by Prometheus and probes, none.
 */
export type ExtraHeaders = Readonly<Record<string, string>>;

/** Answers a readiness probe: 200 or 503, `{status}` and, when `detailed`, the details. */
export function writeHealth(
  res: ServerResponse,
  { ok, details }: HealthReport,
  detailed: boolean,
  extraHeaders: ExtraHeaders = {},
): number {
  const status = ok ? 'ok' : 'unavailable';
  res.writeHead(ok ? 200 : 503, {
    ...extraHeaders,
    'Content-Type': 'application/json',
    'Cache-Control': 'no-store',
  });
  res.end(JSON.stringify(detailed ? { status, ...details } : { status }));
  return ok ? 200 : 503;
}

/**
 * Answers 405 (with `Allow`) and returns its status when `req` is not a GET or
 * HEAD: a scrape or a probe only reads, and another method (a POST, a DELETE)
 * is a client's mistake that a 200 would hide. Undefined when it may be served.
 */
export function refuseUnlessRead(req: IncomingMessage, res: ServerResponse): number | undefined {
  if (isRead(req)) return undefined;
  const body = 'Method Not Allowed\n';
  // A declared length, not chunks: writeHead fixes the framing before the end.
  res
    .writeHead(405, {
      'Content-Type': 'text/plain; charset=utf-8',
      'Content-Length': Buffer.byteLength(body),
      Allow: 'GET, HEAD',
    })
    .end(body);
  return 405;
}

/** Whether `req` only reads (GET or HEAD): all a probe, a scrape or a file needs. */
export function isRead(req: IncomingMessage): boolean {
  return req.method === 'GET' || req.method === 'HEAD';
}

/**
 * Serves /metrics (Prometheus) and /healthz on a listener of their own, so that
 * a public port need not expose them. Resolves once listening.
 */
export async function serveMetrics(
  source: MetricsSource,
  port: number,
  host: string,
): Promise<{ server: Server; address: AddressInfo }> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const known = path === '/metrics' || path === HEALTH_PATH;
    if (known && refuseUnlessRead(req, res) !== undefined) return;
    if (path === '/metrics') {
      res.writeHead(200, { 'Content-Type': 'text/plain; version=0.0.4; charset=utf-8' });
      res.end(source.metrics());
    } else if (path === HEALTH_PATH)
      void settledHealth(source).then((report) => writeHealth(res, report, true));
    else res.writeHead(404, { 'Content-Type': 'text/plain' }).end('Not Found\n');
  });
  await listenOn(server, { port, host });
  return { server, address: server.address() as AddressInfo };
}

/**
 * The source's report, or not ok with the reason when the check itself failed:
 * a probe is answered 503 either way, never left hanging, and a rejection is
 * not left unhandled (which would end the process).
 */
async function settledHealth(source: MetricsSource): Promise<HealthReport> {
  try {
    return await source.health();
  } catch (error) {
    return { ok: false, details: { error: (error as Error).message } };
  }
}
