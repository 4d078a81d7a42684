/**
 * STAT escalation. An unclaimed STAT request alerts people stepwise until someone acknowledges
 * or claims it (or it is cancelled):
 *   level 0, at creation: `stat.new` to every radiologist of the target facility;
 *   level 1, RADLINK_STAT_ESCALATE_POOL_SECONDS later: `stat.escalated` to its pool (a request
 *            without a pool, or whose pool has no active member: every radiologist there);
 *   level 2.., each RADLINK_STAT_ESCALATE_ADMIN_SECONDS later: `stat.escalated` to the target
 *            facility's admins, repeated up to MAX_LEVEL.
 * Releasing a claimed STAT request starts the chain again from level 1 (rearm).
 *
 * Across restarts and gateways: the stat_escalations row is the truth and a BullMQ delayed job
 * (in Redis, shared) is the timer. Every gateway runs a worker; BullMQ gives each job to one.
 * A step is applied by one conditional UPDATE (`level = step - 1`, unacknowledged, request still
 * 'requested'), so a job run twice, a job re-created at start-up, or two gateways racing
 * escalate once. At start-up each gateway re-creates the timers of unfinished rows (the job id
 * deduplicates), so escalations survive a Redis that lost its data.
 */
import { type Job, Queue, Worker } from 'bullmq';
import type { FastifyBaseLogger } from 'fastify';
import { Redis } from 'ioredis';
import { jobId, QUEUES, type StatEscalationJob } from '../../../contracts/jobs.js';
import type { Db } from '../db/client.js';
import type { ReadingEvent, ReadingEvents } from './events.js';
import type { PoolRepo } from './pools.js';
import type { RequestRepo } from './requests-repo.js';

/** 1: the pool; 2..MAX_LEVEL: the facility admins (the first alert and up to 9 reminders). */
export const MAX_LEVEL = 11;

export interface EscalationState {
  requestId: string;
  level: number;
  nextAt: string | null;
  lastEscalatedAt: string | null;
  acknowledgedAt: string | null;
  acknowledgedBy: string | null;
}

export interface StatEscalationOptions {
  db: Db;
  redis: Redis;
  redisUrl: string;
  prefix: string;
  events: ReadingEvents;
  pools: PoolRepo;
  requests: RequestRepo;
  poolDelaySeconds: number;
  adminDelaySeconds: number;
  log: FastifyBaseLogger;
}

const STATE_COLS = `request_id AS "requestId", level, next_at AS "nextAt", last_escalated_at AS "lastEscalatedAt",
  acknowledged_at AS "acknowledgedAt", acknowledged_by AS "acknowledgedBy"`;

const iso = (d: unknown) => (d ? new Date(d as string).toISOString() : null);
const toState = (r: EscalationState): EscalationState => ({
  ...r,
  nextAt: iso(r.nextAt),
  lastEscalatedAt: iso(r.lastEscalatedAt),
  acknowledgedAt: iso(r.acknowledgedAt),
});

export class StatEscalation {
  readonly queue: Queue<StatEscalationJob>;
  private worker: Worker<StatEscalationJob> | undefined;
  private connection: Redis | undefined;

  constructor(private readonly o: StatEscalationOptions) {
    this.queue = new Queue<StatEscalationJob>(QUEUES.statEscalation, {
      connection: o.redis,
      prefix: o.prefix,
      defaultJobOptions: {
        attempts: 10,
        backoff: { type: 'exponential', delay: 1000 },
        removeOnComplete: true,
        removeOnFail: { count: 10_000 },
      },
    });
  }

  /** The events sink: a new STAT request starts its escalation; a released one starts it again. */
  readonly sink = async (e: ReadingEvent): Promise<void> => {
    if (e.data.priority !== 'stat') return;
    if (e.type === 'request.created') await this.begin(e.data.requestId);
    else if (e.type === 'request.released') await this.rearm(e.data.requestId);
  };

  private delayBefore(level: number): number {
    return (level <= 1 ? this.o.poolDelaySeconds : this.o.adminDelaySeconds) * 1000;
  }

  private async schedule(requestId: string, level: number, delayMs: number): Promise<void> {
    await this.queue.add(
      'escalate',
      { requestId, level },
      { jobId: jobId('stat', requestId, String(level)), delay: Math.max(0, delayMs) },
    );
  }

  async begin(requestId: string): Promise<void> {
    const rows = await this.o.db.query(
      `INSERT INTO stat_escalations (request_id, level, next_at)
       VALUES ($1, 0, now() + make_interval(secs => $2)) ON CONFLICT DO NOTHING RETURNING request_id`,
      [requestId, this.o.poolDelaySeconds],
    );
    if (rows.length === 0) return;
    const r = await this.o.requests.byId(requestId);
    if (!r) return;
    const radiologists = await this.o.pools.staffIds(r.targetFacilityId, ['radiologist']);
    await this.o.events.publish('stat.new', r, { level: 0, audience: 'radiologists' }, radiologists);
    await this.schedule(requestId, 1, this.delayBefore(1));
  }

  /**
   * A released STAT request is unclaimed again: its escalation restarts at the pool step, and an
   * earlier acknowledgement no longer holds (whoever acknowledged it gave it back). A timer of the
   * old chain still pending finds its level gone and does nothing.
   */
  async rearm(requestId: string): Promise<void> {
    const rows = await this.o.db.query(
      `UPDATE stat_escalations SET level = 0, next_at = now() + make_interval(secs => $2),
              acknowledged_at = NULL, acknowledged_by = NULL
        WHERE request_id = $1 RETURNING request_id`,
      [requestId, this.o.poolDelaySeconds],
    );
    if (rows.length === 1) await this.schedule(requestId, 1, this.delayBefore(1));
  }

