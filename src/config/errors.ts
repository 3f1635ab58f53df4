/** Errors of configuration loading, each with a stable `code` (docs/errors.md). */

export type ConfigErrorCode = 'GREDIS_SECRET_KEY_REQUIRED' | 'GREDIS_SECRET_KEY_FILE_INVALID';

/** No SECRET_KEY and nowhere to keep a generated one (a PostgreSQL database). */
export class SecretKeyRequired extends Error {
  readonly code = 'GREDIS_SECRET_KEY_REQUIRED' as const;
  constructor() {
    super(
      'SECRET_KEY is required when the database is PostgreSQL: set the SECRET_KEY environment variable to a long random value shared by every process',
    );
    this.name = 'SecretKeyRequired';
  }
}

/** The stored development key file exists but cannot be used. */
export class SecretKeyFileInvalid extends Error {
  readonly code = 'GREDIS_SECRET_KEY_FILE_INVALID' as const;
  constructor(
    readonly path: string,
    reason: string,
    options?: { cause?: unknown },
  ) {
    super(
      `secret key file ${path} ${reason}; delete it to generate a new one, or set SECRET_KEY`,
      options,
    );
    this.name = 'SecretKeyFileInvalid';
  }
}
