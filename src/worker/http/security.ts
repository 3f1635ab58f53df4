import { BROWSER_HEADERS } from '../../browser-headers.js';
import type { Middleware } from './router.js';

/**
 * Headers every page gets: no framing, no sniffing, no third-party anything.
 * Pages load only their own scripts and styles from /static/ and talk only to
 * their own origin (which includes its WebSocket).
 */
export const CONTENT_SECURITY_POLICY =
  "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
  "frame-ancestors 'none'; form-action 'self'; base-uri 'none'; object-src 'none'";

export function securityHeaders(): Middleware {
  return async (request, next) => {
    const response = await next();
    for (const [name, value] of Object.entries(BROWSER_HEADERS)) response.header(name, value);
    if ((response.getHeader('content-type') ?? '').startsWith('text/html')) {
      response.header('content-security-policy', CONTENT_SECURITY_POLICY);
    }
    // A page for one visitor, one holding their CSRF token (which unmasks to their
    // cookie's secret: the login form, for anonymous visitors too, as Django's login
    // view is never_cache), or one that hands out a cookie: a shared cache that kept
    // it would give everyone the same one.
    if (
      request.user ||
      request.session?.key ||
      request.csrfTokenUsed ||
      response.getHeader('set-cookie') !== undefined
    )
      response.header('cache-control', 'private, no-store');
    return response;
  };
}
