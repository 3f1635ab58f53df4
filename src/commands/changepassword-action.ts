import { setTimeout } from 'node:timers/promises';
import { SessionStore } from '../auth/sessions.js';
import { closeUserSockets } from '../auth/socket-groups.js';
import { UserRepository, type User } from '../auth/users.js';
import { passwordProblems } from '../auth/validation.js';
import { escapeControls } from '../control-chars.js';
import { isTransientLayerError } from '../layer/errors.js';
import { layerHostAway, RetryBackoff } from '../layer/retry-backoff.js';
import type { ChannelLayer } from '../layer/types.js';
import { createLogger } from '../logger.js';
import { changeUnlessCancelled, unlessCancelled } from './cancellable-change.js';
import { withDatabase } from './database.js';
import { InMemoryChannelLayer } from '../layer/index.js';
import { EXIT_SOCKETS_NOT_CLOSED, type ChangePasswordFlags } from './changepassword.js';
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
  // Ctrl-C cancels until the password is saved, whatever it waits for: the
  // database (the check of its migrations, the user's lookup, its UPDATE or
  // the sessions' DELETE behind a lock too, each cancelled on the server), the layer
  // (up to LAYER_WAIT_MS with nothing on the screen), the prompts.
  await cancelledByCtrlC(async (ctrlC) => {
    try {
      await withDatabase(
        flags.database,
        logger,
        async (db) => {
          const secret = commandSecretKey(db);
          const users = new UserRepository(db, { secret });
          const user = await unlessCancelled(db, ctrlC, () => users.findByUsername(username));
          if (!user) throw new CommandFailed(`user '${username}' does not exist`);
          await requireReachable(layer, layerLog.reason, ctrlC.signal);
          process.stdout.write(`Changing password for user '${escapeControls(user.username)}'\n`);
          const password = await askNewPassword(user, ctrlC.signal);
          // Whoever knew the old password is logged out everywhere, and the chat
          // sockets they opened are closed, as the admin's "set password" does.
          // The sessions end in the password's transaction: a Ctrl-C while their
          // DELETE waits for a lock (cancelled, as the UPDATE's wait would be)
          // rolls the new password back with it, so that it is said cancelled
          // with nothing changed, not changed with the old one's sessions left.
          const sessions = new SessionStore(db, { secret });
          await changeUnlessCancelled(db, ctrlC, () =>
            users.setPassword(user.id, password, (trx) => sessions.deleteForUser(user.id, trx)),
          );
          process.stdout.write(
            `Password changed successfully for user '${escapeControls(user.username)}'\n`,
          );
          await closeSocketsOf(layer, user, flags.closeWait, ctrlC.signal);
        },
        { ctrlC },
      );
    } finally {
      // After a Ctrl-C, not the 2 s more for a layer that may be what held it up.
      await layer.close(ctrlC.signal.aborted ? performance.now() : undefined);
    }
  });
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
 * A close the layer does not take (a host away, a refusal, a full layer) is
 * tried again as the workers try theirs (RetryBackoff), each wait said, for
 * `--close-wait` seconds; then, or at a Ctrl-C, the change stands and the
 * command says which sockets may still be open, with EXIT_SOCKETS_NOT_CLOSED.
 */
