import type { SessionStore } from '../../auth/sessions.js';
import type { UserRepository } from '../../auth/users.js';
import type { Logger } from '../../logger.js';
import type { Application } from '../../worker/app.js';
import {
  authMiddleware,
  identifySocketUser,
  loginRequired,
  LoginThrottle,
} from '../../worker/http/auth.js';
import { csrfMiddleware } from '../../worker/http/csrf.js';
import { multipartForms } from '../../worker/http/multipart-form.js';
import { responseForError } from '../../worker/http/handler.js';
import { compose, Router } from '../../worker/http/router.js';
import { securityHeaders } from '../../worker/http/security.js';
import { sessionMiddleware } from '../../worker/http/sessions.js';
import type { AppServices } from '../../worker/services.js';
import { ChatAccess } from './access.js';
import { CHAT_DEFAULTS, ChatConsumer } from './consumer.js';
import { AdminLog } from './admin-log.js';
import { RoomRepository } from './rooms.js';
import { addAdminRoutes } from './views/admin.js';
import { OwedGroupSends } from './views/owed-group-sends.js';
import { csrfFailure, errorPage, indexView, loginView, logoutView } from './views/pages.js';

export const CHAT_PATH = '/chat/stream/';

/** What the admin views work with. */
export interface AdminServices {
  rooms: RoomRepository;
  users: UserRepository;
  sessions: SessionStore;
  /** What the admin added, changed and deleted (its history pages and "Recent actions"). */
  log: AdminLog;
  /**
   * To close the sockets of a user whose sessions the admin ends, or of a room
   * made staff-only, and to tell those in a room it deletes: again, until the
   * layer takes it.
   */
  groupSends: OwedGroupSends;
  /** For a close the layer could not take after a change was saved. */
  logger: Logger;
}

/**
 * MultiChat (multichat.md): rooms, login, the admin, and the chat over one
 * WebSocket. `access` answers the chat's checks (a test may steer their timing).
 */
export function createApplication(
  services: AppServices,
  access: ChatAccess = new ChatAccess(services.db, services.users),
): Application {
  const { users, sessions, layer } = services;
  const rooms = new RoomRepository(services.db);
  // The page renews its socket's groups this often (a command while it has rooms
  // open, else a fresh socket), and a command renews memberships older than half
  // of it: well inside the layer's group expiry.
  // At most a day (a browser fires an interval over 2^31 ms at once, in a loop),
  // at least half a second.
  const keepAliveSeconds = Math.min(Math.max(layer.groupExpiry / 4, 0.5), 86_400);
  const throttle = new LoginThrottle(layer.counters);
  // What a change could not send to chat sockets, sent again by this process until the layer takes it.
  const groupSends = new OwedGroupSends(layer, services.logger);
  const router = new Router()
    .add('/', loginRequired(indexView(rooms, keepAliveSeconds)), ['GET'])
    .add('/accounts/login/', loginView(users, throttle, groupSends, sessions, services.logger), [
      'GET',
      'POST',
    ])
    .add('/accounts/logout/', logoutView(groupSends, sessions, services.logger), ['POST']);
  const log = new AdminLog(services.db);
  addAdminRoutes(router, { rooms, users, sessions, log, groupSends, logger: services.logger });

  // The order Django users know: sessions, then CSRF, then auth.
  const handleHttp = compose(
    [
      securityHeaders(),
      sessionMiddleware(sessions),
      multipartForms(),
      csrfMiddleware({ failure: csrfFailure, logger: services.logger }),
      authMiddleware(users),
    ],
    (request) => router.dispatch(request),
    (error, request) =>
      responseForError(error, request, (status) => errorPage(status, request), services.logger),
  );
  const consumer = new ChatConsumer(access, {
    notifyEnterLeave: services.settings.notifyEnterLeave,
    burst: services.settings.chatBurst ?? CHAT_DEFAULTS.burst,
    perSecond: services.settings.chatPerSecond ?? CHAT_DEFAULTS.perSecond,
    renewGroupsAfterMs: (keepAliveSeconds * 1000) / 2,
  });
  return {
    name: 'multichat',
    handleHttp,
    consumerFor: (path) => (path === CHAT_PATH ? consumer : undefined),
    identifySocket: (headers) => identifySocketUser(headers, sessions, users),
    errorResponse: (status, request) => errorPage(status, request),
    close: (deadline) => groupSends.close(deadline),
  };
}
