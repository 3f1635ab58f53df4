/**
 * What a change that has committed sends to chat sockets through the layer: a
 * user's sockets closed (deactivated, deleted, a new password, the staff flag
 * taken), a room's closed (made staff-only) or told it is gone (deleted), a
 * session's closed (a logout, a login over it). The change is in the database
 * by then, and stands whatever the layer does: a send the layer could not take
 * (Redis away, refusing, full) must not turn into a 500 page over a change
 * that was made, nor, where it can be sent again, be forgotten, since the
 * sockets it was for go on receiving what they should no longer receive (only
 * what they send is checked). So the failure is logged and counted, the view
 * says what happened, and the send is owed: this process sends it again until
 * the layer takes it (OwedGroupSends), and an admin's session remembers a close
 * it could not send (user or room id → close code) until a save of that user or
 * room sends it, should the process stop first: a group send of a close (or of
 * a deleted room's leave) is idempotent, so sending it again is always safe.
 */
import { CLOSE_LOGGED_OUT, closeUserSockets } from '../../../auth/socket-groups.js';
import { isTransientLayerError } from '../../../layer/errors.js';
import type { Logger } from '../../../logger.js';
import type { Request } from '../../../worker/http/request.js';
import { logAppFailure } from '../../../worker/failures.js';
import { CLOSE_ACCESS_CHANGED, roomGroup } from '../chat-protocol.js';
import type { OwedGroupSends } from './owed-group-sends.js';

/** The closes an admin change sends: the login ended, or the staff flag taken. */
export type UserSocketsClose = typeof CLOSE_LOGGED_OUT | typeof CLOSE_ACCESS_CHANGED;

/** What sends the closes after a change (again, until the layer takes them), and logs. */
interface AfterChangeServices {
  groupSends: OwedGroupSends;
  logger: Logger;
}

/**
 * Runs `send`, a layer call owed by a change that committed. True once sent;
 * false when the layer could not take it (away, refusing, full), logged as the
 * worker logs a layer away, in one line (`failed`, with `fields`), and counted.
 * Anything else, a bug, is thrown.
 */
export async function sentAfterCommit(
  logger: Logger,
  send: () => Promise<unknown>,
  failed: string,
  fields: Record<string, unknown>,
): Promise<boolean> {
  try {
    await send();
    return true;
  } catch (error) {
    if (!isTransientLayerError(error)) throw error;
    logAppFailure(logger, error, fields, failed);
    return false;
  }
}

/** What an admin's session can owe a close to, each under a key of its own. */
type Owner = 'user' | 'room';

const UNSENT_KEYS: Record<Owner, string> = {
  user: 'admin_unsent_closes',
  room: 'admin_unsent_room_closes',
};

function isClose(value: unknown): value is UserSocketsClose {
  return value === CLOSE_LOGGED_OUT || value === CLOSE_ACCESS_CHANGED;
}

/** The closes this admin's session still owes, by id (what a session holds is checked). */
function unsentCloses(request: Request, owner: Owner): Record<string, UserSocketsClose> {
  const stored = request.session?.get(UNSENT_KEYS[owner]);
  if (typeof stored !== 'object' || stored === null || Array.isArray(stored)) return {};
  return Object.fromEntries(
    Object.entries(stored as Record<string, unknown>).filter(
      (entry): entry is [string, UserSocketsClose] => isClose(entry[1]),
    ),
  );
}

/** Writes the session only when what it owes changes. */
function owe(request: Request, owner: Owner, id: number, code: UserSocketsClose | undefined): void {
  const owed = unsentCloses(request, owner);
  if (owed[id] === code) return;
  if (code === undefined) delete owed[id];
  else owed[id] = code;
  request.session?.set(UNSENT_KEYS[owner], owed);
}

/** The close an earlier change of user `userId` could not send, if this admin's session owes one. */
export function unsentClose(request: Request, userId: number): UserSocketsClose | undefined {
  return unsentCloses(request, 'user')[userId];
}

/** Whether this admin's session owes room `roomId` the close of its making staff-only. */
export function unsentRoomClose(request: Request, roomId: number): boolean {
  return unsentCloses(request, 'room')[roomId] === CLOSE_ACCESS_CHANGED;
}

