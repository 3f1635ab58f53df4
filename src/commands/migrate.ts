import { Command, Option } from 'commander';
import { databaseOption, verbosityOption } from './options.js';

export interface MigrateFlags {
  list?: boolean;
  database: string;
  verbosity: number;
}

/** `gredis migrate`: applies pending migrations, printing one line per migration. */
export function migrateCommand(): Command {
  return new Command('migrate')
    .description('apply pending database migrations (safe to repeat)')
    .addOption(new Option('--list', 'show every migration: [X] applied, [ ] pending'))
    .addOption(databaseOption())
    .addOption(verbosityOption())
    .action(async (flags: MigrateFlags) => {
      const { runMigrate } = await import('./migrate-action.js');
      await runMigrate(flags);
    });
}
