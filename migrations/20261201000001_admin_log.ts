import type { Knex } from 'knex';

/**
 * `gredis_admin_log`: what the admin added, changed and deleted, by whom (the
 * admin's history, src/apps/multichat/admin-log.ts). Django's LogEntry
 * (`django_admin_log`) with one difference: Django names the object's model by
 * a foreign key to `django_content_type`, a table Gredis does not have, so
 * `model` holds the model's natural key as that table would ("chat.room",
 * "auth.user") and nothing else need exist. So the table is Gredis's own name,
 * not Django's: a Django project sharing the database makes its own
 * `django_admin_log` without finding one of another shape in its way.
 * The rest is Django's: `object_id` is text (any primary key), not a foreign key
 * (a deleted object's entries stay, its history and the "Deleted." with it);
 * `user_id` cascades, as Django's does (a deleted user's entries go with them).
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('gredis_admin_log', (table) => {
    table.increments('id').primary();
    table.timestamp('action_time', { useTz: true }).notNullable();
    table
      .integer('user_id')
      .notNullable()
      .references('id')
      .inTable('auth_user')
      .onDelete('CASCADE');
    table.string('model', 100).notNullable();
    table.text('object_id').notNullable();
    table.string('object_repr', 200).notNullable();
    // Django's ADDITION (1), CHANGE (2) and DELETION (3).
    table.smallint('action_flag').notNullable();
    table.text('change_message').notNullable();
    // The dashboard's "My actions" (newest of one user) and an object's history.
    table.index(['user_id', 'action_time'], 'gredis_admin_log_user_time_idx');
    table.index(['model', 'object_id'], 'gredis_admin_log_object_idx');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('gredis_admin_log');
}
