import type { ChannelLayer } from '../../layer/types.js';
import type { Response } from './response.js';

/** Bodies are sent in chunks of this size, so no single layer message grows large. */
const CHUNK_SIZE = 256 * 1024;

/** Sends a response on the request's reply channel: the start, then any further chunks. */
export async function sendResponse(
  layer: ChannelLayer,
  replyChannel: string,
  response: Response,
): Promise<void> {
  const headers = response.headers.map(([name, value]) => [
    Buffer.from(name, 'latin1'),
    Buffer.from(value, 'latin1'),
  ]);
  const body = response.body;
  await layer.send(replyChannel, {
    status: response.status,
    headers,
    content: body.subarray(0, CHUNK_SIZE),
    more_content: body.length > CHUNK_SIZE,
  });
  for (let offset = CHUNK_SIZE; offset < body.length; offset += CHUNK_SIZE) {
    await layer.send(replyChannel, {
      content: body.subarray(offset, offset + CHUNK_SIZE),
      more_content: offset + CHUNK_SIZE < body.length,
    });
  }
}
