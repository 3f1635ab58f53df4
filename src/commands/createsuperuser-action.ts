import { userInfo } from 'node:os';
import {
  DuplicateUsername,
  InvalidUsername,
  InvalidUserField,
  UserRepository,
  usernameFieldError,
  validateUsername,
} from '../auth/users.js';
import { emailProblem, passwordProblems } from '../auth/validation.js';
import { createLogger } from '../logger.js';
import { SUPERUSER_PASSWORD_ENV, type CreateSuperuserFlags } from './createsuperuser.js';
import { changeUnlessCancelled, unlessCancelled } from './cancellable-change.js';
import { withDatabase } from './database.js';
import { CommandFailed } from './errors.js';
import { cancelledByCtrlC, Prompter } from './prompt.js';
import { commandSecretKey } from './secret-key.js';
import { pythonStrip } from '../python-strip.js';

/** The action of `gredis createsuperuser`, loaded only when it runs: its modules are the heavy ones. */
export async function runCreateSuperuser(flags: CreateSuperuserFlags): Promise<void> {
  if (flags.input === false) flags.noinput = true;
  if (flags.noinput && flags.username === undefined)
    throw new CommandFailed('--noinput needs --username', 2);
  // Django words a blank --username its own way, and refuses it at once, prompts
  // or not (nothing to ask again); a prompt's blank answer gets the field's
  // "This field cannot be blank." instead.
  if (flags.username === '') throw new CommandFailed('Username cannot be blank.');
  const logger = createLogger({ verbosity: flags.verbosity, name: 'createsuperuser' });
  // Ctrl-C cancels until the user is created, whatever it waits for: the
  // database, the prompts, or a lock the check of its migrations, the INSERT
  // or a lookup of a username waits for (cancelled on the server).
  await cancelledByCtrlC((ctrlC) =>
    withDatabase(
      flags.database,
      logger,
      async (db) => {
        const users = new UserRepository(db, { secret: commandSecretKey(db) });
        const taken: UsernameTaken = async (username) =>
          (await unlessCancelled(db, ctrlC, () => users.findByUsername(username))) !== undefined;
        const details = flags.noinput
          ? noinputDetails(flags)
          : await askDetails(taken, flags, ctrlC.signal);
        try {
          await changeUnlessCancelled(db, ctrlC, () =>
            users.create({ ...details, isStaff: true, isSuperuser: true, isActive: true }),
          );
        } catch (error) {
          if (
            error instanceof DuplicateUsername ||
            error instanceof InvalidUsername ||
            error instanceof InvalidUserField
          )
            throw new CommandFailed(error.message);
          throw error;
        }
        // As Django's: said from -v 1 up (-v 0 is warnings only).
        if (flags.verbosity > 0) process.stdout.write('Superuser created successfully.\n');
      },
      { ctrlC },
    ),
  );
}

/** Whether a user has `username` (exactly, as stored). */
type UsernameTaken = (username: string) => Promise<boolean>;

interface SuperuserDetails {
  username: string;
  email: string;
  password: string;
}

/** --noinput: everything from flags and the environment; any problem is fatal (exit 1). */
function noinputDetails(flags: CreateSuperuserFlags): SuperuserDetails {
  const username = checked(() => superuserUsername(flags.username!));
  const email = flags.email ?? '';
  const emailError = emailProblem(email);
  if (emailError) throw new CommandFailed(emailError);
  // Not trimmed: spaces may be part of a password; but all-blank is refused.
  const password = process.env[SUPERUSER_PASSWORD_ENV];
  if (password === undefined || pythonStrip(password) === '')
    throw new CommandFailed(
      `--noinput reads the password from ${SUPERUSER_PASSWORD_ENV}, which is ${password === undefined ? 'not set' : 'blank'}`,
    );
  return { username, email, password };
}

