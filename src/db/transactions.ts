import type { Knex } from 'knex';
import type { Database } from './connection.js';

/** Thrown inside a transaction to roll it back when its work found nothing to do. */
class NothingDone extends Error {}

/**
 * Runs `work` in a transaction, committed if it answers true, rolled back (and
 * false answered) if it answers false: a DELETE that found no row takes back
 * what was written before it in the same transaction (the admin's log entry,
 * which Django writes before the delete, so that the deleter's own row, going
 * with it, takes the entry along).
 */
export async function committedIf(
  db: Database,
  work: (trx: Knex.Transaction) => Promise<boolean>,
): Promise<boolean> {
  try {
    return await db.knex.transaction(async (trx) => {
      if (!(await work(trx))) throw new NothingDone();
      return true;
    });
  } catch (error) {
    if (error instanceof NothingDone) return false;
    throw error;
  }
}

/**
 * `write`, then `alongside` with what it wrote, in one transaction: both are
 * stored, or neither (a change and the admin's log entry of it, a deactivation
 * and the end of the user's sessions). Without `alongside`, `write` alone,
 * outside any transaction.
 */
export async function writeAlongside<Written>(
  db: Database,
  write: (knex: Knex) => Promise<Written>,
  alongside: ((trx: Knex.Transaction, written: Written) => unknown) | undefined,
): Promise<Written> {
  if (!alongside) return write(db.knex);
  return db.knex.transaction(async (trx) => {
    const written = await write(trx);
    await alongside(trx, written);
    return written;
  });
}
