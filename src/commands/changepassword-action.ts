import { SessionStore } from '../auth/sessions.js';
import { closeUserSockets } from '../auth/socket-groups.js';
import { UserRepository, type User } from '../auth/users.js';
import { passwordProblems } from '../auth/validation.js';
import type { ChannelLayer } from '../layer/types.js';
import { createLogger } from '../logger.js';
import { withDatabase } from './database.js';
import { InMemoryChannelLayer } from '../layer/index.js';
import type { ChangePasswordFlags } from './changepassword.js';
import { CommandFailed } from './errors.js';
import { heldLayerWarnings, layerReachable, openLayer } from './layer.js';
import { cancelledByCtrlC, Prompter } from './prompt.js';
import { commandSecretKey } from './secret-key.js';
import { pythonStrip } from '../python-strip.js';

/** Django gives up after this many mismatched or refused entries. */
const MAX_TRIES = 3;

/** The action of `gredis changepassword`, loaded only when it runs: its modules are the heavy ones. */
export async function runChangePassword(
  username: string,
  flags: ChangePasswordFlags,
): Promise<void> {
  const logger = createLogger({ verbosity: flags.verbosity, name: 'changepassword' });
  const layerLog = heldLayerWarnings(logger);
  // Opened first, so that a bad URL is refused before anyone types a password.
  const layer = openLayer(flags.layer, logger, { logger: layerLog.logger });
  try {
    await withDatabase(flags.database, logger, async (db) => {
      const secret = commandSecretKey(db);
      const users = new UserRepository(db, { secret });
      const user = await users.findByUsername(username);
      if (!user) throw new CommandFailed(`user '${username}' does not exist`);
      // Up to LAYER_WAIT_MS with nothing on the screen: Ctrl-C there ends it as at a prompt.
      await cancelledByCtrlC((signal) => requireReachable(layer, layerLog.reason, signal));
      process.stdout.write(`Changing password for user '${user.username}'\n`);
      const password = await askNewPassword(user);
      await users.setPassword(user.id, password);
      // Whoever knew the old password is logged out everywhere, and the chat
      // sockets they opened are closed, as the admin's "set password" does.
      await new SessionStore(db, { secret }).deleteForUser(user.id);
      process.stdout.write(`Password changed successfully for user '${user.username}'\n`);
      await closeSocketsOf(layer, user);
    });
  } finally {
    await layer.close();
  }
}

/** How long a shared layer may take to answer before the command gives up, changing nothing. */
const LAYER_WAIT_MS = 5000;

/**
 * Refuses, before any prompt, to change a password whose user's sockets it could
 * not then close: better to say so while nothing has changed.
 */
async function requireReachable(
  layer: ChannelLayer,
  reason: () => string | undefined,
  signal: AbortSignal,
): Promise<void> {
  // The in-process layer is always ready: it passes at once.
  if (await layerReachable(layer, LAYER_WAIT_MS, signal)) return;
  const shown = layer
    .health()
    .hosts.filter((host) => host.status !== 'ready')
    .map((host) => host.url)
    .join(', ');
  throw new CommandFailed(
    `cannot connect to the channel layer (${shown}: ${reason() ?? 'down, or refusing these credentials'}), so the user's open chat sockets could not be closed; nothing was changed. To change the password anyway, pass --layer memory:// (open sockets are then refused at their next command)`,
  );
}

/**
 * Closes the user's chat sockets on a shared layer. The in-process layer reaches
 * no running server: its sockets are refused at their next command instead.
 */
async function closeSocketsOf(layer: ChannelLayer, user: User): Promise<void> {
  if (layer instanceof InMemoryChannelLayer) {
    // Said, not logged: an admin whose shell lacks CHANNEL_LAYER_URL must notice.
    process.stderr.write(
      'Note: no shared channel layer (--layer or CHANNEL_LAYER_URL), so chat sockets open on a running server were not closed; they are refused at their next command.\n',
    );
    return;
  }
  try {
    await closeUserSockets(layer, user.id);
  } catch (error) {
    throw new CommandFailed(
      `the password was changed and the sessions ended, but the open chat sockets could not be closed: ${(error as Error).message}`,
    );
  }
  process.stdout.write(`Closed the chat sockets of user '${user.username}'\n`);
}

/** Asks as Django does: a mismatch, a blank or a refused password (its reasons said) is a try. */
async function askNewPassword(user: User): Promise<string> {
  const prompter = new Prompter();
  try {
    for (let tries = 1; ; tries++) {
      const password = await prompter.askHidden('Password: ');
      const again = await prompter.askHidden('Password (again): ');
      const problems = passwordProblems(password, user);
      if (password !== again) process.stderr.write('Passwords do not match. Please try again.\n');
      else if (pythonStrip(password) === '')
        process.stderr.write("Error: Blank passwords aren't allowed.\n");
      else if (problems.length > 0) process.stderr.write(`${problems.join('\n')}\n`);
      else return password;
      if (tries >= MAX_TRIES)
        throw new CommandFailed(
          `Aborting password change for user '${user.username}' after ${MAX_TRIES} attempts`,
        );
    }
  } finally {
    prompter.close();
  }
}
