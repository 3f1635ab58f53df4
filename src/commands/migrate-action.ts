import { listMigrations, migrate } from '../db/migrations.js';
import { createLogger } from '../logger.js';
import { withDatabase } from './database.js';
import type { MigrateFlags } from './migrate.js';

/** The action of `gredis migrate`, loaded only when it runs: its modules are the heavy ones. */
export async function runMigrate(flags: MigrateFlags): Promise<void> {
  const logger = createLogger({ verbosity: flags.verbosity, name: 'migrate' });
  const write = (line: string): boolean => process.stdout.write(`${line}\n`);
  // Progress is info: -v 0 (warnings only) applies them in silence, as Django's migrate -v 0.
  const progress = (line: string): boolean => flags.verbosity > 0 && write(line);
  await withDatabase(
    flags.database,
    logger,
    async (db) => {
      if (flags.list) {
        for (const { name, applied } of await listMigrations(db))
          write(` [${applied ? 'X' : ' '}] ${name}`);
        return;
      }
      // The heading waits for the first answer from the database, so an unreachable
      // server gives one error line and nothing else.
      let count = 0;
      await migrate(db, {
        logger,
        onApplied: (name) => {
          if (count++ === 0) progress('Running migrations:');
          progress(`  Applying ${name}... OK`);
        },
      });
      if (count === 0) progress('Running migrations:\n  No migrations to apply.');
    },
    // No query timeout, whatever DATABASE_URL's query_timeout= says (it is the
    // app's): a migration may rightly run for minutes (an index on a large table).
    { queryTimeoutMs: 0, migrating: true },
  );
}
