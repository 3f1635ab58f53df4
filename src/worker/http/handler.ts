import type { ChannelLayer, Message } from '../../layer/types.js';
import { logSecurityEvent, type Logger } from '../../logger.js';
import type { Application } from '../app.js';
import { logAppFailure } from '../failures.js';
import { BadRequest, Request, SuspiciousOperation } from './request.js';
import { Response } from './response.js';
import { sendResponse } from './responder.js';
import { MethodNotAllowed, NotFound } from './router.js';

/**
 * Who answers a request: its handler, or a stop that gave it up (see
 * answerAbandoned), never both. Thyme takes the first response whole; a second
 * would come after it had released the reply channel (dropped), or, after a
 * started stream, be read as the stream's next chunk.
 */
export class ReplyClaim {
  private claimed = false;

  /** True for the first caller only: that one answers. */
  claim(): boolean {
    if (this.claimed) return false;
    this.claimed = true;
    return true;
  }
}

/** Runs one `http.request` event through the application and sends its response. */
export async function handleHttpEvent(
  layer: ChannelLayer,
  app: Application,
  event: Message,
  logger: Logger,
  reply = new ReplyClaim(),
): Promise<void> {
  const replyChannel = event.reply_channel;
  if (typeof replyChannel !== 'string') {
    logger.error('http.request without a reply_channel: skipped');
    return;
  }
  let request: Request | undefined;
  let response: Response;
  try {
    request = Request.fromMessage(event);
    response = await app.handleHttp(request);
  } catch (error) {
    // Only what escaped the application's own middleware (see compose) gets here.
    response = responseForError(
      error,
      request,
      (status) => errorPage(app, status, request),
      logger,
    );
  }
  if (request?.method === 'HEAD') response.body = Buffer.alloc(0);
  if (!reply.claim()) {
    logger.debug({ path: request?.path }, 'finished after its worker gave it up: not sent');
    return;
  }
  await sendResponse(layer, replyChannel, response);
}

/**
 * Answers a request its stopping worker gave up, unless its handler has begun to:
 * 503 (the app's page for it), at once rather than a 504 at Thyme's
 * --http-timeout; it was not handled, and may be sent again.
 */
export async function answerAbandoned(
  layer: ChannelLayer,
  app: Application,
  replyChannel: string,
  reply: ReplyClaim,
): Promise<boolean> {
  if (!reply.claim()) return false;
  const response = errorPage(app, 503, undefined).header('retry-after', '1');
  await sendResponse(layer, replyChannel, response);
  return true;
}

/**
 * The response for an error a view or middleware threw: 404, 405 (with Allow),
 * 400, or a logged 500, rendered by `page`. A database or layer that is away is
 * a 500 too, as multichat.md asks of every error ("errors a 500 page"), and as
 * Django answers its OperationalError; the log and the metrics tell it from a
 * bug (one line, cause `database` or `layer`). A SuspiciousOperation is logged
 * as Django's handler logs one: at error, its message, under the logger
 * Django names for it (`security`), with its status; no stack, being no bug.
 */
export function responseForError(
  error: unknown,
  request: Request | undefined,
  page: (status: number) => Response,
  logger: Logger,
): Response {
  if (error instanceof NotFound) return page(404);
  if (error instanceof MethodNotAllowed) {
    return page(405).header('allow', [...new Set(error.allowed)].join(', '));
  }
  if (error instanceof SuspiciousOperation)
    logSecurityEvent(logger, 'error', error.kind, error.message, {
      status: 400,
      path: request?.path,
    });
  if (error instanceof BadRequest) return page(400);
  logAppFailure(logger, error, { path: request?.path }, 'view failed');
  return page(500);
}

function errorPage(app: Application, status: number, request: Request | undefined): Response {
  return app.errorResponse?.(status, request) ?? Response.status(status);
}
