/**
 * What Django's SecurityMiddleware and XFrameOptionsMiddleware tell a browser of
 * every response: the workers' pages (worker/http/security.ts) and the answers
 * Thyme writes itself on its public port (static files, its own errors, refused
 * handshakes, requests it could not parse, `OPTIONS *`, /healthz), which
 * never pass through the application's middleware. Not the metrics port's: private, and read by
 * Prometheus and probes, never loaded as a page. An SVG or a refusal opened
 * as a page is a document like any other: not framed, not sniffed into HTML, no
 * Referer to other sites, and no window.opener kept by a page of another site
 * that opened it.
 */
export const BROWSER_HEADERS = {
  'X-Content-Type-Options': 'nosniff',
  'X-Frame-Options': 'DENY',
  'Referrer-Policy': 'same-origin',
  'Cross-Origin-Opener-Policy': 'same-origin',
} as const;
