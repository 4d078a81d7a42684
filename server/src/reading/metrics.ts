/**
 * Remote-reading metrics on the app's own registry (tests build several apps per process).
 * Breaches are counted two ways: a counter of reports signed after their turnaround target
 * (monotonic, for rates and alerts), and a gauge of open requests already overdue, computed
 * from the database at scrape time so every gateway of a deployment reports the same truth.
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import type { Queryable } from '../db/client.js';
import { PRIORITIES } from './turnaround.js';

export class ReadingMetrics {
  readonly requestsCreated: Counter<'priority'>;
  readonly claimConflicts: Counter;
  readonly signedLate: Counter<'priority'>;
  readonly signedOnTime: Counter<'priority'>;

  constructor(registry: Registry, db: Queryable) {
    this.requestsCreated = new Counter({
      name: 'radlink_reading_requests_created_total',
      help: 'Read requests created, by priority',
      labelNames: ['priority'],
      registers: [registry],
    });
    this.claimConflicts = new Counter({
      name: 'radlink_reading_claim_conflicts_total',
      help: 'Claims refused because another radiologist held the request',
      registers: [registry],
    });
    this.signedLate = new Counter({
      name: 'radlink_reading_tat_breaches_total',
      help: 'Reports signed after their turnaround target, by priority',
      labelNames: ['priority'],
      registers: [registry],
    });
    this.signedOnTime = new Counter({
      name: 'radlink_reading_signed_on_time_total',
      help: 'Reports signed within their turnaround target, by priority',
      labelNames: ['priority'],
      registers: [registry],
    });
    new Gauge({
      name: 'radlink_reading_open_overdue',
      help: 'Open read requests past their turnaround target, by priority',
      labelNames: ['priority'],
      registers: [registry],
      async collect() {
        try {
          const rows = await db.query<{ priority: string; n: number }>(
            `SELECT priority, count(*)::int AS n FROM read_requests
              WHERE status IN ('requested', 'claimed', 'reported') AND due_at < now() GROUP BY priority`,
          );
          for (const p of PRIORITIES) this.set({ priority: p }, rows.find((r) => r.priority === p)?.n ?? 0);
        } catch {
          // A scrape while the database is down reports the last values; /readyz reports the outage.
        }
      },
    });
  }
}
