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
 * How long, past ANSWER_MS, the server has to say why the `select 1` is still
 * waiting for a connection: the probe still answers within Kubernetes' 1 s.
 */
const EXPLAIN_MS = 300;

/**
 * Whether the database answers, for /healthz: a `select 1`, at most one a
 * second however often probes come (an answer stands for FRESH_MS), and never
 * two at once (a probe while one is out waits for that one). A database that
 * takes longer than ANSWER_MS counts as away; or as busy, when the `select 1`
 * is queued behind the pool's connections all waiting for a lock, running
 * statements or idle in transactions, as the server says (the process cannot serve pages either way,
 * but "no answer" would send the operator looking for an outage).
 */
export class DatabaseProbe {
  private last: { at: number; result: ReadinessResult } | undefined;
  private query: { sent: number; result: Promise<ReadinessResult> } | undefined;

  constructor(private readonly db: Database) {}

  async check(): Promise<ReadinessResult> {
    if (this.last && performance.now() - this.last.at < FRESH_MS) return this.last.result;
    const query = (this.query ??= {
      sent: performance.now(),
      result: this.selectOne().finally(() => (this.query = undefined)),
    });
    const result = (await before(performance.now() + ANSWER_MS, query.result))
      ? await query.result
      : await this.unanswered(query.sent);
    this.last = { at: performance.now(), result };
    return result;
  }

  /** Why the `select 1` sent at `sent` has no answer yet, as far as is known. */
  private async unanswered(sent: number): Promise<ReadinessResult> {
    const waitedMs = Math.round(performance.now() - sent);
    const busy = await this.db.busyPool(waitedMs, EXPLAIN_MS);
    return { ok: false, error: busy?.message ?? `no answer within ${ANSWER_MS} ms` };
  }

  private selectOne(): Promise<ReadinessResult> {
    return this.db.knex.raw('select 1').then(
      () => ({ ok: true }),
      (error: unknown) => ({ ok: false, error: describeDriverError(error) }),
    );
  }
}
