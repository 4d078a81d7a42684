/**
 * The gateway as a Fastify plugin tree. Clients (database, Redis, Orthanc, S3) are built by the
 * caller and passed in, so tests build the same app against the real services and
 * only server.ts listens. Registration order matters: error handling and the access guard come
 * before any route, so every route is covered by both.
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import compress from '@fastify/compress';
import cookie from '@fastify/cookie';
import cors from '@fastify/cors';
import rateLimit from '@fastify/rate-limit';
import fastifyStatic from '@fastify/static';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import Fastify, { type FastifyInstance } from 'fastify';
import type { Redis } from 'ioredis';
import type pino from 'pino';
import aiPlugin from './ai/plugin.js';
import auditPlugin from './audit/audit.js';
import auditRoutes from './audit/routes.js';
import type { GatewayConfig } from './config.js';
import type { Db } from './db/client.js';
import { migrate } from './db/migrate.js';
import exportRoutes from './deid/export-routes.js';
import dicomwebRoutes from './dicomweb/routes.js';
import healthRoutes from './health/routes.js';
import authRoutes from './identity/auth-routes.js';
import { FacilityRepo } from './identity/facilities.js';
import facilityRoutes from './identity/facility-routes.js';
import { ensureInitialAdmin } from './identity/initial-admin.js';
import { syncModalities } from './identity/modality-sync.js';
import { SessionBroadcast } from './identity/session-broadcast.js';
import { SessionRepo } from './identity/sessions.js';
import { TokenService } from './identity/tokens.js';
import userRoutes from './identity/user-routes.js';
import { UserRepo } from './identity/users.js';
import { ChangeFeed } from './index/change-feed.js';
import { Indexer } from './index/indexer.js';
import { StowIntents } from './index/stow-intents.js';
import { loggerOptions } from './logger.js';
import { DiskGuard } from './ops/disk-guard.js';
import opsPlugin from './ops/plugin.js';
import errorsPlugin from './plugins/errors.js';
import { serverFactory } from './plugins/http-server.js';
import metricsPlugin from './plugins/metrics.js';
import type { OrthancClient } from './plugins/orthanc.js';
import type { ObjectStore } from './plugins/s3.js';
import guard from './policy/guard.js';
import archiveRoutes from './queues/archive-routes.js';
import { Queues } from './queues/queues.js';
import { ResultsConsumer } from './queues/results-consumer.js';
import keyImagesPlugin from './reading/key-images/plugin.js';
import readingPlugin from './reading/plugin.js';
import repairRoutes from './repair/routes.js';
import sharePlugin from './share/plugin.js';
import { ShareSessions } from './share/share-sessions.js';

declare module 'fastify' {
  interface FastifyInstance {
    config: GatewayConfig;
    db: Db;
    redis: Redis;
    orthanc: OrthancClient;
    s3: ObjectStore;
    queues: Queues;
    changeFeed: ChangeFeed;
    /** The process's one memory of login sessions (revocations shared with other gateways). */
    sessions: SessionRepo;
  }
}

/** Sockets the change feed has to Orthanc: its page reads plus `concurrency` (8) indexing reads. */
const FEED_CONNECTIONS = 10;
export interface AppDeps {
  config: GatewayConfig;
  db: Db;
  redis: Redis;
  orthanc: OrthancClient;
  s3: ObjectStore;
  /** A pino logger; default: one built from the config. */
  logger?: pino.Logger;
  /** TLS key and certificate: the app then serves HTTPS. */
  https?: { key: Buffer; cert: Buffer };
}

const REPO_ROOT = resolve(import.meta.dirname, '../..');