async function closeSocketsOf(
  layer: ChannelLayer,
  user: User,
  closeWaitSeconds: number,
  interrupted: AbortSignal,
): Promise<void> {
  if (layer instanceof InMemoryChannelLayer) {
    // Said, not logged: an admin whose shell lacks CHANNEL_LAYER_URL must notice.
    process.stderr.write(
      'Note: no shared channel layer (--layer or CHANNEL_LAYER_URL), so chat sockets open on a running server were not closed; they are refused at their next command.\n',
    );
    return;
  }
  const who = `user '${escapeControls(user.username)}'`;
  const notClosed = `the password was changed and the sessions ended, but the chat sockets of ${who} open on a running server (if any) were not closed`;
  const atNextCommand = 'each is closed at its next command';
  const giveUp = AbortSignal.any([interrupted, AbortSignal.timeout(closeWaitSeconds * 1000)]);
  const givesUpAt = Date.now() + closeWaitSeconds * 1000;
  const backoff = new RetryBackoff();
  /** Why the last try failed: said too when the wait ends between tries. */
  let reason = 'no answer';
  /** One whenReady for all the waits while a host is away: each adds a listener until it is back. */
  let hostBack: Promise<void> | undefined;
  const gaveUp = (): CommandFailed =>
    new CommandFailed(
      interrupted.aborted
        ? `${notClosed}: closing them was interrupted (Ctrl-C); ${atNextCommand}`
        : `${notClosed} in ${closeWaitSeconds} s (${reason}); ${atNextCommand}`,
      EXIT_SOCKETS_NOT_CLOSED,
    );
  for (;;) {
    if (giveUp.aborted) throw gaveUp();
    try {
      await untilAborted(closeUserSockets(layer, user.id), giveUp);
      break;
    } catch (error) {
      // Cut short by the wait's end, a try had no answer.
      reason = error instanceof ClosingInterrupted ? 'no answer' : (error as Error).message;
      if (giveUp.aborted) throw gaveUp();
      if (!isTransientLayerError(error))
        throw new CommandFailed(
          `${notClosed} (${reason}); ${atNextCommand}`,
          EXIT_SOCKETS_NOT_CLOSED,
        );
      const delay = backoff.next();
      const left = givesUpAt - Date.now();
      if (layerHostAway(layer))
        hostBack ??= layer.whenReady().finally(() => (hostBack = undefined));
      // A wait ends when a host that was away is back: said, so that whoever
      // restarts Redis knows not to sit out the wait.
      const orSooner = hostBack ? ', or as soon as the layer is back' : '';
      // A wait past --close-wait ends with it, and no try follows: said so, with the real wait.
      const next =
        delay <= left
          ? `trying again in ${delay / 1000} s${orSooner}`
          : `giving up in ${Math.round(left / 100) / 10} s, as --close-wait ends${orSooner && ', unless the layer is back before'}`;
      process.stderr.write(
        `The channel layer did not take the close of the chat sockets of ${who} (${reason}); ${next} (Ctrl-C to stop)\n`,
      );
      await retryWait(delay, giveUp, hostBack);
    }
  }
  process.stdout.write(`Closed the chat sockets of ${who}\n`);
}

/** `delayMs`, or less: until `hostBack` (a host that was away is back), or `signal` aborts. */
async function retryWait(
  delayMs: number,
  signal: AbortSignal,
  hostBack: Promise<void> | undefined,
): Promise<void> {
  // The timer goes with a wait that ended another way: left running, it would
  // hold the process open for the rest of its delay once the command is done.
  const ended = new AbortController();
  const timer = setTimeout(delayMs, undefined, {
    signal: AbortSignal.any([signal, ended.signal]),
  }).catch(() => undefined);
  try {
    await Promise.race(hostBack ? [timer, hostBack] : [timer]);
  } finally {
    ended.abort();
  }
}

/** Asks as Django does: a mismatch, a blank or a refused password (its reasons said) is a try. */
async function askNewPassword(user: User, cancel: AbortSignal): Promise<string> {
  const prompter = new Prompter(cancel);
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

/** A Ctrl-C, or --close-wait over, after the change: what was left is not done, the change stands. */
class ClosingInterrupted extends Error {
  constructor() {
    super('given up');
    this.name = 'ClosingInterrupted';
  }
}

/** `work`, or ClosingInterrupted as soon as `signal` aborts. */
async function untilAborted<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  let onAbort!: () => void;
  const aborted = new Promise<never>((_resolve, reject) => {
    onAbort = () => reject(new ClosingInterrupted());
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
  });
  try {
    return await Promise.race([work, aborted]);
  } finally {
    // Not left on the signal once `work` has settled.
    signal.removeEventListener('abort', onAbort);
  }
}
