import { findApp, appNames, type AppEntry } from '../apps/registry.js';
import { SessionStore } from '../auth/sessions.js';
import { UserRepository } from '../auth/users.js';
import { secretKeyWeakness } from '../config/secret-key.js';
import type { Database } from '../db/connection.js';
import type { ChannelLayer } from '../layer/types.js';
import type { Logger } from '../logger.js';
import { booleanFromEnv, DEFAULTS, ENV, positiveNumberFromEnv } from '../settings.js';
import type { Application } from '../worker/app.js';
import type { AppServices } from '../worker/services.js';
import { CommandFailed } from './errors.js';
import { commandSecretKey } from './secret-key.js';

export function requireApp(name: string): AppEntry {
  const app = findApp(name);
  if (!app) throw new CommandFailed(`unknown app "${name}" (known: ${appNames().join(', ')})`, 2);
  return app;
}

/**
 * Readies an application on an open, migrated database (withDatabase refuses
 * any other): refuses to start without a usable SECRET_KEY or setting;
 * resolves with what builds it on a layer. Nothing here needs the layer, so a
 * command connects to it only once these pass.
 */
export async function prepareApplication(
  entry: AppEntry,
  db: Database,
  logger: Logger,
): Promise<(layer: ChannelLayer) => Application> {
  const secret = commandSecretKey(db);
  const weakness = secretKeyWeakness(secret);
  if (weakness) logger.warn(weakness);
  // A bad value throws InvalidSetting: the CLI exits 2 with its message.
  const settings: AppServices['settings'] = {
    notifyEnterLeave: booleanFromEnv(ENV.notifyEnterLeave, DEFAULTS.notifyEnterLeave),
    chatBurst: positiveNumberFromEnv(ENV.chatBurst, true),
    chatPerSecond: positiveNumberFromEnv(ENV.chatPerSecond),
  };
  const module = await entry.load();
  return (layer) =>
    module.createApplication({
      layer,
      db,
      users: new UserRepository(db, { secret }),
      sessions: new SessionStore(db, { secret }),
      logger,
      settings,
    });
}
