/**
 * The admin's one-shot notices (Django's messages framework, its session
 * storage): left in the session by a request that redirects, shown and cleared
 * by the next admin page.
 */
import type { Request } from '../../../worker/http/request.js';
import type { FlashLink, FlashMessage } from './layout.js';

const FLASH_KEY = 'admin_flash';

const LEVELS: ReadonlySet<unknown> = new Set<FlashMessage['level']>([
  'success',
  'warning',
  'error',
]);

function isFlashLink(value: unknown): value is FlashLink {
  if (typeof value !== 'object' || value === null) return false;
  const { href, text } = value as Record<string, unknown>;
  return typeof href === 'string' && typeof text === 'string';
}

/** What the session holds is checked: it outlives the code that wrote it. */
function isFlash(value: unknown): value is FlashMessage {
  if (typeof value !== 'object' || value === null) return false;
  const { level, text } = value as Record<string, unknown>;
  const isText =
    typeof text === 'string' ||
    (Array.isArray(text) && text.every((part) => typeof part === 'string' || isFlashLink(part)));
  return LEVELS.has(level) && isText;
}

/** Leaves `messages` for the page the response redirects to (after any left already). */
export function leaveFlash(request: Request, messages: readonly FlashMessage[]): void {
  if (messages.length === 0 || !request.session) return;
  const stored = request.session.get(FLASH_KEY);
  const earlier = Array.isArray(stored) ? stored.filter(isFlash) : [];
  request.session.set(FLASH_KEY, [...earlier, ...messages]);
}

/** Reads and clears the notices left by the last request (only writes when there were some). */
export function takeFlash(request: Request): FlashMessage[] {
  const stored = request.session?.get(FLASH_KEY);
  if (!Array.isArray(stored) || stored.length === 0) return [];
  request.session!.set(FLASH_KEY, []);
  return stored.filter(isFlash);
}
