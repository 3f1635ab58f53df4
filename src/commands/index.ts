import type { Command } from 'commander';
import { changePasswordCommand } from './changepassword.js';
import { clearSessionsCommand } from './clearsessions.js';
import { createSuperuserCommand } from './createsuperuser.js';
import { migrateCommand } from './migrate.js';
import { runWorkerCommand } from './runworker.js';
import { showMigrationsCommand } from './showmigrations.js';
import { thymeCommand } from './thyme.js';

/** Adds every subcommand to the program. */
export function registerCommands(program: Command): void {
  program.addCommand(thymeCommand());
  program.addCommand(migrateCommand());
  program.addCommand(showMigrationsCommand());
  program.addCommand(createSuperuserCommand());
  program.addCommand(changePasswordCommand());
  program.addCommand(clearSessionsCommand());
  program.addCommand(runWorkerCommand());
}
