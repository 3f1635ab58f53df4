import { CLOSE_LOGGED_OUT, sessionGroup, userGroup } from '../../auth/socket-groups.js';
import type { Message } from '../../layer/types.js';
import { refilledTokens, type BucketRate } from '../../token-bucket.js';
import type { SocketUser } from '../../worker/app.js';
import type { SocketContext, WebSocketConsumer } from '../../worker/websocket/consumer.js';
import {
  CLOSE_ACCESS_CHANGED,
  InvalidCommand,
  MESSAGE_TYPES,
  parseCommand,
  roomDeletedFrame,
  roomGroup,
  type Command,
  type ErrorCode,
} from './chat-protocol.js';
import type { ChatAccess } from './access.js';
import type { Room } from './rooms.js';

/** Per-connection state, kept between events: the rooms joined and the flood bucket. */
interface ChatState extends Message {
  rooms: number[];
  tokens: number;
  at: number;
  /**
   * When the socket's group memberships were last added (epoch ms). A state saved
   * by an older version has none: renewed at its next command.
   */
  groupsAddedAt: number;
}

/** `burst` and `perSecond`: the commands a socket may send at once, and per second after. */
export interface ChatSettings extends BucketRate {
  notifyEnterLeave: boolean;
  /**
   * A command renews the socket's group memberships when they are older than
   * this, in ms. The layer drops a member not re-added within its groupExpiry;
   * without renewal a socket open longer (a tab left open overnight) would stop
   * receiving its rooms, and a logout would no longer close it. The page sends a
   * command at least this often while it has rooms open (see chat.js).
   */
  renewGroupsAfterMs: number;
}

export const CHAT_DEFAULTS = Object.freeze({ burst: 30, perSecond: 10 });

type ChatSocket = SocketContext<ChatState>;

/**
 * The MultiChat consumer: join/leave/send over one socket, many rooms. Every
 * command re-checks, in order: the user is still valid, the room exists, the
 * user may enter it. Errors change nothing a later command could see: a room
 * found deleted is dropped from the socket's groups and state (dropDeletedRoom),
 * and is invalid to every command anyway. A check that finds the socket's login
 * over (USER_HAS_TO_LOGIN) also closes the socket (loggedOut), as does one that
 * finds a room the socket is in closed to it (accessLost).
 */
export class ChatConsumer implements WebSocketConsumer<ChatState> {
  constructor(
    private readonly access: ChatAccess,
    private readonly settings: ChatSettings,
  ) {}

  async connect(socket: ChatSocket): Promise<void> {
    // Anonymous sockets are refused (HTTP 403), those from another site's page
    // included (the dispatcher identifies only the site's own pages).
    if (!socket.user) return socket.reject();
    // So is one whose page says it is another user's (`?user=`): the browser
    // logged in as someone else since that page loaded, which shows the old user
    // and would chat as the new one. Its check of the session tells it so.
    const pageUser = socket.query.get('user');
    if (pageUser !== null && pageUser !== String(socket.user.id)) return socket.reject();
    const now = Date.now();
    socket.state = { rooms: [], tokens: this.settings.burst, at: now, groupsAddedAt: now };
    addIdentityGroups(socket);
    socket.accept();
  }

  async receive(socket: ChatSocket, frame: { text?: string }): Promise<void> {
    if (!this.takeToken(socket)) return socket.sendJson({ error: 'RATE_LIMITED' });
    let command: Command;
    try {
      command = parseCommand(frame.text);
    } catch (error) {
      if (error instanceof InvalidCommand) return socket.sendJson({ error: error.error });
      throw error;
    }
    const checked = await this.check(socket, command.room);
    if (checked === 'USER_HAS_TO_LOGIN') return this.loggedOut(socket);
    // Whatever the room, a command from a valid user keeps the socket in its groups.
    if ((await this.renewGroups(socket)) === 'USER_HAS_TO_LOGIN') return this.loggedOut(socket);
    if (checked === 'ROOM_INVALID') this.dropDeletedRoom(socket, command.room);
    if (checked === 'ROOM_ACCESS_DENIED' && socket.state.rooms.includes(command.room))
      return this.accessLost(socket);
    if (typeof checked === 'string') return socket.sendJson({ error: checked });
    const { room, username } = checked;
    switch (command.command) {
      case 'join':
        return this.join(socket, room, username);
      case 'leave':
        return this.leave(socket, room.id, username);
      case 'send':
        if (!socket.state.rooms.includes(room.id))
          return socket.sendJson({ error: 'ROOM_ACCESS_DENIED' });
        return socket.groupSendJson(roomGroup(room.id), {
          room: String(room.id),
          message: command.message,
          username,
          msg_type: MESSAGE_TYPES.message,
        });
    }
  }

