import { Command, Option } from 'commander';
import { databaseOption, verbosityOption } from './options.js';

export interface MigrateFlags {
  list?: boolean;
  plan?: boolean;
  database: string;
  verbosity: number;
}

/**
 * `gredis migrate`: applies pending migrations, printing one line per migration.
 * --list and --plan only read: showmigrations' list, and Django's plan.
 */
export function migrateCommand(): Command {
  return new Command('migrate')
    .description('apply pending database migrations (safe to repeat)')
    .addOption(new Option('--list', 'show every migration: [X] applied, [ ] pending'))
    .addOption(
      new Option(
        '--plan',
        'show the migrations it would apply, and apply none (not with --list)',
      ).conflicts('list'),
    )
    .addOption(databaseOption())
    .addOption(verbosityOption())
    .action(async (flags: MigrateFlags) => {
      const { runMigrate } = await import('./migrate-action.js');
      await runMigrate(flags);
    });
}