  /** One step; idempotent (see the file comment). */
  async step(requestId: string, level: number): Promise<'escalated' | 'finished' | 'stale'> {
    const [row] = await this.o.db.query<{ level: number }>(
      `UPDATE stat_escalations e
          SET level = $2, last_escalated_at = now(),
              next_at = CASE WHEN $2 < $3 THEN now() + make_interval(secs => $4) ELSE NULL END
         FROM read_requests r
        WHERE e.request_id = $1 AND r.id = e.request_id AND e.level = $2 - 1
          AND e.acknowledged_at IS NULL AND r.status = 'requested'
        RETURNING e.level`,
      [requestId, level, MAX_LEVEL, this.o.adminDelaySeconds],
    );
    if (!row) {
      // Claimed, cancelled or acknowledged meanwhile: the timer chain ends here. A different
      // level means a duplicate timer, which must not touch the state.
      const done = await this.o.db.query(
        `UPDATE stat_escalations e SET next_at = NULL FROM read_requests r
          WHERE e.request_id = $1 AND r.id = e.request_id AND e.level = $2 - 1
            AND (e.acknowledged_at IS NOT NULL OR r.status <> 'requested') RETURNING e.request_id`,
        [requestId, level],
      );
      return done.length > 0 ? 'finished' : 'stale';
    }
    const r = (await this.o.requests.byId(requestId))!;
    let audience: 'pool' | 'facility-admins' | 'radiologists';
    let recipients: string[];
    if (level === 1) {
      recipients = r.specialtyPool ? await this.o.pools.memberIds(r.targetFacilityId, r.specialtyPool) : [];
      audience = 'pool';
      if (recipients.length === 0) {
        recipients = await this.o.pools.staffIds(r.targetFacilityId, ['radiologist']);
        audience = 'radiologists';
      }
    } else {
      recipients = await this.o.pools.staffIds(r.targetFacilityId, ['facility_admin']);
      audience = 'facility-admins';
      if (recipients.length === 0) {
        // A facility without an admin: keep alerting its radiologists rather than nobody.
        recipients = await this.o.pools.staffIds(r.targetFacilityId, ['radiologist']);
        audience = 'radiologists';
      }
    }
    await this.o.events.publish('stat.escalated', r, { level, audience }, recipients);
    if (level < MAX_LEVEL) await this.schedule(requestId, level + 1, this.delayBefore(level + 1));
    return 'escalated';
  }

  /** Stops the escalation; null when the request has none (not STAT). Idempotent. */
  async acknowledge(
    requestId: string,
    userId: string,
  ): Promise<{ state: EscalationState; first: boolean } | null> {
    const updated = await this.o.db.query<EscalationState>(
      `UPDATE stat_escalations SET acknowledged_at = now(), acknowledged_by = $2, next_at = NULL
        WHERE request_id = $1 AND acknowledged_at IS NULL RETURNING ${STATE_COLS}`,
      [requestId, userId],
    );
    if (updated[0]) return { state: toState(updated[0]), first: true };
    const s = await this.state(requestId);
    return s ? { state: s, first: false } : null;
  }

  async state(requestId: string): Promise<EscalationState | null> {
    const [row] = await this.o.db.query<EscalationState>(
      `SELECT ${STATE_COLS} FROM stat_escalations WHERE request_id = $1`,
      [requestId],
    );
    return row ? toState(row) : null;
  }

  private async process(job: Job<StatEscalationJob>): Promise<void> {
    await this.step(job.data.requestId, job.data.level);
  }

  async start(): Promise<void> {
    // Blocking BullMQ commands need a connection of their own that never gives up on a command.
    this.connection = new Redis(this.o.redisUrl, { maxRetriesPerRequest: null });
    this.connection.on('error', (err) =>
      this.o.log.warn({ err: err.message }, 'stat escalation: redis error'),
    );
    this.worker = new Worker<StatEscalationJob>(QUEUES.statEscalation, (job) => this.process(job), {
      connection: this.connection,
      prefix: this.o.prefix,
      concurrency: 4,
    });
    this.worker.on('error', (err) => this.o.log.warn({ err: err.message }, 'stat escalation worker error'));
    await this.resume();
  }

  /** Re-creates the timer of every unfinished escalation (a no-op for timers Redis still holds). */
  async resume(): Promise<number> {
    const rows = await this.o.db.query<{ requestId: string; level: number; waitMs: number }>(
      `SELECT request_id AS "requestId", level,
              GREATEST(0, extract(epoch FROM (next_at - now())) * 1000)::float8 AS "waitMs"
         FROM stat_escalations WHERE next_at IS NOT NULL`,
    );
    for (const r of rows) {
      try {
        await this.schedule(r.requestId, r.level + 1, Number(r.waitMs));
      } catch (err) {
        this.o.log.warn(
          { requestId: r.requestId, err: (err as Error).message },
          'could not resume an escalation',
        );
      }
    }
    return rows.length;
  }

  async stop(): Promise<void> {
    await this.worker?.close().catch(() => undefined);
    await this.queue.close().catch(() => undefined);
    await this.connection?.quit().catch(() => this.connection?.disconnect());
  }
}
