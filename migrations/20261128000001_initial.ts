import type { Knex } from 'knex';

/**
 * The initial schema. `auth_user` and `chat_room` have exactly Django's column names
 * and types (django.contrib.auth and the MultiChat example's Room), so a Django
 * project's database works unchanged. Sessions are our own design: the primary key
 * is the SHA-256 of the session key, so a copy of this table opens no live session.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('auth_user', (table) => {
    table.increments('id').primary();
    table.string('password', 128).notNullable();
    table.timestamp('last_login', { useTz: true }).nullable();
    table.boolean('is_superuser').notNullable();
    table.string('username', 150).notNullable().unique({ indexName: 'auth_user_username_key' });
    table.string('first_name', 150).notNullable();
    table.string('last_name', 150).notNullable();
    table.string('email', 254).notNullable();
    table.boolean('is_staff').notNullable();
    table.boolean('is_active').notNullable();
    table.timestamp('date_joined', { useTz: true }).notNullable();
  });

  await knex.schema.createTable('chat_room', (table) => {
    table.increments('id').primary();
    table.string('title', 255).notNullable();
    table.boolean('staff_only').notNullable().defaultTo(false);
  });

  await knex.schema.createTable('gredis_session', (table) => {
    table.specificType('session_key_hash', 'char(64)').primary();
    table
      .integer('user_id')
      .nullable()
      .references('id')
      .inTable('auth_user')
      .onDelete('CASCADE')
      .index('gredis_session_user_id_idx');
    table.text('data').notNullable();
    table
      .timestamp('expire_date', { useTz: true })
      .notNullable()
      .index('gredis_session_expire_date_idx');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('gredis_session');
  await knex.schema.dropTable('chat_room');
  await knex.schema.dropTable('auth_user');
}
