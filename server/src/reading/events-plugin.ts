/**
 * Notifications and what hangs off them, built once by the reading plugin before its routes:
 * the event bus (decorated as `readingEvents`, so request, message and report code publishes with
 * one call), specialty pools (`specialtyPools`), STAT escalation and webhooks as the bus's sinks,
 * and their routes, with attachments and figures. The bus, the escalation and webhook workers
 * start when the app is ready and stop before it closes; so does the hourly maintenance tick
 * (event log and webhook delivery log retention).
 */
import type { FastifyInstance } from 'fastify';
import type { FacilityRepo } from '../identity/facilities.js';
import type { UserRepo } from '../identity/users.js';
import attachmentRoutes from './attachments.js';
import { StatEscalation } from './escalation.js';
import escalationRoutes from './escalation-routes.js';
import { ReadingEvents } from './events.js';
import eventStreamRoutes from './events-stream.js';
import figuresRoutes from './figures.js';
import { PoolRepo } from './pools.js';
import poolRoutes from './pools-routes.js';
import type { RequestRepo } from './requests-repo.js';
import { WebhookDelivery } from './webhooks-delivery.js';
import { SecretBox, WebhookRepo } from './webhooks-repo.js';
import { WebhookLogPruner } from './webhooks-retention.js';
import webhookRoutes from './webhooks-routes.js';

declare module 'fastify' {
  interface FastifyInstance {
    /** The reading workflow's event bus (events.ts); inside the reading plugin only. */
    readingEvents: ReadingEvents;
    /** Specialty pools of reading facilities (pools.ts); inside the reading plugin only. */
    specialtyPools: PoolRepo;
  }
}

export async function registerNotifications(
  app: FastifyInstance,
  deps: { requests: RequestRepo; users: UserRepo; facilities: FacilityRepo },
): Promise<void> {
  const c = app.config;
  const common = {
    redis: app.redis,
    redisUrl: c.REDIS_URL,
    prefix: c.RADLINK_QUEUE_PREFIX,
    log: app.log,
  };
  const events = new ReadingEvents({ ...common, db: app.db, registry: app.metrics.registry });
  const pools = new PoolRepo(app.db);
  app.decorate('readingEvents', events);
  app.decorate('specialtyPools', pools);

  const escalation = new StatEscalation({
    ...common,
    db: app.db,
    events,
    pools,
    requests: deps.requests,
    poolDelaySeconds: c.RADLINK_STAT_ESCALATE_POOL_SECONDS,
    adminDelaySeconds: c.RADLINK_STAT_ESCALATE_ADMIN_SECONDS,
  });
  const webhookRepo = new WebhookRepo(app.db, new SecretBox(c.RADLINK_TOKEN_SECRET));
  const webhooks = new WebhookDelivery({
    ...common,
    repo: webhookRepo,
    attempts: c.RADLINK_WEBHOOK_ATTEMPTS,
    retryBaseMs: c.RADLINK_WEBHOOK_RETRY_BASE_MS,
    allowLoopback: c.RADLINK_WEBHOOK_ALLOW_LOOPBACK,
    registry: app.metrics.registry,
  });
  const webhookLog = new WebhookLogPruner({
    db: app.db,
    repo: webhookRepo,
    retention: {
      deliveredDays: c.RADLINK_WEBHOOK_LOG_DELIVERED_DAYS,
      failedDays: c.RADLINK_WEBHOOK_LOG_FAILED_DAYS,
    },
    registry: app.metrics.registry,
    log: app.log,
  });
  // Webhooks first: the escalation sink publishes stat.new, which is delivered on its own.
  events.addSink(webhooks.sink);
  events.addSink(escalation.sink);

  let pruner: NodeJS.Timeout | undefined;
  // The hourly maintenance tick. The webhook log's prune is not awaited: a first run over a
  // large backlog must not hold up start-up (it runs in batches; preClose ends it).
  const prune = () => {
    webhookLog.tick();
    return events
      .prune(c.RADLINK_EVENT_LOG_HOURS)
      .catch((err) => app.log.warn({ err: (err as Error).message }, 'event log not pruned'));
  };
  app.addHook('onReady', async () => {
    await events.start();
    await escalation.start();
    await webhooks.start();
    await prune();
    pruner = setInterval(prune, 3_600_000);
    pruner.unref();
  });
  app.addHook('preClose', async () => {
    clearInterval(pruner);
    await Promise.allSettled([escalation.stop(), webhooks.stop(), webhookLog.stop()]);
    await events.stop();
  });

  await app.register(eventStreamRoutes, {
    events,
    // The app's session memory: every revocation, this gateway's or another's, reaches it.
    sessions: app.sessions,
    heartbeatSeconds: c.RADLINK_SSE_HEARTBEAT_SECONDS,
  });
  await app.register(escalationRoutes, { requests: deps.requests, escalation, events });
  await app.register(poolRoutes, { pools, users: deps.users, facilities: deps.facilities });
  await app.register(webhookRoutes, {
    repo: webhookRepo,
    facilities: deps.facilities,
    allowLoopback: c.RADLINK_WEBHOOK_ALLOW_LOOPBACK,
    retention: webhookLog.retention,
  });
  await app.register(attachmentRoutes, { requests: deps.requests, maxBytes: c.RADLINK_ATTACHMENT_MAX_BYTES });
  await app.register(figuresRoutes);
}
