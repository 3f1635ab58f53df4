import type { Request } from './request.js';
import { Response } from './response.js';

/** A view gets the request and the path's captured groups (named, from the pattern). */
export type View = (
  request: Request,
  params: Record<string, string>,
) => Promise<Response> | Response;

/** Runs around the views: may answer itself, or call `next` and adjust its response. */
export type Middleware = (request: Request, next: () => Promise<Response>) => Promise<Response>;

interface Route {
  pattern: RegExp;
  methods: readonly string[] | undefined;
  view: View;
}

/** The request's path matched no route (→ 404 page). */
export class NotFound extends Error {
  readonly code = 'GREDIS_NOT_FOUND' as const;
  constructor(readonly path: string) {
    super(`no route for ${path}`);
    this.name = 'NotFound';
  }
}

/** The path matched, the method did not (→ 405). */
export class MethodNotAllowed extends Error {
  readonly code = 'GREDIS_METHOD_NOT_ALLOWED' as const;
  constructor(readonly allowed: readonly string[]) {
    super(`method not allowed; allowed: ${allowed.join(', ')}`);
    this.name = 'MethodNotAllowed';
  }
}

/**
 * Routes by path. Patterns are exact paths with `:name` segments
 * ("/admin/rooms/:id/edit/"), matched whole; `:name` matches one segment.
 */
export class Router {
  private readonly routes: Route[] = [];
  private readonly fallbacks: { prefix: string; view: View }[] = [];

  add(path: string, view: View, methods?: readonly string[]): this {
    const source = path
      .split('/')
      .map((segment) =>
        segment.startsWith(':') ? `(?<${segment.slice(1)}>[^/]+)` : escapeRegExp(segment),
      )
      .join('/');
    this.routes.push({
      pattern: new RegExp(`^${source}$`),
      methods: methods?.map((m) => m.toUpperCase()),
      view,
    });
    return this;
  }

  /**
   * The view for paths under `prefix` that no route matches, in place of the 404
   * (which it may still throw, as NotFound): Django 3.2's admin catch-all.
   */
  fallback(prefix: string, view: View): this {
    this.fallbacks.push({ prefix, view });
    return this;
  }

  async dispatch(request: Request): Promise<Response> {
    let allowed: string[] | undefined;
    for (const route of this.routes) {
      const match = route.pattern.exec(request.path);
      if (!match) continue;
      if (
        route.methods &&
        !route.methods.includes(request.method) &&
        !(request.method === 'HEAD' && route.methods.includes('GET'))
      ) {
        allowed = [...(allowed ?? []), ...route.methods];
        continue;
      }
      return route.view(request, { ...match.groups });
    }
    if (allowed) throw new MethodNotAllowed(allowed);
    if (this.wantsSlash(request)) {
      const path = request.path.split('/').map(encodeURIComponent).join('/');
      const query = request.queryString;
      return Response.redirect(`${path}/${query ? `?${query}` : ''}`, 301);
    }
    const fallback = this.fallbacks.find(({ prefix }) => request.path.startsWith(prefix));
    if (fallback) return fallback.view(request, {});
    throw new NotFound(request.path);
  }

  /**
   * Django's APPEND_SLASH: "/admin" is "/admin/" typed without its slash. Only
   * for GET and HEAD (a redirected POST would lose its body), and only to a path
   * a route matches, which starts with one "/": never "//host", another site.
   */
  private wantsSlash(request: Request): boolean {
    if (request.path.endsWith('/')) return false;
    if (request.method !== 'GET' && request.method !== 'HEAD') return false;
    const slashed = `${request.path}/`;
    return this.routes.some((route) => route.pattern.test(slashed));
  }
}

/**
 * Composes middleware around a final handler, first listed outermost. With
 * `onError`, what the handler or a middleware throws becomes a response right
 * there, and goes back out through the middleware around it (as Django converts
 * an exception at each middleware): an error page gets the security headers,
 * the session's commit and the CSRF cookie like any page.
 */
export function compose(
  middleware: readonly Middleware[],
  last: (request: Request) => Promise<Response>,
  onError?: (error: unknown, request: Request) => Response,
): (request: Request) => Promise<Response> {
  const guarded = (handler: (request: Request) => Promise<Response>) =>
    onError
      ? async (request: Request): Promise<Response> => {
          try {
            return await handler(request);
          } catch (error) {
            return onError(error, request);
          }
        }
      : handler;
  return middleware.reduceRight<(request: Request) => Promise<Response>>(
    (next, layer) => guarded((request) => layer(request, () => next(request))),
    guarded(last),
  );
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
