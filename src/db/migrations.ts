import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Knex } from 'knex';
import { silentLogger, type Logger } from '../logger.js';
import { PACKAGE_ROOT } from '../paths.js';
import type { Database } from './connection.js';
import { isBusy, MigrationFailed, MigrationInterrupted } from './errors.js';
import { interruptQueriesOnAbort } from './interrupt-queries.js';

/** Where the compiled migrations (top-level `migrations/*.ts`) end up. */
export const MIGRATIONS_DIR = join(PACKAGE_ROOT, 'dist', 'migrations');

/** Knex's bookkeeping tables (`<name>_lock` is derived by knex). */
export const MIGRATIONS_TABLE = 'gredis_migrations';
const LOCK_TABLE = `${MIGRATIONS_TABLE}_lock`;

export interface MigrationStatus {
  name: string;
  applied: boolean;
  /** When it was applied (knex's migration_time), if it is and the row says. */
  appliedAt?: Date;
}

export interface MigrateOptions {
  logger?: Logger;
  /** Called after each migration is applied, e.g. to print progress. */
  onApplied?: (name: string) => void;
  /** How long to keep retrying while another process holds the migration lock. */
  lockTimeoutMs?: number;
  /** Overrides MIGRATIONS_DIR (tests). */
  directory?: string;
  /**
   * Interrupts the run (Ctrl-C): no migration starts after it aborts, a wait
   * for the migration lock ends, and the migration being applied fails and is
   * rolled back (interruptQueriesOnAbort); migrate then throws MigrationInterrupted.
   */
  signal?: AbortSignal;
}

/** Migration modules as compiled: `up` and `down` taking knex. */
interface MigrationModule {
  up(knex: Knex): Promise<void>;
  down(knex: Knex): Promise<void>;
}

/**
 * Lists the compiled directory itself, so names carry no ".js" (they are the same
 * whether the TypeScript or its output ran) and sort by their timestamp prefix.
 */
class CompiledMigrations implements Knex.MigrationSource<string> {
  constructor(private readonly directory: string) {}

  async getMigrations(): Promise<string[]> {
    let files: string[];
    try {
      files = await readdir(this.directory);
    } catch (error) {
      throw new MigrationFailed(
        undefined,
        `cannot read ${this.directory} (run "npm run build"): ${(error as Error).message}`,
        { cause: error },
      );
    }
    return files
      .filter((file) => /^\d+_[\w-]+\.js$/.test(file))
      .map((file) => file.slice(0, -'.js'.length))
      .sort();
  }

  getMigrationName(name: string): string {
    return name;
  }

  async getMigration(name: string): Promise<Knex.Migration> {
    const url = pathToFileURL(join(this.directory, `${name}.js`)).href;
    return (await import(url)) as MigrationModule;
  }
}

function migratorConfig(directory: string | undefined): Knex.MigratorConfig {
  return {
    tableName: MIGRATIONS_TABLE,
    migrationSource: new CompiledMigrations(directory ?? MIGRATIONS_DIR),
  };
}

/** The names of every migration this Gredis has, oldest first, known without a database. */
export function knownMigrations(
  options: Pick<MigrateOptions, 'directory'> = {},
): Promise<string[]> {
  return new CompiledMigrations(options.directory ?? MIGRATIONS_DIR).getMigrations();
}

/** Every known migration, oldest first, and whether this database has it. */
export async function listMigrations(
  db: Database,
  options: Pick<MigrateOptions, 'directory'> = {},
): Promise<MigrationStatus[]> {
  const config = migratorConfig(options.directory);
  const source = config.migrationSource as CompiledMigrations;
  // Many processes may check at start-up at once; on a fresh database they race to
  // create the bookkeeping tables, which is contention, not failure.
  // A database never migrated has every migration pending. Said without
  // creating the bookkeeping tables: a command that refuses to run on it must
  // leave it as it found it.
  if (!(await db.knex.schema.hasTable(MIGRATIONS_TABLE)))
    return (await knownMigrations(options)).map((name) => ({ name, applied: false }));
  const deadline = Date.now() + 10_000;
  for (let attempt = 1; ; attempt++) {
    try {
      await ensureBookkeeping(db);
      const [all, completed, times] = await Promise.all([
        source.getMigrations(),
        db.knex.migrate.list(config).then(([done]) => completedNames(done)),
        appliedTimes(db),
      ]);
      return all.map((name) =>
        completed.has(name)
          ? { name, applied: true, appliedAt: times.get(name) }
          : { name, applied: false },
      );
    } catch (error) {
      if (!isContention(error) || Date.now() >= deadline) throw newerDatabase(error) ?? error;
      await sleep(Math.min(50 * attempt, 500));
    }
  }
}

