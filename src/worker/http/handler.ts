import type { ChannelLayer, Message } from '../../layer/types.js';
import type { Logger } from '../../logger.js';
import type { Application } from '../app.js';
import { logAppFailure } from '../failures.js';
import { BadRequest, Request } from './request.js';
import { Response } from './response.js';
import { sendResponse } from './responder.js';
import { MethodNotAllowed, NotFound } from './router.js';

/** Runs one `http.request` event through the application and sends its response. */
export async function handleHttpEvent(
  layer: ChannelLayer,
  app: Application,
  event: Message,
  logger: Logger,
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
  await sendResponse(layer, replyChannel, response);
}

/**
 * The response for an error a view or middleware threw: 404, 405 (with Allow),
 * 400, or a logged 500, rendered by `page`.
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
  if (error instanceof BadRequest) return page(400);
  logAppFailure(logger, error, { path: request?.path }, 'view failed');
  return page(500);
}

function errorPage(app: Application, status: number, request: Request | undefined): Response {
  return app.errorResponse?.(status, request) ?? Response.status(status);
}
