/**
 * Prometheus metrics. Each app instance owns its registry (tests build many apps in one
 * process), so nothing here is a module-level singleton.
 */
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

declare module 'fastify' {
  interface FastifyInstance {
    metrics: Metrics;
  }
}

export interface Metrics {
  registry: Registry;
  httpRequests: Counter<'method' | 'route' | 'status'>;
  httpDuration: Histogram<'method' | 'route'>;
  serviceRestarts: Gauge<'service'>;
  serviceUp: Gauge<'service'>;
  auditFailures: Gauge;
  loginFailures: Counter<'reason'>;
}

export default fp(
  async (app: FastifyInstance) => {
    const registry = new Registry();
    collectDefaultMetrics({ register: registry, prefix: 'radlink_gateway_' });
    const m: Metrics = {
      registry,
      httpRequests: new Counter({
        name: 'radlink_http_requests_total',
        help: 'HTTP requests by route template and status',
        labelNames: ['method', 'route', 'status'],
        registers: [registry],
      }),
      httpDuration: new Histogram({
        name: 'radlink_http_request_duration_seconds',
        help: 'HTTP request duration by route template',
        labelNames: ['method', 'route'],
        buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
        registers: [registry],
      }),
      serviceRestarts: new Gauge({
        name: 'radlink_service_restarts',
        help: 'Times the supervisor restarted a service since start-up',
        labelNames: ['service'],
        registers: [registry],
      }),
      serviceUp: new Gauge({
        name: 'radlink_service_up',
        help: '1 when the supervised service is running and ready',
        labelNames: ['service'],
        registers: [registry],
      }),
      auditFailures: new Gauge({
        name: 'radlink_audit_write_failures_total',
        help: 'Audit rows that could not be written (alert on any)',
        registers: [registry],
      }),
      loginFailures: new Counter({
        name: 'radlink_login_failures_total',
        help: 'Refused logins by reason',
        labelNames: ['reason'],
        registers: [registry],
      }),
    };
    app.decorate('metrics', m);
    app.addHook('onResponse', async (request, reply) => {
      // Route templates, never raw URLs: label cardinality stays bounded and no UID or name leaks.
      const route = request.routeOptions.url ?? 'unmatched';
      m.httpRequests.inc({ method: request.method, route, status: String(reply.statusCode) });
      m.httpDuration.observe({ method: request.method, route }, reply.elapsedTime / 1000);
    });
  },
  { name: 'radlink-metrics' },
);
