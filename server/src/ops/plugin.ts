/**
 * Operations: break-glass access, retention and legal holds, and the free-space gauges of the
 * volumes the disk guard watches (the guard itself is decorated in app.ts, before STOW).
 */
import type { FastifyInstance } from 'fastify';
import { Gauge } from 'prom-client';
import breakGlassRoutes from './break-glass.js';
import retentionRoutes from './retention-routes.js';

export default async function opsPlugin(app: FastifyInstance) {
  const guard = app.diskGuard;
  new Gauge({
    name: 'radlink_disk_free_bytes',
    help: 'Free bytes on each volume the STOW free-space check watches.',
    labelNames: ['path'],
    registers: [app.metrics.registry],
    collect() {
      for (const v of guard.check().volumes) this.set({ path: v.path }, v.freeBytes);
    },
  });
  new Gauge({
    name: 'radlink_disk_min_free_bytes',
    help: 'Free space below which STOW refuses (RADLINK_DISK_MIN_FREE_MB).',
    registers: [app.metrics.registry],
    collect() {
      this.set(guard.check().minFreeBytes);
    },
  });
  await app.register(breakGlassRoutes, { minutes: app.config.RADLINK_BREAK_GLASS_MINUTES });
  await app.register(retentionRoutes, { intervalHours: app.config.RADLINK_RETENTION_INTERVAL_HOURS });
}
