/**
 * The AI part of the gateway as one plugin: the registry, the flow producer, the trigger the
 * indexer calls for new series, the results applier the results consumer delegates to, the
 * metrics, and the routes. Decorated as `app.ai` so app.ts can wire the indexer hook and the
 * results consumer to it.
 */
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { Redis } from 'ioredis';
import { AiFlow } from './flow.js';
import { AiMetrics } from './metrics.js';
import aiModelRoutes from './model-routes.js';
import { ModelRegistry } from './registry.js';
import aiReportRoutes from './report-routes.js';
import { AiResults } from './results.js';
import aiResultsRoutes from './results-routes.js';
import aiStatsRoutes from './stats-routes.js';
import { AiTrigger } from './trigger.js';

export interface Ai {
  registry: ModelRegistry;
  flow: AiFlow;
  trigger: AiTrigger;
  results: AiResults;
}

declare module 'fastify' {
  interface FastifyInstance {
    ai: Ai;
  }
}

export default fp(
  async (app: FastifyInstance) => {
    const registry = new ModelRegistry(app.db);
    // Flow producers and queues may share one non-blocking connection; never the app's, whose
    // retry policy differs from what BullMQ requires.
    const connection = new Redis(app.config.REDIS_URL, { maxRetriesPerRequest: null });
    connection.on('error', (err) => app.log.warn({ err: err.message }, 'AI flow: redis error'));
    const flow = new AiFlow(connection, app.config.RADLINK_QUEUE_PREFIX, app.config.REDIS_URL);
    const trigger = new AiTrigger(app.db, registry, flow, app.log);
    const metrics = new AiMetrics(app.metrics.registry, app.db);
    const results = new AiResults({ db: app.db, s3: app.s3, registry, trigger, metrics, log: app.log });
    app.decorate('ai', { registry, flow, trigger, results });
    app.addHook('onClose', async () => {
      await flow.close();
      await connection.quit().catch(() => connection.disconnect());
    });
    await app.register(aiModelRoutes, { registry, flow });
    await app.register(aiResultsRoutes, { flow, trigger });
    await app.register(aiReportRoutes);
    await app.register(aiStatsRoutes);
  },
  { name: 'radlink-ai' },
);
