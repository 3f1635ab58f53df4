import { Command } from 'commander';
import { databaseOption, verbosityOption } from './options.js';

export interface ShowMigrationsFlags {
  database: string;
  verbosity: number;
}

/**
 * `gredis showmigrations`: Django's list, under one heading, "gredis": Gredis
 * has one list of migrations for its auth, sessions, chat and admin log alike.
 */
export function showMigrationsCommand(): Command {
  return new Command('showmigrations')
    .description('list the database migrations: [X] applied, [ ] pending')
    .addOption(databaseOption())
    .addOption(verbosityOption())
    .action(async (flags: ShowMigrationsFlags) => {
      const { runShowMigrations } = await import('./showmigrations-action.js');
      await runShowMigrations(flags);
    });
}
