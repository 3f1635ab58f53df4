import { Command } from 'commander';
import { SessionStore } from '../auth/sessions.js';
import { UserRepository } from '../auth/users.js';
import { createLogger } from '../logger.js';
import { withDatabase } from './database.js';
import { CommandFailed } from './errors.js';
import { databaseOption, verbosityOption } from './options.js';
import { Prompter } from './prompt.js';

/** Django gives up after this many mismatched or refused entries. */
const MAX_TRIES = 3;

interface ChangePasswordFlags {
  database: string;
  verbosity: number;
}

export function changePasswordCommand(): Command {
  return new Command('changepassword')
    .description("change a user's password (prompts twice, hidden) and end their sessions")
    .argument('<username>', 'the user whose password changes')
    .addOption(databaseOption())
    .addOption(verbosityOption())
    .action(async (username: string, flags: ChangePasswordFlags) => {
      const logger = createLogger({ verbosity: flags.verbosity, name: 'changepassword' });
      await withDatabase(flags.database, logger, async (db) => {
        const users = new UserRepository(db);
        const user = await users.findByUsername(username);
        if (!user) throw new CommandFailed(`user '${username}' does not exist`);
        process.stdout.write(`Changing password for user '${user.username}'\n`);
        const password = await askNewPassword(user.username);
        await users.setPassword(user.id, password);
        // Whoever knew the old password is logged out everywhere.
        await new SessionStore(db).deleteForUser(user.id);
        process.stdout.write(`Password changed successfully for user '${user.username}'\n`);
      });
    });
}

async function askNewPassword(username: string): Promise<string> {
  const prompter = new Prompter();
  try {
    for (let tries = 1; ; tries++) {
      const password = await prompter.askHidden('Password: ');
      const again = await prompter.askHidden('Password (again): ');
      if (password !== again) process.stderr.write('Passwords do not match. Please try again.\n');
      else if (password.trim() === '')
        process.stderr.write("Error: Blank passwords aren't allowed.\n");
      else return password;
      if (tries >= MAX_TRIES)
        throw new CommandFailed(
          `Aborting password change for user '${username}' after ${MAX_TRIES} attempts`,
        );
    }
  } finally {
    prompter.close();
  }
}