/**
 * Closes `userId`'s chat sockets with `code` after a change that committed.
 * True once sent (and no longer owed); false when the layer could not take it
 * (sentAfterCommit): the close is then owed, sent again by this process until
 * the layer takes it, and by the next save of the user, unless the user is
 * gone (`retry` false: no page is left to save).
 */
export async function closeAfterChange(
  services: AfterChangeServices,
  request: Request,
  userId: number,
  code: UserSocketsClose,
  retry = true,
): Promise<boolean> {
  const sent = await sentAfterCommit(
    services.logger,
    () => closeUserSockets(services.groupSends, userId, code),
    "saved, but could not close the user's chat sockets",
    { path: request.path, userId, code },
  );
  owe(request, 'user', userId, sent || !retry ? undefined : code);
  return sent;
}

/**
 * Closes the chat sockets in room `roomId` with CLOSE_ACCESS_CHANGED after it
 * was made staff-only (they join again, each join checked). True once sent;
 * false when the layer could not take it: owed then, sent again by this
 * process until the layer takes it, and by the next save of the room that
 * finds it staff-only.
 */
export async function closeRoomAfterChange(
  services: AfterChangeServices,
  request: Request,
  roomId: number,
): Promise<boolean> {
  const code = CLOSE_ACCESS_CHANGED;
  const sent = await sentAfterCommit(
    services.logger,
    () => services.groupSends.groupSend(roomGroup(roomId), { close: code }),
    "saved, but could not close the room's chat sockets",
    { path: request.path, roomId, code },
  );
  owe(request, 'room', roomId, sent ? undefined : code);
  return sent;
}

/** Why a send failed, and what follows until it is sent (`then`: what sends it). */
function layerUnavailableNotice(couldNot: string, until: string, then?: string): string {
  return ` However, ${couldNot}, because the channel layer is unavailable: ${until}.${then ? ` ${then}` : ''}`;
}

/**
 * Who sends a close again: this process, by itself (OwedGroupSends), and, should
 * it stop first, the admin's save (`retry`: what to save), where a page is left.
 */
function resentNotice(retry: string | undefined, what = 'The close is sent again'): string {
  return `${what} automatically as soon as the layer takes it${retry ? `; should the server stop first, ${retry} to retry` : ''}.`;
}

/**
 * What the admin is told, after the change's own notice, when the close of a
 * user's sockets could not be sent: why, what those connections can still do
 * until it is, and that it is sent again (`retry`: how the admin can send it).
 * `users`: how many were changed at once (the delete_selected action's).
 */
export function unsentCloseNotice(
  code: UserSocketsClose,
  retry: 'save the user again' | 'save the user' | undefined,
  users = 1,
): string {
  const still =
    code === CLOSE_ACCESS_CHANGED
      ? 'those connections still receive the staff-only rooms they are in (each is closed at its next command to one)'
      : 'those connections still receive their rooms’ messages (each is closed at its next command)';
  return layerUnavailableNotice(
    `${users === 1 ? 'the user’s' : 'those users’'} open chat connections could not be closed`,
    `until they are, ${still}`,
    resentNotice(retry),
  );
}

/**
 * The same, after a room's change: made staff-only, its sockets not closed
 * (sent again, as a user's close is; a save of the room sends it too); deleted,
 * its sockets not told (sent again as well; should the server stop first, each
 * page finds it gone at its next command to it, refused as ROOM_INVALID).
 * `rooms`: how many were deleted at once (the delete_selected action's).
 */
export function unsentRoomNotice(change: 'made staff-only' | 'deleted', rooms = 1): string {
  return change === 'made staff-only'
    ? layerUnavailableNotice(
        'the open chat connections in the room could not be closed',
        'until they are, those of users who are not staff still receive its messages (each is closed at its next command to it)',
        resentNotice('save the room again'),
      )
    : layerUnavailableNotice(
        `the open chat connections in ${rooms === 1 ? 'the room' : 'those rooms'} could not be told`,
        'until they are, their pages show it (each finds it gone at its next command to it)',
        resentNotice(undefined, 'They are told'),
      );
}