/** How knex says the database has applied migrations it has no file for. */
const MISSING_FILES = /migration directory is corrupt, the following files are missing: (.*)$/i;

/**
 * What knex calls a corrupt migration directory, said as it is: a newer Gredis
 * migrated this database (knex's message would send one looking for lost files).
 */
function newerDatabase(error: unknown): MigrationFailed | undefined {
  const missing = error instanceof Error ? MISSING_FILES.exec(error.message) : null;
  if (!missing) return undefined;
  return new MigrationFailed(
    undefined,
    `the database has migrations this version of Gredis does not know (${missing[1]!.trim()}): a newer Gredis migrated it; run that version, or restore a backup from before`,
    { cause: error },
  );
}

/**
 * Applies pending migrations one at a time (each in its own transaction, so progress
 * is reported as it happens) and returns their names; already-applied ones are skipped.
 * Several processes may run this at once: they take turns under knex's lock, each
 * applying what is still pending when its turn comes, and each returns only once
 * every migration is applied (by it or by another).
 */
export async function migrate(db: Database, options: MigrateOptions = {}): Promise<string[]> {
  const { signal } = options;
  const interruption = signal && interruptQueriesOnAbort(db, signal);
  try {
    return await migrateEach(db, options);
  } finally {
    await interruption?.stop();
  }
}

/** migrate()'s turns, each applying the next migration, once its interruption is set up. */
async function migrateEach(db: Database, options: MigrateOptions): Promise<string[]> {
  const { signal } = options;
  const logger = options.logger ?? silentLogger();
  /** The migration being applied, from knex's hook until its transaction ends. */
  let current: string | undefined;
  const config: Knex.MigratorConfigWithLifecycleHooks = {
    ...migratorConfig(options.directory),
    beforeEach: async (_trx, [name]) => {
      current = name as string;
    },
  };
  const lockTimeoutMs = options.lockTimeoutMs ?? 30_000;
  const deadline = Date.now() + lockTimeoutMs;
  const applied: string[] = [];
  let saidLocked = false;
  for (let attempt = 1; ; attempt++) {
    if (signal?.aborted) throw new MigrationInterrupted(undefined);
    let names: string[];
    let done: boolean;
    try {
      await ensureBookkeeping(db);
      const [, ran] = (await db.knex.migrate.up(config)) as [number, string[]];
      current = undefined;
      names = ran;
      // Knex picks the next migration before waiting for the lock and drops it if
      // the holder applied it meanwhile: nothing applied is not nothing pending,
      // as later migrations may still be. Done only once none is.
      done = names.length === 0 && (await pendingMigrations(db, config)) === 0;
    } catch (error) {
      // Whatever failed, it failed for the interruption, and whatever was
      // being applied was rolled back: knex ends a failed migration's
      // transaction so, and nothing commits after the abort.
      if (signal?.aborted) throw new MigrationInterrupted(current, { cause: error });
      current = undefined;
      const locked = isLocked(error);
      if (isContention(error) && Date.now() < deadline) {
        // The lock row says locked outside any transaction: no migrate is
        // about to be done with it (a running one holds it in its transaction,
        // where the others wait for it without this error). Said once, so that
        // the wait is not a silent one.
        if (locked && !saidLocked) {
          saidLocked = true;
          logger.warn(
            { lockTimeoutMs },
            `the migration lock (${LOCK_TABLE}) is taken; waiting for it to be released`,
          );
        } else
          logger.debug({ attempt, err: error }, 'migrations busy in another process; retrying');
        await sleep(Math.min(50 * attempt, 500), signal);
        continue;
      }
      if (error instanceof MigrationFailed) throw error;
      if (locked)
        throw new MigrationFailed(
          undefined,
          `the migration lock (${LOCK_TABLE}) was still taken after ${lockTimeoutMs / 1000} s. A migrate that stopped without releasing it (its migration run outside a transaction) leaves it so: once no migrate runs, release it with UPDATE ${LOCK_TABLE} SET is_locked = 0`,
          { cause: error },
        );
      throw (
        newerDatabase(error) ??
        new MigrationFailed(undefined, (error as Error).message, { cause: error })
      );
    }
    for (const name of names) {
      logger.debug({ migration: name }, 'migration applied');
      applied.push(name);
      options.onApplied?.(name);
    }
    if (done) return applied;
  }
}