  async disconnect(socket: ChatSocket): Promise<void> {
    const username = socket.user?.username ?? '';
    for (const roomId of socket.state.rooms ?? []) this.exitRoom(socket, roomId, username);
    socket.state.rooms = [];
    if (socket.user) for (const group of identityGroups(socket.user)) socket.groupDiscard(group);
  }

  /**
   * A socket whose check found its login over: logged out, its session expired
   * or ended, its user deactivated, deleted or given a new password, by Gredis
   * or outside it (Django's admin on a shared auth_user, an SQL UPDATE). The
   * command gets the spec's answer, and the socket is closed with
   * CLOSE_LOGGED_OUT, as Gredis's own ends of a login close it through its
   * groups: left open, it would go on receiving its rooms' messages until their
   * memberships lapse (the layer's group expiry), which is read access for
   * someone no longer logged in. That close may never have come (the layer was
   * unavailable when the admin saved), or never be sent (a change outside
   * Gredis). Its disconnect takes it out of its rooms, with their notices. A
   * user made active again loses nothing for it: the page, on 4001, asks
   * whether its session is alive, and if so reconnects and joins its rooms again.
   */
  private loggedOut(socket: ChatSocket): void {
    socket.sendJson({ error: 'USER_HAS_TO_LOGIN' });
    socket.close(CLOSE_LOGGED_OUT);
  }

  /**
   * A socket whose check finds a room it is in closed to it (made staff-only, or
   * its user's staff flag taken, since it joined): the command gets the spec's
   * answer, and the socket is closed with CLOSE_ACCESS_CHANGED, as the change's
   * own close would have closed it (it reconnects, and its re-joins are checked
   * afresh). Left in the room, it would go on receiving it: that close may never
   * have come (the layer unavailable when the admin saved), or never be sent (a
   * change outside Gredis). Its disconnect takes it out of its rooms.
   */
  private accessLost(socket: ChatSocket): void {
    socket.sendJson({ error: 'ROOM_ACCESS_DENIED' });
    socket.close(CLOSE_ACCESS_CHANGED);
  }

  /**
   * Adds the socket to its groups again once they are old enough to need it.
   * Each room is checked as a join would be, so that renewal never extends
   * access: a room made staff-only, or closed to the user by a lost staff flag,
   * is left (the socket gets its `leave`, the room its notice); a room found
   * deleted is dropped as a command drops it, with no notice to a group whose
   * pages already got their leave from the deletion. A login found over since
   * the command's own check is said (USER_HAS_TO_LOGIN), for the socket to be
   * closed, and nothing of its rooms is renewed.
   */
  private async renewGroups(socket: ChatSocket): Promise<'USER_HAS_TO_LOGIN' | undefined> {
    const now = Date.now();
    const { state, user } = socket;
    if (!user || now - (state.groupsAddedAt ?? 0) < this.settings.renewGroupsAfterMs) return;
    // Asked together: on PostgreSQL a moment's checks share one query (ChatAccess).
    const rooms = state.rooms;
    const checked = await Promise.all(rooms.map((roomId) => this.check(socket, roomId)));
    if (checked.includes('USER_HAS_TO_LOGIN')) return 'USER_HAS_TO_LOGIN';
    state.groupsAddedAt = now;
    addIdentityGroups(socket);
    rooms.forEach((roomId, i) => {
      const access = checked[i];
      if (access === 'ROOM_INVALID') this.dropDeletedRoom(socket, roomId);
      else if (typeof access === 'string') this.leave(socket, roomId, user.username);
      else socket.groupAdd(roomGroup(roomId));
    });
    return undefined;
  }

