/**
 * Closing a user's chat sockets after an admin change that has committed
 * (deactivated, deleted, a new password, the staff flag taken). The change is
 * in the database by then, and stands whatever the layer does: a close the
 * layer could not take (Redis away, refusing, full) must not turn into a 500
 * page over a change that was made, nor be forgotten, since the sockets it was
 * for go on receiving their rooms' messages (only what they send is checked).
 * So the view says what happened, and the admin's session remembers the close
 * (user id → close code) until a save of that user sends it: the group send is
 * idempotent, so sending it again is always safe.
 */
import { CLOSE_LOGGED_OUT, closeUserSockets } from '../../../auth/socket-groups.js';
import { isTransientLayerError } from '../../../layer/errors.js';
import type { Logger } from '../../../logger.js';
import type { ChannelLayer } from '../../../layer/types.js';
import type { Request } from '../../../worker/http/request.js';
import { logAppFailure } from '../../../worker/failures.js';
import { CLOSE_ACCESS_CHANGED } from '../chat-protocol.js';

/** The closes an admin change sends: the login ended, or the staff flag taken. */
export type UserSocketsClose = typeof CLOSE_LOGGED_OUT | typeof CLOSE_ACCESS_CHANGED;

const UNSENT_KEY = 'admin_unsent_closes';

function isClose(value: unknown): value is UserSocketsClose {
  return value === CLOSE_LOGGED_OUT || value === CLOSE_ACCESS_CHANGED;
}

/** The closes this admin's session still owes, by user id (what a session holds is checked). */
function unsentCloses(request: Request): Record<string, UserSocketsClose> {
  const stored = request.session?.get(UNSENT_KEY);
  if (typeof stored !== 'object' || stored === null || Array.isArray(stored)) return {};
  return Object.fromEntries(
    Object.entries(stored as Record<string, unknown>).filter(
      (entry): entry is [string, UserSocketsClose] => isClose(entry[1]),
    ),
  );
}

/** Writes the session only when what it owes changes. */
function owe(request: Request, userId: number, code: UserSocketsClose | undefined): void {
  const owed = unsentCloses(request);
  if (owed[userId] === code) return;
  if (code === undefined) delete owed[userId];
  else owed[userId] = code;
  request.session?.set(UNSENT_KEY, owed);
}

/** The close an earlier change of `userId` could not send, if this admin's session owes one. */
export function unsentClose(request: Request, userId: number): UserSocketsClose | undefined {
  return unsentCloses(request)[userId];
}

/**
 * Closes `userId`'s chat sockets with `code` after a change that committed.
 * True once sent (and no longer owed); false when the layer could not take it
 * (logged as the worker logs a layer away, in one line, and counted): the close
 * is then owed, for the next save of the user to send, unless the user is gone
 * (`retry` false: nothing could send it again). Anything else, a bug, is thrown.
 */
export async function closeAfterChange(
  services: { layer: ChannelLayer; logger: Logger },
  request: Request,
  userId: number,
  code: UserSocketsClose,
  retry = true,
): Promise<boolean> {
  try {
    await closeUserSockets(services.layer, userId, code);
  } catch (error) {
    if (!isTransientLayerError(error)) throw error;
    logAppFailure(
      services.logger,
      error,
      { path: request.path, userId, code },
      "saved, but could not close the user's chat sockets",
    );
    owe(request, userId, retry ? code : undefined);
    return false;
  }
  owe(request, userId, undefined);
  return true;
}

/**
 * What the admin is told, after the change's own notice, when the close could
 * not be sent: why, what those connections can still do until it is, and
 * (`retry`) how to send it again.
 */
export function unsentCloseNotice(
  code: UserSocketsClose,
  retry: 'Save the user again to retry.' | 'Save the user to retry.' | undefined,
): string {
  const still =
    code === CLOSE_ACCESS_CHANGED
      ? 'those connections still receive the staff-only rooms they are in'
      : 'those connections still receive their rooms’ messages (each is closed at its next command)';
  return ` However, the user’s open chat connections could not be closed, because the channel layer is unavailable: until they are, ${still}.${retry ? ` ${retry}` : ''}`;
}
