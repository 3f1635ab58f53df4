import { createLogger } from '../logger.js';
import { listLines, MIGRATIONS_APP, planLines, writeLines } from './migration-listing.js';
import { readMigrations } from './read-migrations.js';
import type { ShowMigrationsFlags } from './showmigrations.js';

/**
 * The action of `gredis showmigrations`: Django's list, under one heading
 * (where Django names each app), or with --plan the order they apply in.
 */
export async function runShowMigrations(flags: ShowMigrationsFlags): Promise<void> {
  const logger = createLogger({ verbosity: flags.verbosity, name: 'showmigrations' });
  const migrations = await readMigrations(flags.database, logger);
  writeLines(
    flags.plan
      ? planLines(migrations, flags.verbosity)
      : [MIGRATIONS_APP, ...listLines(migrations, flags.verbosity)],
  );
}