  private async join(socket: ChatSocket, room: Room, username: string): Promise<void> {
    const reply = { join: String(room.id), title: room.title };
    if (socket.state.rooms.includes(room.id)) return socket.sendJson(reply);
    // Those already in the room hear of the newcomer; then the newcomer joins.
    if (this.settings.notifyEnterLeave) {
      socket.groupSendJson(roomGroup(room.id), {
        room: String(room.id),
        username,
        msg_type: MESSAGE_TYPES.enter,
      });
    }
    // The answer goes before the add, so that no message of the room comes first
    // (the page has no pane for one); the flush below applies both at once (one
    // script on one Redis server), so no message of the room falls between them.
    socket.sendJson(reply);
    socket.groupAdd(roomGroup(room.id));
    // The groups that close the socket when its login ends are added again with
    // each room, so that they never lapse while a room still reaches it (the
    // layer drops a member not re-added within its group expiry).
    addIdentityGroups(socket);
    socket.state.rooms = [...socket.state.rooms, room.id];
    // The check ran before the add. What an admin did to the room in between
    // reached the sockets then in it, which this one was not yet: check again
    // now that it is in, and if the room is closed to it, do to it what they got.
    await socket.flush();
    const again = await this.check(socket, room.id);
    if (again === 'ROOM_INVALID' || again === 'ROOM_ACCESS_DENIED')
      this.undoJoin(socket, room.id, again);
    // A login over by now gets what any check finding it gets, its socket
    // closed (out of the room it has just joined), but no second answer to
    // the join: the page takes the close for what it is.
    else if (again === 'USER_HAS_TO_LOGIN') socket.close(CLOSE_LOGGED_OUT);
  }

  /**
   * A join whose second check found the room closed to it gets what the room's
   * other sockets got from that change, so that the page handles it as theirs,
   * with no reply of its own: made staff-only or the staff flag taken, closed
   * with CLOSE_ACCESS_CHANGED (it reconnects, and its re-joins are checked
   * afresh); deleted, its unasked leave.
   */
  private undoJoin(
    socket: ChatSocket,
    roomId: number,
    error: 'ROOM_INVALID' | 'ROOM_ACCESS_DENIED',
  ): void {
    if (error === 'ROOM_INVALID') {
      this.dropDeletedRoom(socket, roomId);
      socket.send(roomDeletedFrame(roomId).text);
      return;
    }
    socket.close(CLOSE_ACCESS_CHANGED);
  }

  /**
   * A room found deleted is no longer the socket's: out of its group, so that
   * nothing still sent there reaches it (the leave notices of those who were in
   * it). Without a notice of its own: the pages in it closed its pane at the deletion.
   */
  private dropDeletedRoom(socket: ChatSocket, roomId: number): void {
    if (!socket.state.rooms.includes(roomId)) return;
    socket.groupDiscard(roomGroup(roomId));
    socket.state.rooms = socket.state.rooms.filter((id) => id !== roomId);
  }

  private leave(socket: ChatSocket, roomId: number, username: string): void {
    if (socket.state.rooms.includes(roomId)) this.exitRoom(socket, roomId, username);
    socket.sendJson({ leave: String(roomId) });
  }

  /** The room, the leaver included, hears of it (if enabled); then the socket is out. */
  private exitRoom(socket: ChatSocket, roomId: number, username: string): void {
    if (this.settings.notifyEnterLeave) {
      socket.groupSendJson(roomGroup(roomId), {
        room: String(roomId),
        username,
        msg_type: MESSAGE_TYPES.leave,
      });
    }
    socket.groupDiscard(roomGroup(roomId));
    socket.state.rooms = socket.state.rooms.filter((id) => id !== roomId);
  }

  /** The checks every command goes through, in the order multichat.md gives. */
  private async check(
    socket: ChatSocket,
    roomId: number,
  ): Promise<{ room: Room; username: string } | ErrorCode> {
    const identity = socket.user;
    if (!identity) return 'USER_HAS_TO_LOGIN';
    const { user, room } = await this.access.check(identity.id, identity.sessionKeyHash, roomId);
    // Deactivated, deleted, or logged out since the socket opened.
    if (!user) return 'USER_HAS_TO_LOGIN';
    if (!room) return 'ROOM_INVALID';
    if (room.staffOnly && !user.isStaff) return 'ROOM_ACCESS_DENIED';
    return { room, username: user.username };
  }

  /** A token bucket in the connection state: flooding gets RATE_LIMITED, the socket stays. */
  private takeToken(socket: ChatSocket): boolean {
    const now = Date.now();
    const state = socket.state;
    state.tokens = refilledTokens(
      state.tokens ?? this.settings.burst,
      state.at ?? now,
      now,
      this.settings,
    );
    state.at = now;
    if (state.tokens < 1) return false;
    state.tokens -= 1;
    return true;
  }
}

/** The groups that close a socket when its session or its user's login ends (auth/socket-groups). */
function identityGroups(user: SocketUser): string[] {
  return [sessionGroup(user.sessionKeyHash), userGroup(user.id)];
}

/** Adds the socket (again) to its identity groups: at its connect, a join and each renewal. */
function addIdentityGroups(socket: ChatSocket): void {
  if (socket.user) for (const group of identityGroups(socket.user)) socket.groupAdd(group);
}
