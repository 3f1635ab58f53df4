import { loadSecretKey } from '../config/secret-key.js';
import type { Database } from '../db/connection.js';
import { CommandFailed } from './errors.js';

/**
 * The SECRET_KEY for a command on `db`, resolved as every process resolves it (so a
 * command's session hashes are the server's); a missing or unusable key ends the
 * command with loadSecretKey's message, before it asks or changes anything.
 */
export function commandSecretKey(db: Database): string {
  try {
    return loadSecretKey(db.url);
  } catch (error) {
    throw new CommandFailed((error as Error).message);
  }
}
