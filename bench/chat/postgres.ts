/**
 * PostgreSQL's share of the work, reported apart from the servers' CPU: the
 * backend processes serving the Gredis processes' connections, found in
 * pg_stat_activity by the `application_name` their database URL sets (the server
 * runs on this machine, so each backend's CPU time is in /proc).
 */
import type { Database } from '../../src/db/connection.js';
import { cpuSeconds } from '../lib/proc.js';

export class PostgresBackends {
  constructor(
    private readonly db: Database,
    readonly applicationName: string,
  ) {}

  /** `url` with application_name set, so that this class can find its connections. */
  static tag(url: string, applicationName: string): string {
    return `${url}${url.includes('?') ? '&' : '?'}application_name=${applicationName}`;
  }

  /** CPU seconds of each backend now serving a tagged connection, by pid. */
  async cpu(): Promise<Map<number, number>> {
    const result = (await this.db.knex.raw(
      'select pid from pg_stat_activity where application_name = ?',
      [this.applicationName],
    )) as { rows: { pid: number }[] };
    const cpu = new Map<number, number>();
    for (const { pid } of result.rows) {
      try {
        cpu.set(pid, cpuSeconds(pid));
      } catch {
        // The connection closed in between: its backend is gone.
      }
    }
    return cpu;
  }

  /**
   * CPU seconds between two readings: a backend that appeared in between counts
   * whole; one that ended in between is lost (pools keep connections open under load).
   */
  static between(before: Map<number, number>, after: Map<number, number>): number {
    let total = 0;
    for (const [pid, seconds] of after) total += seconds - (before.get(pid) ?? 0);
    return total;
  }
}
