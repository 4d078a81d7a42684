/**
 * Retention of the webhook delivery log on PostgreSQL, with gateways sharing one database
 * (delivered entries kept 7 days and failed ones 45 here): the admin API states the retention
 * and pages the log with a cursor; a gateway's start-up maintenance tick prunes old delivered
 * and failed entries and keeps recent ones and failed ones within their period; tens of
 * thousands of rows go in batches, pending ones of any age stay, and writers to the same table
 * carry on meanwhile; and
 * two gateways never prune at once (a lease in the database). The same logic on PGlite:
 * tests/unit/reading-webhooks-retention.test.ts.
 */
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createDatabase, dropDatabase } from '../../scripts/services/postgres.js';
import { SecretBox, WebhookRepo } from '../../server/src/reading/webhooks-repo.js';
import { LEASE_NAME, WebhookLogPruner } from '../../server/src/reading/webhooks-retention.js';
import { bearer, buildTestApp, stack, type TestApp } from '../helpers/app.js';
import { type ReadingWorld, setupWorld } from './reading-helpers.js';

const env = {
  RADLINK_QUEUE_PREFIX: `whret-${process.pid}`,
  RADLINK_WEBHOOK_LOG_DELIVERED_DAYS: '7',
  RADLINK_WEBHOOK_LOG_FAILED_DAYS: '45',
};
const retention = { deliveredDays: 7, failedDays: 45 };
let url: string;
let a: TestApp;
let b: TestApp;
let w: ReadingWorld;
let nextEvent = 1;

/** n rows of one status for a facility, last changed `ageDays` ago (created a minute before). */
async function seed(facilityId: string, status: string, n: number, ageDays: number): Promise<void> {
  const first = nextEvent;
  nextEvent += n;
  await a.db.query(
    `INSERT INTO webhook_deliveries (facility_id, event_id, event_type, url, payload, status, attempts,
                                     last_status_code, created_at, updated_at, delivered_at)
     SELECT $1, $2::bigint + g, 'request.created', 'https://hooks.example.org/radlink', '{"id":"1"}'::jsonb, $3, 1,
            CASE WHEN $3 = 'delivered' THEN 200 WHEN $3 = 'failed' THEN 410 END,
            now() - $4::float8 * interval '1 day' - interval '1 minute', now() - $4::float8 * interval '1 day',
            CASE WHEN $3 = 'delivered' THEN now() - $4::float8 * interval '1 day' END
       FROM generate_series(0, $5::int - 1) g`,
    [facilityId, first, status, ageDays, n],
  );
}

/** "<status> <whole days since the last change>" → number of rows. */
async function census(): Promise<Record<string, number>> {
  const rows = await a.db.query<{ k: string; n: number }>(
    `SELECT status || ' ' || floor(extract(epoch FROM now() - updated_at) / 86400)::int AS k, count(*)::int AS n
       FROM webhook_deliveries GROUP BY 1`,
  );
  return Object.fromEntries(
    rows.map((r) => [r.k, r.n]).sort(([x], [y]) => String(x).localeCompare(String(y))),
  );
}

const pruner = (t: TestApp, batchSize?: number) =>
  new WebhookLogPruner({
    db: t.db,
    repo: new WebhookRepo(t.db, new SecretBox(t.config.RADLINK_TOKEN_SECRET)),
    retention,
    registry: new Registry(),
    log: pino({ level: 'silent' }),
    ...(batchSize ? { batchSize } : {}),
  });

beforeAll(async () => {
  url = await createDatabase(stack().postgresUrl);
  a = await buildTestApp({ name: 'webhooks-retention-a', databaseUrl: url, env });
  b = await buildTestApp({ name: 'webhooks-retention-b', databaseUrl: url, env });
  w = await setupWorld(a, 'whret');
});
afterAll(async () => {
  await Promise.allSettled([a?.close(), b?.close()]);
  if (url) await dropDatabase(url).catch(() => undefined);
});
beforeEach(async () => {
  await a.db.query('DELETE FROM webhook_deliveries');
  await a.db.query('DELETE FROM maintenance_leases');
});

