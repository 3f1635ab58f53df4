import type { ChannelLayer, Message } from '../../layer/types.js';
import type { Logger } from '../../logger.js';
import type { Application } from '../app.js';
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
    response = errorToResponse(app, error, request, logger);
  }
  if (request?.method === 'HEAD') response.body = Buffer.alloc(0);
  await sendResponse(layer, replyChannel, response);
}

function errorToResponse(
  app: Application,
  error: unknown,
  request: Request | undefined,
  logger: Logger,
): Response {
  if (error instanceof NotFound) return errorPage(app, 404, request);
  if (error instanceof MethodNotAllowed) {
    return errorPage(app, 405, request).header('allow', [...new Set(error.allowed)].join(', '));
  }
  if (error instanceof BadRequest) return errorPage(app, 400, request);
  logger.error({ err: error, path: request?.path }, 'view failed');
  return errorPage(app, 500, request);
}

function errorPage(app: Application, status: number, request: Request | undefined): Response {
  return app.errorResponse?.(status, request) ?? Response.status(status);
}