/** Interactive: prompts as Django does, re-asking after each error until input ends. */
async function askDetails(
  taken: UsernameTaken,
  flags: CreateSuperuserFlags,
  cancel: AbortSignal,
): Promise<SuperuserDetails> {
  const prompter = new Prompter(cancel);
  const complain = (message: string): boolean => process.stderr.write(`Error: ${message}\n`);
  try {
    const fallback = await defaultUsername(taken);
    let username: string | undefined;
    let candidate = flags.username;
    while (username === undefined) {
      const given = candidate !== undefined;
      if (candidate === undefined) {
        const hint = fallback ? ` (leave blank to use '${fallback}')` : '';
        candidate = await prompter.ask(`Username${hint}: `);
        if (candidate === '' && fallback) candidate = fallback;
      }
      const problem = await usernameProblem(taken, candidate);
      // Django's check of --username (_validate_username) says the field's
      // error bare, where its prompt (get_input_data) says "Error: " first; a
      // name taken is "Error: …" on both.
      if (problem?.taken === false && given) process.stderr.write(`${problem.message}\n`);
      else if (problem) complain(problem.message);
      else username = superuserUsername(candidate);
      candidate = undefined;
    }

    let email: string | undefined;
    let emailCandidate = flags.email;
    while (email === undefined) {
      // Not stripped: Django's command cleans it with the model's field, which
      // keeps spaces (and refuses them), unlike a form's.
      emailCandidate ??= await prompter.ask('Email address: ');
      const problem = emailProblem(emailCandidate);
      if (problem) complain(problem);
      else email = emailCandidate;
      emailCandidate = undefined;
    }

    for (;;) {
      const password = await prompter.askHidden('Password: ');
      const again = await prompter.askHidden('Password (again): ');
      if (password !== again) complain("Your passwords didn't match.");
      else if (pythonStrip(password) === '') complain("Blank passwords aren't allowed.");
      else {
        // As Django: the reasons, then the choice to keep the password anyway.
        const problems = passwordProblems(password, { username, email });
        if (problems.length === 0) return { username, email, password };
        process.stderr.write(`${problems.join('\n')}\n`);
        const bypass = await prompter.ask(
          'Bypass password validation and create user anyway? [y/N]: ',
        );
        if (bypass.toLowerCase() === 'y') return { username, email, password };
      }
    }
  } finally {
    prompter.close();
  }
}

/**
 * Django's message for a username it would refuse (`taken`, or the field's
 * error), or undefined if it is free and valid.
 */
async function usernameProblem(
  taken: UsernameTaken,
  username: string,
): Promise<{ message: string; taken: boolean } | undefined> {
  let normalized: string;
  try {
    normalized = superuserUsername(username);
  } catch (error) {
    if (error instanceof InvalidUsername) return { message: error.message, taken: false };
    throw error;
  }
  // A friendly early answer only: the unique constraint still decides at create time.
  if (await taken(normalized)) return { message: 'That username is already taken.', taken: true };
  return undefined;
}

/** The login name of whoever runs the command, offered as a default if usable (as Django does). */
async function defaultUsername(taken: UsernameTaken): Promise<string | undefined> {
  let name: string;
  try {
    name = userInfo().username.normalize('NFKC');
  } catch {
    return undefined;
  }
  return (await usernameProblem(taken, name)) === undefined ? name : undefined;
}

/**
 * The name to store, checked as Django's createsuperuser checks it: by the model
 * field, as typed (usernameFieldError), then created NFKC-normalised. That name
 * must also pass validateUsername here, where Django stores it unchecked: 150
 * "ﬃ" pass its command, then their 450 characters fail PostgreSQL's
 * varchar(150) (a DataError, on SQLite a name longer than the column), and "½"
 * passes and is stored "1⁄2", which Django's own forms refuse. Those are refused
 * up front, in the words of Django's forms ("… (it has 450).").
 */
function superuserUsername(username: string): string {
  const fieldError = usernameFieldError(username);
  if (fieldError !== undefined) throw new InvalidUsername(username, fieldError);
  return validateUsername(username);
}

function checked(validate: () => string): string {
  try {
    return validate();
  } catch (error) {
    if (error instanceof InvalidUsername) throw new CommandFailed(error.message);
    throw error;
  }
}
