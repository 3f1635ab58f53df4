import type { Knex } from 'knex';

/**
 * `gredis_session.auth_hash`: the session auth hash of the user's password at
 * login (src/auth/session-auth-hash.ts), so that a password changed outside
 * Gredis ends the sessions made before. Sessions already stored get none and
 * are logged out when next used (as Django logs out sessions without
 * `_auth_user_hash`): whether their user's password changed since they were
 * made cannot be known, so they are not trusted. Anonymous sessions need none.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('gredis_session', (table) => {
    table.specificType('auth_hash', 'char(64)').nullable();
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('gredis_session', (table) => {
    table.dropColumn('auth_hash');
  });
}
