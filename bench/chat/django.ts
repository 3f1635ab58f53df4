/**
 * The Django Channels deployment's Python side (bench/python/multichat_django/):
 * the environment its settings read, and its fixtures, made by its own script
 * through Django's ORM, auth and session engine in its own PostgreSQL schema.
 */
import { runPythonJson } from '../lib/python-runner.js';
import type { ChatFixtures } from './fixtures.js';

export interface DjangoVersions {
  python: string;
  django: string;
  channels: string;
  channels_redis: string;
  daphne: string;
  psycopg2: string;
}

export interface DjangoFixtures extends ChatFixtures {
  versions: DjangoVersions;
}

/** What multichat_django/settings.py reads (see there). */
export function djangoEnv(options: {
  secretKey: string;
  databaseUrl: string;
  redisUrl: string;
  channelPrefix: string;
}): Record<string, string> {
  return {
    DJANGO_SETTINGS_MODULE: 'multichat_django.settings',
    SECRET_KEY: options.secretKey,
    DATABASE_URL: options.databaseUrl,
    REDIS_URL: options.redisUrl,
    CHANNEL_PREFIX: options.channelPrefix,
    // As for MultiChat (chatEnv): the Socket.IO chat sends no enter/leave notices.
    MULTICHAT_NOTIFY_ENTER_LEAVE: 'false',
  };
}

/** Migrates the database of `env`, then makes `users` users with a session each, and `rooms` rooms. */
export function createDjangoFixtures(
  env: Record<string, string>,
  users: number,
  rooms: number,
): Promise<DjangoFixtures> {
  return runPythonJson(['-m', 'multichat_django.fixtures', JSON.stringify({ users, rooms })], env);
}