describe('the delivery log API', () => {
  const list = (token: string, q = '') =>
    a.app.inject({
      method: 'GET',
      url: `/api/facilities/${w.central}/webhook/deliveries${q}`,
      headers: bearer(token),
    });

  it('states the retention, gives each entry its expiry, and pages newest first with a cursor', async () => {
    await seed(w.central, 'delivered', 110, 1);
    await seed(w.central, 'failed', 12, 2);
    await seed(w.central, 'pending', 3, 0);
    await seed(w.district, 'delivered', 40, 1); // another facility's: never listed here
    const ids: string[] = [];
    let before = '';
    let pages = 0;
    for (;;) {
      const res = await list(w.tokens.centralAdmin, `?limit=50${before ? `&before=${before}` : ''}`);
      expect(res.statusCode, res.body).toBe(200);
      const body = res.json() as {
        retention: { deliveredDays: number; failedDays: number };
        deliveries: {
          id: string;
          status: string;
          createdAt: string;
          updatedAt: string;
          expiresAt: string | null;
        }[];
        nextBefore: string | null;
      };
      pages++;
      expect(body.retention).toEqual({ deliveredDays: 7, failedDays: 45 });
      for (const d of body.deliveries) {
        const days = { delivered: 7, failed: 45, pending: null }[d.status as 'pending'];
        expect(d.expiresAt, d.status).toBe(
          days === null ? null : new Date(Date.parse(d.updatedAt) + days * 86_400_000).toISOString(),
        );
      }
      ids.push(...body.deliveries.map((d) => d.id));
      if (!body.nextBefore) break;
      before = body.nextBefore;
    }
    expect(pages).toBe(3);
    expect(new Set(ids).size).toBe(125);
    const expected = await a.db.query<{ id: string }>(
      'SELECT id FROM webhook_deliveries WHERE facility_id = $1 ORDER BY created_at DESC, id DESC',
      [w.central],
    );
    expect(ids).toEqual(expected.map((r) => r.id));

    const failed = await list(w.tokens.centralAdmin, '?status=failed&limit=500');
    expect(failed.json().deliveries).toHaveLength(12);
    expect(failed.json().nextBefore).toBeNull();
    for (const [q, reason] of [
      ['?before=not-a-cursor', /before is not a cursor/],
      [`?before=${Buffer.from("2026-02-30T00:00:00.000000Z x' OR 1=1").toString('base64url')}`, /before/],
      ['?before=%2F%2F', /before/],
      ['?offset=50', /additional properties/],
      ['?limit=0', /limit/],
    ] as const) {
      const bad = await list(w.tokens.centralAdmin, q);
      expect(bad.statusCode, q).toBe(400);
      expect(bad.json().message, q).toMatch(reason);
    }
    expect((await list(w.tokens.rad1)).statusCode).toBe(403);
  });
});