export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const { config, db } = deps;
  const app = Fastify({
    ...(deps.logger ? { loggerInstance: deps.logger } : { logger: loggerOptions(config.RADLINK_LOG_LEVEL) }),
    // Fastify's own `https` option is replaced by the factory, which sets the slow-client limits.
    serverFactory: serverFactory(
      {
        headersTimeoutMs: config.RADLINK_HEADERS_TIMEOUT_MS,
        requestTimeoutMs: config.RADLINK_REQUEST_TIMEOUT_MS,
      },
      deps.https,
    ),
    bodyLimit: config.RADLINK_BODY_LIMIT_BYTES,
    trustProxy: config.RADLINK_TRUST_PROXY,
    requestIdHeader: false,
    ajv: {
      customOptions: { allErrors: false, coerceTypes: true, useDefaults: true, removeAdditional: false },
    },
  });

  app.decorate('config', config);
  app.decorate('db', db);
  app.decorate('redis', deps.redis);
  app.decorate('orthanc', deps.orthanc);
  app.decorate('s3', deps.s3);
  const queues = new Queues(deps.redis, config.RADLINK_QUEUE_PREFIX);
  app.decorate('queues', queues);
  app.addHook('onClose', async () => queues.close());

  await migrate(db);
  const users = new UserRepo(db);
  const sessions = new SessionRepo(db, config.RADLINK_SESSION_TTL_SECONDS);
  const sessionNews = new SessionBroadcast(deps.redis, config.RADLINK_QUEUE_PREFIX, app.log);
  sessions.attach(sessionNews);
  app.addHook('onClose', async () => sessionNews.close());
  app.decorate('sessions', sessions);
  const facilities = new FacilityRepo(db);
  const tokens = new TokenService(config.RADLINK_TOKEN_SECRET, config.RADLINK_TOKEN_TTL_SECONDS);
  await ensureInitialAdmin(users, config.RADLINK_ADMIN_PASSWORD, app.log);

  await app.register(errorsPlugin);
  await app.register(cookie);
  if (config.RADLINK_CORS_ORIGINS) {
    // Browser viewers on other origins (e.g. an OHIF deployment) use bearer tokens, never cookies.
    await app.register(cors, {
      origin: config.RADLINK_CORS_ORIGINS.split(',')
        .map((o) => o.trim())
        .filter(Boolean),
      credentials: false,
      allowedHeaders: ['Authorization', 'Content-Type', 'Accept', 'If-None-Match'],
      exposedHeaders: ['ETag', 'Content-Location', 'Content-Type', 'Warning'],
      maxAge: 600,
    });
  }
  // Opt-in per route (`compress` route option): JSON answers are compressed for slow links, while
  // frames, bulk data and images are never gzipped (Orthanc's gzip of every frame cost OHIF 2.5x).
  await app.register(compress, { global: false, encodings: ['br', 'gzip'] });
  await app.register(metricsPlugin);
  // The study index: written at STOW time (app.indexer) and by the Orthanc change feed, which
  // starts when the app is ready and stops before the queues and clients close.
  const indexer = new Indexer(db, deps.orthanc, queues, app.log);
  app.decorate('indexer', indexer);
  // Written by STOW before each Orthanc POST, read by the change feed (index/stow-intents.ts).
  const stowIntents = new StowIntents({ db, log: app.log, registry: app.metrics.registry });
  app.decorate('stowIntents', stowIntents);
  app.addHook('onClose', async () => stowIntents.drain());
  // The feed reads Orthanc through sockets of its own (see withOwnPool): indexing what modalities
  // send must not wait behind viewers' frames.
  const feedOrthanc = deps.orthanc.withOwnPool(FEED_CONNECTIONS);
  const feedIndexer = indexer.withOrthanc(feedOrthanc);
  const changeFeed = new ChangeFeed({
    db,
    orthanc: feedOrthanc,
    indexer: feedIndexer,
    facilities,
    queues,
    log: app.log,
    registry: app.metrics.registry,
    intents: stowIntents,
  });
  app.decorate('changeFeed', changeFeed);
  app.addHook('onReady', async () => changeFeed.start());
  app.addHook('preClose', async () => changeFeed.stop());
  app.addHook('onClose', async () => feedOrthanc.close());
  await app.register(rateLimit, {
    global: false,
    redis: deps.redis,
    // Per installation, like the queues: two installations sharing a Redis keep separate counts.
    nameSpace: `${config.RADLINK_QUEUE_PREFIX}-rl-`,
    // Rate limiting is defence in depth: if Redis is briefly down, logins still work.
    skipOnError: true,
    errorResponseBuilder: (_req, ctx) => ({
      statusCode: 429,
      code: 'RADLINK_RATE_LIMITED',
      message: `Too many attempts; try again in ${Math.ceil(ctx.ttl / 1000)} s.`,
    }),
  });
  await app.register(swagger, {
    openapi: {
      info: { title: 'RadLink API', version: '0.1.0', description: 'PACS, remote reading and AI imaging.' },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } } },
      security: [{ bearer: [] }],
    },
  });
  await app.register(swaggerUi, { routePrefix: '/api/docs' });
  // Patient share links authenticate through the same guard (role `patient`, one study).
  const shareSessions = new ShareSessions(db, config.RADLINK_SHARE_SESSION_SECONDS);
  await app.register(guard, {
    tokens,
    sessions,
    metricsToken: config.RADLINK_METRICS_TOKEN,
    shares: shareSessions,
  });
  await app.register(auditPlugin, { db });

  await app.register(healthRoutes, { statusFile: join(config.RADLINK_DATA, 'run', 'services.json') });
  await app.register(authRoutes, {
    users,
    sessions,
    tokens,
    sessionTtlSeconds: config.RADLINK_SESSION_TTL_SECONDS,
    cookieSecure: config.RADLINK_COOKIE_SECURE,
    loginRateLimit: config.RADLINK_LOGIN_RATE_LIMIT,
  });
  await app.register(userRoutes, { users, sessions, facilities });
  await app.register(facilityRoutes, { db, facilities, orthanc: deps.orthanc });
  await app.register(auditRoutes, { db });
  await app.register(readingPlugin);
  await app.register(keyImagesPlugin);
  await app.register(sharePlugin, { sessions: shareSessions });
  // STOW checks free disk space first (ops/disk-guard.ts).
  app.decorate('diskGuard', DiskGuard.fromConfig(config));
  await app.register(dicomwebRoutes);
  // Operations: break-glass, retention and legal holds; de-identified research exports.
  await app.register(opsPlugin);
  await app.register(exportRoutes);
  // AI: registry, flows, results and findings (server/src/ai); new series become runs.
  await app.register(aiPlugin);
  indexer.onNewInstance = (ids) => app.ai.trigger.onNewInstance(ids);
  feedIndexer.onNewInstance = indexer.onNewInstance;
  // Workers' results (archive copies) are applied here: the gateway is the only database writer.
  const results = new ResultsConsumer({
    db,
    redisUrl: config.REDIS_URL,
    prefix: config.RADLINK_QUEUE_PREFIX,
    registry: app.metrics.registry,
    log: app.log,
    ai: app.ai.results,
  });
  app.addHook('onReady', async () => results.start());
  app.addHook('preClose', async () => results.stop());
  await app.register(archiveRoutes, { db });
  await app.register(repairRoutes);

  const viewerDir = resolve(config.RADLINK_VIEWER_DIR ?? join(REPO_ROOT, 'viewer', 'dist'));
  if (existsSync(join(viewerDir, 'index.html'))) {
    // preCompressed: the viewer build writes .br/.gz beside its assets (viewer/vite.config.ts).
    await app.register(fastifyStatic, {
      root: viewerDir,
      wildcard: true,
      schemaHide: true,
      preCompressed: true,
    });
  } else {
    app.get('/', { schema: { hide: true } }, async (_req, reply) =>
      reply
        .type('text/html; charset=utf-8')
        .send(
          '<!doctype html><meta charset="utf-8"><title>RadLink</title><h1>RadLink</h1>' +
            '<p>The viewer is not built on this server. API documentation: <a href="/api/docs">/api/docs</a>.</p>',
        ),
    );
  }

  app.addHook('onReady', async () => {
    // Orthanc may still be starting; the AE-title list is pushed again on every change.
    await syncModalities(deps.orthanc, facilities).catch((err) =>
      app.log.warn({ err: (err as Error).message }, 'could not push AE titles to Orthanc yet'),
    );
  });
  return app as unknown as FastifyInstance;
}
