/**
 * The reading workflow's events, in one place: request and report code calls `publish` once at
 * each lifecycle point (after its transaction committed); the event is written to a short log
 * (reading_events, for Last-Event-ID replay), published on Redis so every gateway's live
 * streams receive it, and handed to this gateway's sinks (STAT escalation, webhooks) exactly
 * once. Payloads carry ids, statuses and priorities only, never patient data: they leave the
 * server through webhooks and sit in Redis and the log in clear.
 *
 * Publishing never throws: a notification problem must not undo or fail a claim or a signature
 * that already committed; failures are logged and counted.
 */
import type { FastifyBaseLogger } from 'fastify';
import { Redis } from 'ioredis';
import { Counter, type Registry } from 'prom-client';
import type { Db } from '../db/client.js';
import type { RequestStatus } from './requests-repo.js';
import type { Priority } from './turnaround.js';

export const READING_EVENT_TYPES = [
  'request.created',
  'request.claimed',
  'request.released',
  'request.status-changed',
  'report.signed',
  'stat.new',
  'stat.escalated',
  'stat.acknowledged',
  'message.posted',
] as const;
export type ReadingEventType = (typeof READING_EVENT_TYPES)[number];

/** The request an event is about, as every publisher already holds it (a RequestRow fits). */
export interface EventSubject {
  id: string;
  studyUid: string;
  status: RequestStatus;
  priority: Priority;
  specialtyPool: string | null;
  requestingFacilityId: string;
  targetFacilityId: string;
  claimedById: string | null;
}

/** What the `data` of every event carries; the optional fields belong to some types only. */
export interface ReadingEventData {
  requestId: string;
  studyUid: string;
  status: RequestStatus;
  priority: Priority;
  specialtyPool: string | null;
  requestingFacilityId: string;
  targetFacilityId: string;
  claimedById: string | null;
  /** report.signed: the report or addendum signed; addendum: whether it is one. */
  reportId?: string;
  addendum?: boolean;
  /** message.posted */
  messageId?: string;
  authorId?: string;
  /** request.status-changed: the status before (the new one is `status`). */
  previousStatus?: RequestStatus;
  /** stat.escalated / stat.acknowledged */
  level?: number;
  audience?: 'radiologists' | 'pool' | 'facility-admins';
  acknowledgedById?: string;
  /** Who the event is addressed to, when not everyone who may see the request. */
  recipients?: string[];
}

export interface ReadingEvent {
  /** Monotonic id (decimal string): the SSE `id`, the webhook event id. */
  id: string;
  type: ReadingEventType;
  at: string;
  /** null: everyone who may see the request; else only these users. */
  recipients: string[] | null;
  data: ReadingEventData;
}

export type EventSink = (e: ReadingEvent) => Promise<void>;
export type EventListener = (e: ReadingEvent) => void;

export interface ReadingEventsOptions {
  db: Db;
  redis: Redis;
  redisUrl: string;
  prefix: string;
  registry: Registry;
  log: FastifyBaseLogger;
}

interface EventRow {
  id: string;
  type: ReadingEventType;
  at: Date;
  recipients: string[] | null;
  data: ReadingEventData;
}

const toEvent = (r: EventRow): ReadingEvent => ({
  id: r.id,
  type: r.type,
  at: new Date(r.at).toISOString(),
  recipients: r.recipients,
  data: r.data,
});

const SELECT = `SELECT id::text AS id, type, created_at AS at, array_to_json(recipients) AS recipients, data
  FROM reading_events`;

export class ReadingEvents {
  private readonly sinks: EventSink[] = [];
  private readonly listeners = new Set<EventListener>();
  private subscriber: Redis | undefined;
  private readonly channel: string;
  private readonly published: Counter<'type'>;
  private readonly failures: Counter<'stage'>;

  constructor(private readonly o: ReadingEventsOptions) {
    this.channel = `${o.prefix}:reading-events`;
    this.published = new Counter({
      name: 'radlink_reading_events_total',
      help: 'Reading workflow events published, by type',
      labelNames: ['type'],
      registers: [o.registry],
    });
    this.failures = new Counter({
      name: 'radlink_reading_event_failures_total',
      help: 'Reading events that could not be logged, fanned out, or handled by a sink',
      labelNames: ['stage'],
      registers: [o.registry],
    });
  }

