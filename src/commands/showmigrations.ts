import { Command, Option } from 'commander';
import { databaseOption, verbosityOption } from './options.js';

export interface ShowMigrationsFlags {
  list?: boolean;
  plan?: boolean;
  database: string;
  verbosity: number;
}

/**
 * `gredis showmigrations`: Django's list, under one heading, "gredis": Gredis
 * has one list of migrations for its auth, sessions, chat and admin log alike.
 * --list and --plan are Django's two forms, one or the other.
 */
export function showMigrationsCommand(): Command {
  return new Command('showmigrations')
    .description('list the database migrations: [X] applied, [ ] pending')
    .addOption(
      new Option(
        '-l, --list',
        'list them under their app, gredis (the default form); with -v 2, when each applied one was applied',
      ),
    )
    .addOption(
      new Option(
        '-p, --plan',
        'list them in the order migrate applies them (not with --list); with -v 2, what each depends on',
      ).conflicts('list'),
    )
    .addOption(databaseOption())
    .addOption(verbosityOption())
    .action(async (flags: ShowMigrationsFlags) => {
      const { runShowMigrations } = await import('./showmigrations-action.js');
      await runShowMigrations(flags);
    });
}
