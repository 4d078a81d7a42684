/**
 * The gateway's consumer of the results queue: workers never touch the database, they publish
 * ResultMessages and this consumer (in the gateway, the only database writer) applies them.
 *
 *  - `archived`: sets instances.archive_key/archived_at (and sha256/size_bytes when the index did
 *    not know them) and records the archive lag (archived_at − received_at) in
 *    `radlink_archive_lag_seconds`. Applying twice is harmless (same values).
 *  - `archive-failed`: counted (`radlink_archive_failures_total`) and logged for operators; the
 *    instance stays in the backlog, visible in /api/archive/status.
 *  - `thumbnail`: nothing to record (the object key is deterministic).
 * The backlog (instances not archived yet, and the oldest one's age) is computed when /metrics is
 * scraped, so it is always current without a timer.
 */
import { Worker } from 'bullmq';
import type { FastifyBaseLogger } from 'fastify';
import { Redis } from 'ioredis';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { QUEUES, type ResultMessage } from '../../../contracts/jobs.js';
import type { Queryable } from '../db/client.js';

export interface ArchiveBacklog {
  unarchived: number;
  oldestUnarchivedAgeSeconds: number | null;
}

export async function archiveBacklog(db: Queryable): Promise<ArchiveBacklog> {
  const [row] = await db.query<{ n: number; oldest: number | null }>(
    `SELECT count(*)::int AS n, EXTRACT(EPOCH FROM (now() - min(received_at)))::float8 AS oldest
       FROM instances WHERE archived_at IS NULL`,
  );
  return {
    unarchived: row?.n ?? 0,
    oldestUnarchivedAgeSeconds: row?.oldest === null || row?.oldest === undefined ? null : Number(row.oldest),
  };
}

export interface ResultsConsumerOptions {
  db: Queryable;
  redisUrl: string;
  prefix: string;
  registry: Registry;
  log: FastifyBaseLogger;
  /** Applies the AI messages (server/src/ai/results.ts). */
  ai?: { apply(msg: Extract<ResultMessage, { kind: `ai-${string}` }>): Promise<void> };
}

export class ResultsConsumer {
  private worker: Worker<ResultMessage> | undefined;
  private connection: Redis | undefined;
  readonly lag: Histogram;
  readonly failures: Counter;

  constructor(private readonly o: ResultsConsumerOptions) {
    this.lag = new Histogram({
      name: 'radlink_archive_lag_seconds',
      help: 'Time from an instance being received to its verified copy in S3',
      buckets: [0.5, 1, 2, 5, 10, 30, 60, 300, 1800, 3600],
      registers: [o.registry],
    });
    this.failures = new Counter({
      name: 'radlink_archive_failures_total',
      help: 'Instances whose archive copy failed for good (after all attempts)',
      registers: [o.registry],
    });
    const backlog = () => archiveBacklog(o.db).catch(() => null);
    new Gauge({
      name: 'radlink_archive_backlog_instances',
      help: 'Instances received but not yet archived to S3',
      registers: [o.registry],
      async collect() {
        const b = await backlog();
        if (b) this.set(b.unarchived);
      },
    });
    new Gauge({
      name: 'radlink_archive_backlog_oldest_seconds',
      help: 'Age of the oldest instance not yet archived (0 when none)',
      registers: [o.registry],
      async collect() {
        const b = await backlog();
        if (b) this.set(b.oldestUnarchivedAgeSeconds ?? 0);
      },
    });
  }

  start(): void {
    // Blocking BullMQ commands need a connection of their own that never gives up on a command.
    this.connection = new Redis(this.o.redisUrl, { maxRetriesPerRequest: null });
    this.connection.on('error', (err) =>
      this.o.log.warn({ err: err.message }, 'results consumer: redis error'),
    );
    this.worker = new Worker<ResultMessage>(QUEUES.results, async (job) => this.apply(job.data), {
      connection: this.connection,
      prefix: this.o.prefix,
      concurrency: 4,
    });
    this.worker.on('error', (err) => this.o.log.warn({ err: err.message }, 'results consumer error'));
  }

  async stop(): Promise<void> {
    await this.worker?.close().catch(() => undefined);
    await this.connection?.quit().catch(() => this.connection?.disconnect());
  }

  async apply(msg: ResultMessage): Promise<void> {
    if (msg.kind === 'archived') {
      const rows = await this.o.db.query<{ lag: number; sha256: string | null }>(
        `UPDATE instances
            SET archive_key = $2, archived_at = $3, sha256 = COALESCE(sha256, $4), size_bytes = COALESCE(size_bytes, $5)
          WHERE sop_instance_uid = $1
          RETURNING EXTRACT(EPOCH FROM (archived_at - received_at))::float8 AS lag, sha256`,
        [msg.sopInstanceUid, msg.archiveKey, msg.archivedAt, msg.sha256, msg.sizeBytes],
      );
      const row = rows[0];
      if (!row) return; // deleted meanwhile, or another installation's instance
      if (row.sha256 !== msg.sha256) {
        // The archived bytes are not the bytes STOW received: never expected (Orthanc stores byte for byte).
        this.o.log.error(
          { sopInstanceUid: msg.sopInstanceUid },
          'archive copy differs from the received object',
        );
      }
      this.lag.observe(Math.max(0, Number(row.lag)));
    } else if (msg.kind.startsWith('ai-')) {
      await this.o.ai?.apply(msg as Extract<ResultMessage, { kind: `ai-${string}` }>);
    } else if (msg.kind === 'archive-failed') {
      // An instance removed meanwhile (a replaced key-object document, retention, a refused
      // duplicate) has nothing left to archive: not a failure anyone should be paged for.
      const still = await this.o.db.query('SELECT 1 FROM instances WHERE sop_instance_uid = $1', [
        msg.sopInstanceUid,
      ]);
      if (still.length === 0) {
        this.o.log.info(
          { sopInstanceUid: msg.sopInstanceUid },
          'archive skipped: instance removed meanwhile',
        );
        return;
      }
      this.failures.inc();
      this.o.log.error({ sopInstanceUid: msg.sopInstanceUid, reason: msg.reason }, 'archive failed for good');
    }
  }
}