describe('pruning', () => {
  it("a gateway's start-up maintenance prunes old delivered and failed entries and keeps the rest", async () => {
    await seed(w.central, 'delivered', 20, 8); // past 7 days: pruned
    await seed(w.district, 'delivered', 5, 400); // pruned
    await seed(w.central, 'delivered', 15, 6); // kept
    await seed(w.central, 'failed', 9, 30); // past the delivered period, within the failed one: kept
    await seed(w.district, 'failed', 4, 46); // pruned
    // A third gateway starting against this database runs the maintenance tick when ready.
    const c = await buildTestApp({ name: 'webhooks-retention-c', databaseUrl: url, env });
    try {
      const kept = { 'delivered 6': 15, 'failed 30': 9 };
      const end = Date.now() + 20_000;
      while (JSON.stringify(await census()) !== JSON.stringify(kept) && Date.now() < end)
        await new Promise((r) => setTimeout(r, 100));
      expect(await census()).toEqual(kept);
      const metric = await c.app.metrics.registry.getSingleMetricAsString('radlink_webhook_log_pruned_total');
      expect(metric).toContain('radlink_webhook_log_pruned_total{status="delivered"} 25');
      expect(metric).toContain('radlink_webhook_log_pruned_total{status="failed"} 4');
    } finally {
      await c.close();
    }
  });

  it('removes tens of thousands of rows in batches of 1000 while writers to the log carry on', async () => {
    await seed(w.central, 'delivered', 30_000, 10);
    await seed(w.district, 'failed', 5_500, 50);
    await seed(w.central, 'delivered', 2_000, 3);
    await seed(w.district, 'pending', 50, 0);
    const pending = await a.db.query<{ id: string }>(
      "SELECT id FROM webhook_deliveries WHERE status = 'pending'",
    );
    await seed(w.central, 'pending', 20, 100); // still being attempted: kept whatever its age
    const repo = new WebhookRepo(b.db, new SecretBox(b.config.RADLINK_TOKEN_SECRET));
    // Gateway B keeps writing the log (new deliveries, attempts) while gateway A prunes.
    let writing = true;
    const latencies: number[] = [];
    const writer = (async () => {
      let i = 0;
      while (writing) {
        const t0 = performance.now();
        await repo.createDelivery({
          facilityId: w.central,
          eventId: String(10_000_000 + i),
          eventType: 'request.created',
          url: 'https://hooks.example.org/radlink',
          payload: { id: String(i) },
        });
        await repo.recordAttempt(pending[i % pending.length]!.id, {
          status: 'pending',
          statusCode: 503,
          error: 'The endpoint answered HTTP 503.',
          url: 'https://hooks.example.org/radlink',
        });
        latencies.push(performance.now() - t0);
        i++;
      }
      return i;
    })();
    const report = await pruner(a).run();
    writing = false;
    const writes = await writer;
    // 30000 delivered: 30 full batches and an empty one; 5500 failed: 5 full and one of 500.
    expect(report).toMatchObject({ outcome: 'pruned', delivered: 30_000, failed: 5_500, batches: 37 });
    const c = await census();
    expect(c).toEqual({ 'delivered 3': 2_000, 'pending 0': 50 + writes, 'pending 100': 20 });
    latencies.sort((x, y) => x - y);
    const p = (q: number) => Math.round(latencies[Math.floor((latencies.length - 1) * q)]!);
    console.log(
      `webhook log prune: 35500 rows in ${report.ms} ms (${report.batches} batches); ` +
        `${writes} concurrent write pairs, p50 ${p(0.5)} ms, max ${p(1)} ms`,
    );
    expect(writes).toBeGreaterThan(10);
    // No writer waited behind the pruner for anything like its whole run.
    expect(p(1)).toBeLessThan(Math.max(1000, report.ms / 4));
  });

  it('only one gateway prunes at a time: a held lease makes the others skip their tick until it expires', async () => {
    await seed(w.central, 'delivered', 50, 9);
    // A gateway that died mid-run left its lease, valid for another minute.
    await a.db.query(
      `INSERT INTO maintenance_leases (name, holder, expires_at) VALUES ($1, 'dead-gateway', now() + interval '1 minute')`,
      [LEASE_NAME],
    );
    expect(await pruner(a).run()).toMatchObject({ outcome: 'busy', delivered: 0, batches: 0 });
    expect(await pruner(b).run()).toMatchObject({ outcome: 'busy', delivered: 0, batches: 0 });
    expect(await census()).toEqual({ 'delivered 9': 50 });
    await a.db.query("UPDATE maintenance_leases SET expires_at = now() - interval '1 second'");
    expect(await pruner(b).run()).toMatchObject({ outcome: 'pruned', delivered: 50 });
    // Taken over, then given up at the end.
    expect(await a.db.query('SELECT holder FROM maintenance_leases')).toEqual([]);

    // Two gateways' ticks at the same moment over a large backlog: one prunes, the other skips.
    await seed(w.central, 'delivered', 20_000, 9);
    const reports = await Promise.all([pruner(a, 500).run(), pruner(b, 500).run()]);
    expect(reports.map((r) => r.outcome).sort()).toEqual(['busy', 'pruned']);
    expect(reports.reduce((n, r) => n + r.delivered, 0)).toBe(20_000);
    expect(await census()).toEqual({});
    expect(await a.db.query('SELECT holder FROM maintenance_leases')).toEqual([]);
  });
});
