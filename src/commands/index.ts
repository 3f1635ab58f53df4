import type { Command } from 'commander';
import { changePasswordCommand } from './changepassword.js';
import { createSuperuserCommand } from './createsuperuser.js';
import { CommandFailed } from './errors.js';
import { migrateCommand } from './migrate.js';
import { thymeCommand } from './thyme.js';

/** Adds every subcommand to the program. */
export function registerCommands(program: Command): void {
  program.addCommand(thymeCommand());
  program.addCommand(migrateCommand());
  program.addCommand(createSuperuserCommand());
  program.addCommand(changePasswordCommand());
  for (const [name, description] of [
    ['runworker', 'run a worker for APP against the channel layer'],
  ] as const) {
    program
      .command(name)
      .description(description)
      .action(() => {
        throw new CommandFailed(`"${name}" is not implemented yet`);
      });
  }
}
