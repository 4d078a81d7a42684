/**
 * Retention of the webhook delivery log. Every reading event writes one row per subscribed
 * facility, so a busy site's log grows without bound unless it is pruned:
 *   - delivered entries are removed RADLINK_WEBHOOK_LOG_DELIVERED_DAYS (default 30) after their
 *     delivery: they only confirm that the receiver got the event;
 *   - failed entries RADLINK_WEBHOOK_LOG_FAILED_DAYS (default 90, never less than the delivered
 *     period) after their last attempt: they are what an admin investigates (a receiver that was
 *     down over a holiday, events its system never got) and are few, so they cost little;
 *   - pending entries are never removed: each is a delivery still being attempted, and start-up
 *     queues them again from the log.
 * The age of a finished entry is its updated_at: the UPDATE that records the final attempt sets
 * it (delivered_at, for a delivery, to the same now()), and nothing changes the row afterwards.
 *
 * The prune runs on the reading plugin's hourly maintenance tick (events-plugin.ts), which also
 * prunes the event log. It deletes oldest first in batches, each its own statement and
 * transaction (rows locked by someone else are skipped, not waited for), yielding between
 * batches, so it never holds locks for long nor starves the embedded database's single
 * connection. With several gateways on one PostgreSQL only one prunes at a time: a run takes the
 * `webhook-log-prune` lease (db/leases.ts; a gateway finding it held skips its tick), renews it
 * after every batch and gives it up at the end; a gateway dying mid-run leaves a lease that
 * expires after LEASE_SECONDS. No transaction stays open across batches.
 */
import type { FastifyBaseLogger } from 'fastify';
import { Counter, type Registry } from 'prom-client';
import type { Db } from '../db/client.js';
import { type Lease, tryLease } from '../db/leases.js';
import type { WebhookRepo } from './webhooks-repo.js';

export interface WebhookLogRetention {
  deliveredDays: number;
  failedDays: number;
}

const DAY_MS = 86_400_000;

/**
 * From when a log entry may be pruned (the hourly run removes it within the hour after); null
 * for a pending entry, which is kept until it is delivered or fails.
 */
export function expiresAt(
  retention: WebhookLogRetention,
  status: 'pending' | 'delivered' | 'failed',
  updatedAt: string,
): string | null {
  if (status === 'pending') return null;
  const days = status === 'delivered' ? retention.deliveredDays : retention.failedDays;
  return new Date(Date.parse(updatedAt) + days * DAY_MS).toISOString();
}

export const LEASE_NAME = 'webhook-log-prune';
/** Far longer than a batch; what a crashed gateway delays the next run by, at most. */
export const LEASE_SECONDS = 120;
/**
 * Rows per DELETE: about 15 ms of work on PostgreSQL and 60 ms on PGlite (measured), so nothing
 * waits long behind one, while a backlog of millions still goes at tens of thousands a second.
 */
export const PRUNE_BATCH_SIZE = 1000;

export interface PruneReport {
  /**
   * pruned: ran to the end; busy: another gateway holds the lease; lost: this run stalled past
   * its lease and another took over; stopped: the gateway is closing.
   */
  outcome: 'pruned' | 'busy' | 'lost' | 'stopped';
  delivered: number;
  failed: number;
  /** DELETE statements run. */
  batches: number;
  ms: number;
}

export interface WebhookLogPrunerOptions {
  db: Db;
  repo: WebhookRepo;
  retention: WebhookLogRetention;
  registry: Registry;
  log: FastifyBaseLogger;
  batchSize?: number;
}

export class WebhookLogPruner {
  private running: Promise<PruneReport> | null = null;
  private stopping = false;
  private readonly batchSize: number;
  private readonly pruned: Counter<'status'>;

  constructor(private readonly o: WebhookLogPrunerOptions) {
    this.batchSize = o.batchSize ?? PRUNE_BATCH_SIZE;
    this.pruned = new Counter({
      name: 'radlink_webhook_log_pruned_total',
      help: 'Webhook delivery log entries removed by retention, by status',
      labelNames: ['status'],
      registers: [o.registry],
    });
  }

  get retention(): WebhookLogRetention {
    return this.o.retention;
  }

  /** One run; while one is in progress in this process, that run's report. */
  run(): Promise<PruneReport> {
    if (this.running) return this.running;
    if (this.stopping)
      return Promise.resolve({ outcome: 'stopped', delivered: 0, failed: 0, batches: 0, ms: 0 });
    const p = this.exclusive().finally(() => {
      this.running = null;
    });
    this.running = p;
    return p;
  }

  /** Runs without awaiting (the maintenance tick); failures are logged, never thrown. */
  tick(): void {
    this.run()
      .then((r) => {
        if (r.delivered + r.failed > 0)
          this.o.log.info(
            { delivered: r.delivered, failed: r.failed, batches: r.batches, ms: r.ms, outcome: r.outcome },
            'webhook delivery log pruned',
          );
      })
      .catch((err) => this.o.log.warn({ err: (err as Error).message }, 'webhook delivery log not pruned'));
  }

  /** Ends a run in progress after its current batch, and refuses new ones. */
  async stop(): Promise<void> {
    this.stopping = true;
    await this.running?.catch(() => undefined);
  }

  private async exclusive(): Promise<PruneReport> {
    const started = Date.now();
    const lease = await tryLease(this.o.db, LEASE_NAME, LEASE_SECONDS);
    if (!lease) return { outcome: 'busy', delivered: 0, failed: 0, batches: 0, ms: Date.now() - started };
    try {
      return await this.prune(started, lease);
    } finally {
      await lease.release().catch(() => undefined);
    }
  }

  private async prune(started: number, lease: Lease): Promise<PruneReport> {
    const report: PruneReport = { outcome: 'pruned', delivered: 0, failed: 0, batches: 0, ms: 0 };
    const periods = [
      ['delivered', this.o.retention.deliveredDays],
      ['failed', this.o.retention.failedDays],
    ] as const;
    for (const [status, days] of periods) {
      for (;;) {
        if (this.stopping) {
          report.outcome = 'stopped';
          report.ms = Date.now() - started;
          return report;
        }
        const n = await this.o.repo.pruneBatch(status, days, this.batchSize);
        report.batches++;
        report[status] += n;
        if (n > 0) this.pruned.inc({ status }, n);
        if (!(await lease.renew())) {
          report.outcome = 'lost';
          report.ms = Date.now() - started;
          return report;
        }
        if (n < this.batchSize) break;
        // Lets queued queries (PGlite runs one at a time) and requests in between batches.
        await new Promise((r) => setImmediate(r));
      }
    }
    report.ms = Date.now() - started;
    return report;
  }
}
