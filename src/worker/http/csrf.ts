import {
  isWellFormed,
  maskSecret,
  newCsrfSecret,
  secretOf,
  tokenMatches,
} from '../../auth/csrf.js';
import { logSecurityEvent, type Logger } from '../../logger.js';
import { siteOrigin } from '../headers.js';
import type { Request } from './request.js';
import { Response } from './response.js';
import type { Middleware } from './router.js';

export const CSRF_COOKIE = 'csrftoken';
export const CSRF_FIELD = 'csrfmiddlewaretoken';
export const CSRF_HEADER = 'x-csrftoken';
const CSRF_COOKIE_AGE = 31_449_600; // one year, as Django

/** Why a request was refused; the same words Django uses. */
export type CsrfFailure =
  | 'Origin checking failed'
  | 'Referer checking failed'
  | 'CSRF cookie not set.'
  | 'CSRF token missing.'
  | 'CSRF token has incorrect format.'
  | 'CSRF token incorrect.';

export interface CsrfOptions {
  /** Renders the 403 page for a refused request. */
  failure(request: Request, reason: CsrfFailure): Response;
  /** Where a refusal is logged, as Django's `django.security.csrf` logs it. */
  logger: Logger;
}

/**
 * CSRF protection as Django's CsrfViewMiddleware: unsafe methods must come from
 * our own origin and carry the token (form field `csrfmiddlewaretoken` or header
 * `X-CSRFToken`) matching the `csrftoken` cookie.
 */
export function csrfMiddleware(options: CsrfOptions): Middleware {
  return async (request, next) => {
    const cookie = request.cookies[CSRF_COOKIE];
    let secret = isWellFormed(cookie) ? secretOf(cookie) : undefined;
    let setCookie = false;
    request.csrfToken = () => {
      request.csrfTokenUsed = true;
      if (!secret) {
        secret = newCsrfSecret();
        setCookie = true;
      }
      return maskSecret(secret);
    };
    request.rotateCsrfToken = () => {
      secret = newCsrfSecret();
      setCookie = true;
    };
    if (request.isUnsafeMethod) {
      const reason = check(request, cookie);
      if (reason) {
        logSecurityEvent(options.logger, 'warn', 'csrf', `Forbidden (${reason}): ${request.path}`, {
          status: 403,
          path: request.path,
        });
        return options.failure(request, reason);
      }
    }
    const response = await next();
    if (setCookie && secret) {
      response.setCookie(CSRF_COOKIE, secret, {
        maxAge: CSRF_COOKIE_AGE,
        sameSite: 'lax',
        secure: request.isSecure,
      });
      response.vary('Cookie');
    }
    return response;
  };
}

function check(request: Request, cookie: string | undefined): CsrfFailure | undefined {
  const good = siteOrigin(request.scheme, request.host);
  const origin = request.headers.get('origin');
  if (origin !== undefined) {
    if (origin !== good) return 'Origin checking failed';
  } else if (request.isSecure) {
    const referer = request.headers.get('referer');
    if (!referer || !sameOrigin(referer, good)) return 'Referer checking failed';
  }
  if (!isWellFormed(cookie)) return 'CSRF cookie not set.';
  // The form's field, then the header when the field is missing or empty, as
  // Django reads them: an empty header beside a good field is no failure. A
  // body that is no form has no fields.
  let submitted = request.method === 'POST' ? (request.form().get(CSRF_FIELD) ?? '') : '';
  if (submitted === '') submitted = request.headers.get(CSRF_HEADER) ?? '';
  if (!submitted) return 'CSRF token missing.';
  if (!isWellFormed(submitted)) return 'CSRF token has incorrect format.';
  if (!tokenMatches(submitted, secretOf(cookie))) return 'CSRF token incorrect.';
  return undefined;
}

function sameOrigin(url: string, origin: string): boolean {
  try {
    return new URL(url).origin === origin;
  } catch {
    return false;
  }
}
