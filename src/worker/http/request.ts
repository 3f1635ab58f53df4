import { parse as parseCookies } from 'cookie';
import type { Message } from '../../layer/types.js';
import type { HttpRequestEvent } from '../../protocol.js';
import { headerMap } from '../headers.js';
import type { SessionHandle } from './sessions.js';
import { PATH_SAFE, QUERY_SAFE, quote } from './uri.js';

/**
 * Forms and query strings with more fields are refused, as Django's
 * DATA_UPLOAD_MAX_NUMBER_FIELDS (Thyme caps bytes).
 */
export const MAX_FORM_FIELDS = 1000;

/** A form we cannot parse; answered with 400 by the framework. */
export class BadRequest extends Error {
  readonly code = 'GREDIS_BAD_REQUEST' as const;
  constructor(message: string) {
    super(message);
    this.name = 'BadRequest';
  }
}

/**
 * A request Django takes for tampering (one of its SuspiciousOperation
 * classes, `kind`): 400, as any BadRequest, and logged as Django logs it, to
 * the `django.security.<kind>` logger, so that what watches a Django
 * deployment's security log sees Gredis's refusals too.
 */
export class SuspiciousOperation extends BadRequest {
  constructor(
    readonly kind:
      | 'DisallowedModelAdminToField'
      | 'DisallowedModelAdminLookup'
      | 'TooManyFieldsSent'
      | 'TooManyFilesSent',
    message: string,
  ) {
    super(message);
    this.name = 'SuspiciousOperation';
  }
}

/** Who the request is from, once the auth middleware has looked. */
export interface RequestUser {
  id: number;
  username: string;
  isStaff: boolean;
  isSuperuser: boolean;
  isActive: boolean;
}

/** An HTTP request as views see it, built from an `http.request` event. */
export class Request {
  readonly method: string;
  readonly path: string;
  /** The query string as it came (Latin-1 of its bytes), for a redirect that keeps it. */
  readonly queryString: string;
  readonly headers: ReadonlyMap<string, string>;
  readonly body: Buffer;
  readonly scheme: string;
  readonly client: string;
  readonly replyChannel: string;
  /** Filled in by middleware (sessions → CSRF → auth). */
  session: SessionHandle | null = null;
  user: RequestUser | null = null;
  /** A masked CSRF token for a form on the page being rendered. */
  csrfToken: () => string = notInstalled;
  /** Whether the page holds a CSRF token (Django's CSRF_COOKIE_USED): it is this visitor's. */
  csrfTokenUsed = false;
  /** Replaces the CSRF secret (at login, as Django does). */
  rotateCsrfToken: () => void = notInstalled;
  private cookieCache: Record<string, string | undefined> | undefined;
  private formCache: URLSearchParams | undefined;
  private queryCache: URLSearchParams | undefined;

  constructor(event: HttpRequestEvent) {
    this.method = event.method;
    this.path = event.path;
    this.queryString = Buffer.from(event.query_string).toString('latin1');
    this.headers = headerMap(event.headers);
    this.body = Buffer.from(event.body);
    this.scheme = event.scheme;
    this.client = event.client[0];
    this.replyChannel = event.reply_channel;
  }

  static fromMessage(message: Message): Request {
    return new Request(message as unknown as HttpRequestEvent);
  }

  /** The fields of a form read elsewhere (a multipart body: see multipartForms). */
  setForm(fields: URLSearchParams): void {
    this.formCache = fields;
  }

  /** The body's media type, lower-cased, without parameters ('' when none). */
  get mediaType(): string {
    return (this.headers.get('content-type') ?? '').split(';')[0]!.trim().toLowerCase();
  }

  get host(): string {
    return this.headers.get('host') ?? '';
  }

  get isSecure(): boolean {
    return this.scheme === 'https';
  }

  /**
   * The query string's fields, as Django's request.GET: parsed when a view first
   * asks for them, so that, as in Django, one past 1000 fields is refused
   * (TooManyFieldsSent, 400) by the pages that read their query only.
   */
  get query(): URLSearchParams {
    if (this.queryCache) return this.queryCache;
    refuseTooManyFields(this.queryString, 'a query string');
    this.queryCache = new URLSearchParams(this.queryString);
    return this.queryCache;
  }

  /** The path and query as a URI, for `next=` redirects (Django's get_full_path). */
  get fullPath(): string {
    const path = quote(this.path, PATH_SAFE);
    if (this.queryString === '') return path;
    return `${path}?${quote(Buffer.from(this.queryString, 'latin1'), QUERY_SAFE)}`;
  }

  get cookies(): Readonly<Record<string, string | undefined>> {
    this.cookieCache ??= parseCookieHeader(this.headers.get('cookie') ?? '');
    return this.cookieCache;
  }

  /**
   * The form's fields, as Django's request.POST: a urlencoded body's, or a
   * multipart one's (read by the multipartForms middleware). Any other body
   * (JSON, text) is not a form and has none, so a view sees its fields missing,
   * and the CSRF check answers 403 "CSRF token missing." when no X-CSRFToken
   * header came either.
   */
  form(): URLSearchParams {
    if (this.formCache) return this.formCache;
    const type = this.body.length === 0 ? '' : this.mediaType;
    if (type === 'multipart/form-data')
      throw new Error(
        'the multipartForms middleware, which reads multipart forms, is not installed',
      );
    if (type !== 'application/x-www-form-urlencoded')
      return (this.formCache = new URLSearchParams());
    refuseTooManyFields(this.body, 'a form');
    this.formCache = new URLSearchParams(this.body.toString('utf8'));
    return this.formCache;
  }

  get isUnsafeMethod(): boolean {
    return !['GET', 'HEAD', 'OPTIONS', 'TRACE'].includes(this.method);
  }
}

/**
 * Refuses urlencoded fields past MAX_FORM_FIELDS as Django's parse_qsl counts
 * them (one more than the `&`s; `;` separates nothing). Counted on the encoded
 * text, stopping past the limit: a 10 MiB body of "&" is refused without being
 * decoded or split first.
 */
function refuseTooManyFields(encoded: Buffer | string, what: string): void {
  let separators = 0;
  let at = encoded.indexOf('&');
  while (at !== -1) {
    if (++separators >= MAX_FORM_FIELDS)
      throw new SuspiciousOperation(
        'TooManyFieldsSent',
        `${what} may have at most ${MAX_FORM_FIELDS} fields`,
      );
    at = encoded.indexOf('&', at + 1);
  }
}

function notInstalled(): never {
  throw new Error('the CSRF middleware is not installed');
}

/**
 * The cookies of a Cookie header. Of a name sent twice, the last wins, as in
 * Django's parse_cookie (the cookie package keeps the first): a cookie planted
 * for a wider path or domain comes first and must not override the site's own.
 * Malformed pairs are skipped, never thrown.
 */
export function parseCookieHeader(header: string): Record<string, string | undefined> {
  return parseCookies(header.split(';').reverse().join(';'));
}
