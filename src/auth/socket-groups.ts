/**
 * The groups that tie an application's sockets to the session and the user they
 * were opened by. A consumer adds each socket it accepts to both; whatever ends
 * a session (a logout, a login over it or one that rehashed the password, the
 * admin, `gredis changepassword`) closes the sockets it leaves without a login,
 * from any process on the layer. Without this a socket would go on receiving:
 * only what it sends is checked against its session.
 */

/**
 * What sends a close to a group: the layer, or what sends it again until the
 * layer takes it (MultiChat's OwedGroupSends).
 */
export interface CloseSender {
  groupSend(group: string, message: { close: number }): Promise<unknown>;
}

/** The group of the sockets opened with one session (its stored hash, hex). */
export function sessionGroup(sessionKeyHash: string): string {
  return `session-${sessionKeyHash}`;
}

/** The group of all of one user's sockets. */
export function userGroup(userId: number): string {
  return `user-${userId}`;
}

/**
 * The close code of a socket whose session ended under it: logged out, or its
 * user deactivated, deleted or given a new password (an application code,
 * 4000–4999, so that a client can tell it from a dropped connection).
 */
export const CLOSE_LOGGED_OUT = 4001;

/** Closes the sockets opened with one session. */
export async function closeSessionSockets(
  sender: CloseSender,
  sessionKeyHash: string,
): Promise<void> {
  await sender.groupSend(sessionGroup(sessionKeyHash), { close: CLOSE_LOGGED_OUT });
}

/**
 * Closes every socket of one user, whatever session it was opened with: with
 * CLOSE_LOGGED_OUT by default, or an app's code when the user may reconnect.
 */
export async function closeUserSockets(
  sender: CloseSender,
  userId: number,
  code: number = CLOSE_LOGGED_OUT,
): Promise<void> {
  await sender.groupSend(userGroup(userId), { close: code });
}
