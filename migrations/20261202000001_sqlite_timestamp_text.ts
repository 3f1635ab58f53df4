import type { Knex } from 'knex';

/**
 * On SQLite, timestamps at a whole second are rewritten in Django's form,
 * "2026-01-01 00:00:00", which Gredis now writes and compares with (values.ts's
 * sqliteTimestampText); before, it wrote "2026-01-01 00:00:00.000000", which
 * Django's lookups, and now Gredis's, compare as a later text than the same
 * instant in Django's form: `date_joined = '2026-01-01 00:00:00'` misses it.
 * Only the fraction is dropped, so the text still reads as the same instant.
 * PostgreSQL's timestamptz has no text form to change.
 */
const TIMESTAMPS: Readonly<Record<string, readonly string[]>> = {
  auth_user: ['last_login', 'date_joined'],
  gredis_session: ['expire_date'],
  gredis_admin_log: ['action_time'],
};

/** Django's "YYYY-MM-DD HH:MM:SS" of a whole second: what the fraction is added to or dropped from. */
const WHOLE_SECOND = '____-__-__ __:__:__';

export async function up(knex: Knex): Promise<void> {
  if (knex.client.dialect !== 'sqlite3') return;
  for (const [table, columns] of Object.entries(TIMESTAMPS))
    for (const column of columns)
      await knex(table)
        .where(column, 'like', `${WHOLE_SECOND}.000000`)
        .update({ [column]: knex.raw('substr(??, 1, 19)', [column]) });
}

/**
 * Back to the form the Gredis before this one wrote and compared with, for every
 * whole second, Django's rows too: that Gredis found none without a fraction.
 */
export async function down(knex: Knex): Promise<void> {
  if (knex.client.dialect !== 'sqlite3') return;
  for (const [table, columns] of Object.entries(TIMESTAMPS))
    for (const column of columns)
      await knex(table)
        .where(column, 'like', WHOLE_SECOND)
        .update({ [column]: knex.raw("?? || '.000000'", [column]) });
}
