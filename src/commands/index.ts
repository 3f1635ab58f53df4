import type { Command } from 'commander';
import { CommandFailed } from './errors.js';
import { thymeCommand } from './thyme.js';

/** Adds every subcommand to the program. */
export function registerCommands(program: Command): void {
  program.addCommand(thymeCommand());
  for (const [name, description] of [
    ['migrate', 'apply pending database migrations (safe to repeat)'],
    ['createsuperuser', 'create a staff superuser'],
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
