import type { MigrationStatus } from '../db/migrations.js';

/**
 * The app label of every migration, where Django names each app (showmigrations'
 * heading, the `app.name` of a plan): Gredis has one list of migrations for its
 * auth, sessions, chat and admin log alike.
 */
export const MIGRATIONS_APP = 'gredis';

/**
 * showmigrations' list, Django's form: ` [X] name` applied, ` [ ] name`
 * pending; from -v 2, when each applied one was, in UTC (Django's
 * django_migrations.applied with USE_TZ, its default).
 */
export function listLines(migrations: MigrationStatus[], verbosity: number): string[] {
  return migrations.map(({ name, applied, appliedAt }) => {
    if (!applied) return ` [ ] ${name}`;
    const at = verbosity >= 2 && appliedAt ? ` (applied at ${utcSeconds(appliedAt)})` : '';
    return ` [X] ${name}${at}`;
  });
}

/**
 * showmigrations --plan, Django's form: every migration in the order migrate
 * applies them, `[X]  gredis.name` or `[ ]  gredis.name`; from -v 2, what each
 * depends on. Knex applies them in the order of their names, so each depends
 * on the one before it, and the first on none.
 */
export function planLines(migrations: MigrationStatus[], verbosity: number): string[] {
  return migrations.map(({ name, applied }, i) => {
    const before = migrations[i - 1];
    const deps = verbosity >= 2 && before ? ` ... (${qualified(before.name)})` : '';
    return `[${applied ? 'X' : ' '}]  ${qualified(name)}${deps}`;
  });
}

/**
 * migrate --plan, Django's form: the migrations migrate would apply, in order,
 * each as `gredis.name`. Django lists each one's operations below it; a Knex
 * migration is code, with none to describe, so its name stands alone.
 */
export function migratePlanLines(migrations: MigrationStatus[]): string[] {
  const pending = migrations.filter((m) => !m.applied).map((m) => qualified(m.name));
  return [
    'Planned operations:',
    ...(pending.length ? pending : ['  No planned migration operations.']),
  ];
}

function qualified(name: string): string {
  return `${MIGRATIONS_APP}.${name}`;
}

/** Django's "%Y-%m-%d %H:%M:%S", in UTC. */
function utcSeconds(date: Date): string {
  return date.toISOString().slice(0, 19).replace('T', ' ');
}

/** Writes a listing to stdout, each line ended by a line break. */
export function writeLines(lines: string[]): void {
  process.stdout.write(lines.map((line) => `${line}\n`).join(''));
}