  /** Sinks run in the publishing gateway only, once per event, in registration order. */
  addSink(sink: EventSink): void {
    this.sinks.push(sink);
  }

  /** Live events from every gateway (this one included), for the SSE streams of this process. */
  listen(listener: EventListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async publish(
    type: ReadingEventType,
    r: EventSubject,
    extra: Partial<ReadingEventData> = {},
    recipients: string[] | null = null,
  ): Promise<ReadingEvent | null> {
    const data: ReadingEventData = {
      requestId: r.id,
      studyUid: r.studyUid,
      status: r.status,
      priority: r.priority,
      specialtyPool: r.specialtyPool,
      requestingFacilityId: r.requestingFacilityId,
      targetFacilityId: r.targetFacilityId,
      claimedById: r.claimedById,
      ...extra,
      ...(recipients ? { recipients } : {}),
    };
    let event: ReadingEvent;
    try {
      const [row] = await this.o.db.query<EventRow>(
        `WITH ins AS (
           INSERT INTO reading_events (type, request_id, requesting_facility_id, target_facility_id, recipients, data)
           VALUES ($1, $2, $3, $4, (SELECT array_agg(x::uuid) FROM jsonb_array_elements_text($5::jsonb) x), $6::jsonb)
           RETURNING *)
         SELECT id::text AS id, type, created_at AS at, array_to_json(recipients) AS recipients, data FROM ins`,
        [
          type,
          r.id,
          r.requestingFacilityId,
          r.targetFacilityId,
          recipients ? JSON.stringify(recipients) : null,
          JSON.stringify(data),
        ],
      );
      event = toEvent(row!);
    } catch (err) {
      this.failures.inc({ stage: 'log' });
      this.o.log.error({ err: (err as Error).message, type, requestId: r.id }, 'reading event not logged');
      return null;
    }
    this.published.inc({ type });
    try {
      await this.o.redis.publish(this.channel, JSON.stringify(event));
    } catch (err) {
      // Live streams miss it; a client reconnecting with Last-Event-ID replays it from the log.
      this.failures.inc({ stage: 'fanout' });
      this.o.log.warn({ err: (err as Error).message, eventId: event.id }, 'reading event not fanned out');
    }
    for (const sink of this.sinks) {
      try {
        await sink(event);
      } catch (err) {
        this.failures.inc({ stage: 'sink' });
        this.o.log.error({ err: (err as Error).message, eventId: event.id }, 'reading event sink failed');
      }
    }
    return event;
  }

  /** Logged events after `afterId`, oldest first (Last-Event-ID replay). */
  async since(afterId: string, limit: number): Promise<ReadingEvent[]> {
    const rows = await this.o.db.query<EventRow>(
      `${SELECT} WHERE reading_events.id > $1::bigint ORDER BY reading_events.id LIMIT $2`,
      [afterId, limit],
    );
    return rows.map(toEvent);
  }

  async prune(hours: number): Promise<number> {
    const rows = await this.o.db.query(
      `DELETE FROM reading_events WHERE created_at < now() - make_interval(hours => $1) RETURNING id`,
      [hours],
    );
    return rows.length;
  }

  async start(): Promise<void> {
    // A subscribed connection can issue no other command: it is this gateway's own.
    const sub = new Redis(this.o.redisUrl, { maxRetriesPerRequest: null });
    this.subscriber = sub;
    sub.on('error', (err) => this.o.log.warn({ err: err.message }, 'reading events: redis error'));
    sub.on('message', (channel, message) => {
      if (channel !== this.channel) return;
      let event: ReadingEvent;
      try {
        event = JSON.parse(message) as ReadingEvent;
      } catch {
        return;
      }
      for (const l of this.listeners) {
        try {
          l(event);
        } catch (err) {
          this.o.log.warn({ err: (err as Error).message }, 'reading event listener failed');
        }
      }
    });
    await sub.subscribe(this.channel);
  }

  async stop(): Promise<void> {
    this.listeners.clear();
    await this.subscriber?.quit().catch(() => this.subscriber?.disconnect());
  }
}
