/** /healthz (the process is alive), /readyz (every backing service answers), /metrics. */
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { readSupervisorStatus, withDeadline } from './checks.js';

const PROBE_MS = 2000;

const Components = Type.Record(Type.String(), Type.String(), {
  description: 'Each component: "ok", or what is wrong with it.',
});

export default async function healthRoutes(app: FastifyInstance, opts: { statusFile: string }) {
  app.get(
    '/healthz',
    {
      schema: {
        tags: ['health'],
        summary: 'Liveness: the gateway process answers.',
        response: { 200: Type.Object({ status: Type.Literal('ok') }) },
      },
    },
    async () => ({ status: 'ok' as const }),
  );

  app.get(
    '/readyz',
    {
      schema: {
        tags: ['health'],
        summary: 'Readiness: Orthanc, Redis, the database and object storage all answer.',
        response: {
          200: Type.Object({ status: Type.Literal('ok'), components: Components }),
          503: Type.Object({
            status: Type.Literal('unavailable'),
            failing: Type.Array(Type.String()),
            components: Components,
          }),
        },
      },
    },
    async (_request, reply) => {
      const [orthanc, redis, database, storage, supervised] = await Promise.all([
        withDeadline(app.orthanc.ping(), PROBE_MS),
        withDeadline(app.redis.ping(), PROBE_MS),
        withDeadline(app.db.query('SELECT 1'), PROBE_MS),
        withDeadline(app.s3.ping(), PROBE_MS),
        readSupervisorStatus(opts.statusFile),
      ]);
      const components: Record<string, string> = { orthanc, redis, database, storage };
      // A service the supervisor is restarting is not ready even if a probe happened to pass.
      // The gateway's own entry is skipped: it is `starting` until this very answer is 200.
      for (const [name, s] of Object.entries(supervised ?? {})) {
        if (name === 'gateway') continue;
        const key = name in components ? name : `service:${name}`;
        if (s.state !== 'ok' && components[key] === 'ok')
          components[key] = `${s.state} (restarts: ${s.restarts})`;
        else if (!(key in components))
          components[key] = s.state === 'ok' ? 'ok' : `${s.state} (restarts: ${s.restarts})`;
      }
      const failing = Object.entries(components)
        .filter(([, v]) => v !== 'ok')
        .map(([k]) => k);
      if (failing.length === 0) return { status: 'ok' as const, components };
      return reply.code(503).send({ status: 'unavailable' as const, failing, components });
    },
  );

  app.get(
    '/metrics',
    {
      schema: {
        tags: ['health'],
        summary: 'Prometheus metrics (system admin, or the metrics token).',
        produces: ['text/plain'],
        response: { 200: Type.String() },
      },
    },
    async (_request, reply) => {
      const supervised = await readSupervisorStatus(opts.statusFile);
      for (const [name, s] of Object.entries(supervised ?? {})) {
        app.metrics.serviceRestarts.set({ service: name }, s.restarts);
        app.metrics.serviceUp.set({ service: name }, s.state === 'ok' ? 1 : 0);
      }
      app.metrics.auditFailures.set(app.audit.failures);
      return reply.type(app.metrics.registry.contentType).send(await app.metrics.registry.metrics());
    },
  );
}
