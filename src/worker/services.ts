import type { SessionStore } from '../auth/sessions.js';
import type { UserRepository } from '../auth/users.js';
import type { Database } from '../db/connection.js';
import type { ChannelLayer } from '../layer/types.js';
import type { Logger } from '../logger.js';
import type { Application } from './app.js';

/** What an application is built from: the process's connections and settings. */
export interface AppServices {
  layer: ChannelLayer;
  db: Database;
  users: UserRepository;
  sessions: SessionStore;
  logger: Logger;
  settings: {
    /** MULTICHAT_NOTIFY_ENTER_LEAVE */
    notifyEnterLeave: boolean;
    /** MULTICHAT_RATE_BURST / MULTICHAT_RATE_PER_SECOND: chat commands per socket. */
    chatBurst?: number;
    chatPerSecond?: number;
  };
}

/** An application module: `createApplication(services)`. */
export interface AppModule {
  createApplication(services: AppServices): Application;
}
