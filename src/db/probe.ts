import { before } from '../deadline.js';
import type { ReadinessResult } from '../metrics/endpoint.js';
import type { Database } from './connection.js';
import { describeDriverError } from './errors.js';

/** How long an answer stands for the probes that follow it. */
const FRESH_MS = 1000;
/**
 * How long a probe waits for the database: under Kubernetes' default probe
 * timeout (1 s), so that a slow database reads as one, not as a dead process.
 */
const ANSWER_MS = 500;

/**
 * Whether the database answers, for /healthz: a `select 1`, at most one a
 * second however often probes come (an answer stands for FRESH_MS), and never
 * two at once (a probe while one is out waits for that one). A database that
 * takes longer than ANSWER_MS counts as away.
 */
export class DatabaseProbe {
  private last: { at: number; result: ReadinessResult } | undefined;
  private query: Promise<ReadinessResult> | undefined;

  constructor(private readonly db: Database) {}

  async check(): Promise<ReadinessResult> {
    if (this.last && performance.now() - this.last.at < FRESH_MS) return this.last.result;
    const query = (this.query ??= this.selectOne().finally(() => (this.query = undefined)));
    const result = (await before(performance.now() + ANSWER_MS, query))
      ? await query
      : { ok: false, error: `no answer within ${ANSWER_MS} ms` };
    this.last = { at: performance.now(), result };
    return result;
  }

  private selectOne(): Promise<ReadinessResult> {
    return this.db.knex.raw('select 1').then(
      () => ({ ok: true }),
      (error: unknown) => ({ ok: false, error: describeDriverError(error) }),
    );
  }
}