/** How many known migrations the database does not have yet. */
async function pendingMigrations(db: Database, config: Knex.MigratorConfig): Promise<number> {
  const [, pending] = (await db.knex.migrate.list(config)) as [unknown[], unknown[]];
  return pending.length;
}

/** Reverts the most recent batch (one migration, as migrate applies them); for tests and dev. */
export async function rollback(
  db: Database,
  options: Pick<MigrateOptions, 'directory'> = {},
): Promise<string[]> {
  const [, names] = (await db.knex.migrate.down(migratorConfig(options.directory))) as [
    number,
    string[],
  ];
  return names;
}

/**
 * Creates knex's bookkeeping tables before knex does. Knex checks-then-creates them and
 * checks-then-inserts the lock row, so two first-time migrators could each insert a
 * row, after which knex's "lock exactly one row" fails forever. Here the lock table
 * admits one row only (a CHECK on its key), so the loser of any such race gets an
 * error, which migrate() retries, and finds everything in place.
 */
async function ensureBookkeeping(db: Database): Promise<void> {
  // knex.schema is a new builder per access; reusing one would replay its earlier calls.
  if (!(await db.knex.schema.hasTable(MIGRATIONS_TABLE)))
    await db.knex.schema.createTable(MIGRATIONS_TABLE, (table) => {
      table.increments('id').primary();
      table.string('name');
      table.integer('batch');
      table.timestamp('migration_time');
    });
  if (!(await db.knex.schema.hasTable(LOCK_TABLE)))
    await db.knex.schema.createTable(LOCK_TABLE, (table) => {
      table.increments('index').primary();
      table.integer('is_locked');
      table.check('?? = 1', ['index'], `${LOCK_TABLE}_one_row`);
    });
}

/**
 * Errors that mean "another migrator got there first": knex's lock, SQLite's write
 * lock, or a concurrent creation of the bookkeeping tables or of the lock row.
 */
function isContention(error: unknown): boolean {
  if (isBusy(error) || isLocked(error)) return true;
  const message = error instanceof Error ? error.message : '';
  const code = (error as { code?: unknown } | null)?.code;
  const bookkeeping = /gredis_migrations|pg_type_typname_nsp_index/.test(message);
  return (
    bookkeeping &&
    (code === '42P07' || // duplicate table
      code === '23505' || // unique violation (PostgreSQL's catalogue during CREATE TABLE)
      code === '23514' || // check violation: a second lock row
      code === 'SQLITE_CONSTRAINT_CHECK' ||
      /already exists/i.test(message))
  );
}

/** Knex found its lock row taken ("Migration table is already locked"). */
function isLocked(error: unknown): boolean {
  return error instanceof Error && /already locked/i.test(error.message);
}

/** When each applied migration was applied, by name: knex's list gives names alone. */
async function appliedTimes(db: Database): Promise<Map<string, Date | undefined>> {
  const rows = (await db.knex(MIGRATIONS_TABLE).select('name', 'migration_time')) as {
    name: string;
    migration_time: unknown;
  }[];
  return new Map(rows.map((row) => [row.name, migrationTime(row.migration_time)]));
}

/**
 * knex's migration_time as a Date: PostgreSQL's timestamptz comes as one,
 * SQLite's as the milliseconds better-sqlite3 stored the Date as. Undefined
 * for anything else (a row written by hand: NULL, or text whose time zone
 * nothing says).
 */
function migrationTime(value: unknown): Date | undefined {
  const date =
    value instanceof Date ? value : typeof value === 'number' ? new Date(value) : undefined;
  return date && !Number.isNaN(date.getTime()) ? date : undefined;
}

function completedNames(done: unknown): Set<string> {
  const names = new Set<string>();
  for (const entry of done as (string | { name: string })[])
    names.add(typeof entry === 'string' ? entry : entry.name);
  return names;
}

/** Waits `ms`, or less if `signal` aborts (migrate() then stops: MigrationInterrupted). */
function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
    function done(): void {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
  });
}
