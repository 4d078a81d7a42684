/**
 * Retention of the webhook delivery log without services: the two configuration keys (bounds,
 * defaults, failed never shorter than delivered), when an entry expires, the delivery log's
 * cursors, and the pruner, its lease and keyset paging against the real schema in an in-memory
 * PGlite (which entries go, which stay, batch by batch, stopping between batches, one holder of
 * the lease at a time). PostgreSQL, several
 * gateways and the admin API: tests/integration/reading-webhooks-retention.test.ts.
 */
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ConfigError } from '../../contracts/config.js';
import { loadGatewayConfig } from '../../server/src/config.js';
import { type Db, openDb } from '../../server/src/db/client.js';
import { tryLease } from '../../server/src/db/leases.js';
import { migrate } from '../../server/src/db/migrate.js';
import {
  type DeliveryCursor,
  decodeCursor,
  encodeCursor,
  SecretBox,
  WebhookRepo,
} from '../../server/src/reading/webhooks-repo.js';
import { expiresAt, LEASE_NAME, WebhookLogPruner } from '../../server/src/reading/webhooks-retention.js';

const VALID = {
  RADLINK_TOKEN_SECRET: 'x'.repeat(48),
  REDIS_URL: 'redis://127.0.0.1:6379',
  ORTHANC_URL: 'http://127.0.0.1:8042',
  ORTHANC_USERNAME: 'radlink',
  ORTHANC_PASSWORD: 'secret',
  S3_ENDPOINT: 'http://127.0.0.1:9000',
  S3_ACCESS_KEY: 'a',
  S3_SECRET_KEY: 'b',
};

function problemsOf(env: Record<string, string>): string[] {
  try {
    loadGatewayConfig({ ...VALID, ...env });
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return (e as ConfigError).problems;
  }
  return [];
}

describe('configuration', () => {
  it('defaults: delivered entries 30 days, failed ones 90', () => {
    const c = loadGatewayConfig(VALID);
    expect(c.RADLINK_WEBHOOK_LOG_DELIVERED_DAYS).toBe(30);
    expect(c.RADLINK_WEBHOOK_LOG_FAILED_DAYS).toBe(90);
    const custom = loadGatewayConfig({
      ...VALID,
      RADLINK_WEBHOOK_LOG_DELIVERED_DAYS: '7',
      RADLINK_WEBHOOK_LOG_FAILED_DAYS: '7',
    });
    expect([custom.RADLINK_WEBHOOK_LOG_DELIVERED_DAYS, custom.RADLINK_WEBHOOK_LOG_FAILED_DAYS]).toEqual([
      7, 7,
    ]);
  });

  it.each([
    ['RADLINK_WEBHOOK_LOG_DELIVERED_DAYS', '0'],
    ['RADLINK_WEBHOOK_LOG_DELIVERED_DAYS', '-5'],
    ['RADLINK_WEBHOOK_LOG_DELIVERED_DAYS', 'thirty'],
    ['RADLINK_WEBHOOK_LOG_FAILED_DAYS', '0'],
    ['RADLINK_WEBHOOK_LOG_FAILED_DAYS', '3651'],
    ['RADLINK_WEBHOOK_LOG_FAILED_DAYS', '90d'],
  ])('%s=%s is refused, naming the key', (key, value) => {
    const problems = problemsOf({ [key]: value });
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(new RegExp(`^${key}=${JSON.stringify(value)} is invalid`));
  });

  it('a failed period shorter than the delivered one is refused (failures would vanish first)', () => {
    const problems = problemsOf({
      RADLINK_WEBHOOK_LOG_DELIVERED_DAYS: '60',
      RADLINK_WEBHOOK_LOG_FAILED_DAYS: '59',
    });
    expect(problems).toEqual([
      'RADLINK_WEBHOOK_LOG_FAILED_DAYS=59 must be at least RADLINK_WEBHOOK_LOG_DELIVERED_DAYS=60',
    ]);
    // Only the delivered period raised above the failed default: refused too.
    expect(problemsOf({ RADLINK_WEBHOOK_LOG_DELIVERED_DAYS: '120' })).toHaveLength(1);
  });
});

describe('expiresAt', () => {
  const r = { deliveredDays: 30, failedDays: 90 };
  it.each([
    ['delivered', '2026-01-01T10:00:00.000Z', '2026-01-31T10:00:00.000Z'],
    ['failed', '2026-01-01T10:00:00.000Z', '2026-04-01T10:00:00.000Z'],
    ['pending', '2026-01-01T10:00:00.000Z', null],
    // Counted in exact days (UTC), across a month end and a leap day.
    ['delivered', '2028-02-15T23:59:59.999Z', '2028-03-16T23:59:59.999Z'],
  ] as const)('%s, last changed %s: %s', (status, updatedAt, expected) => {
    expect(expiresAt(r, status, updatedAt)).toBe(expected);
  });
});

describe('delivery log cursors', () => {
  const id = '0b7a3c1e-2f4d-4e5a-9b6c-7d8e9f0a1b2c';
  it('round-trip at microsecond precision and are URL-safe', () => {
    const c = { createdAt: '2026-11-24T16:22:09.123456Z', id };
    const s = encodeCursor(c);
    expect(s).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(decodeCursor(s)).toEqual(c);
  });

  it.each([
    ['not base64 of a cursor', 'garbage'],
    ['milliseconds only', encodeCursor({ createdAt: '2026-11-24T16:22:09.123Z', id })],
    ['no id', Buffer.from('2026-11-24T16:22:09.123456Z').toString('base64url')],
    ['id not a uuid', encodeCursor({ createdAt: '2026-11-24T16:22:09.123456Z', id: "1' OR '1'='1" })],
    ['February 30', encodeCursor({ createdAt: '2026-02-30T00:00:00.000000Z', id })],
    ['hour 24', encodeCursor({ createdAt: '2026-02-01T24:00:00.000000Z', id })],
    ['year 0', encodeCursor({ createdAt: '0000-01-01T00:00:00.000000Z', id })],
    ['trailing text', Buffer.from(`2026-11-24T16:22:09.123456Z ${id} x`).toString('base64url')],
  ])('refuse %s', (_what, s) => {
    expect(decodeCursor(s)).toBeNull();
  });
});

describe('against the schema (in-memory PGlite)', () => {
  let db: Db;
  let repo: WebhookRepo;
  let nextEvent = 1;
  const retention = { deliveredDays: 30, failedDays: 90 };

  /** n rows of one status, last changed `ageDays` ago (created a minute before that). */
  async function seed(facilityId: string, status: string, n: number, ageDays: number): Promise<void> {
    const first = nextEvent;
    nextEvent += n;
    await db.query(
      `INSERT INTO webhook_deliveries (facility_id, event_id, event_type, url, payload, status, attempts,
                                       created_at, updated_at, delivered_at)
       SELECT $1, $2::bigint + g, 'request.created', 'https://hooks.example.org/radlink', '{"id":"1"}'::jsonb, $3, 1,
              now() - $4::float8 * interval '1 day' - interval '1 minute', now() - $4::float8 * interval '1 day',
              CASE WHEN $3 = 'delivered' THEN now() - $4::float8 * interval '1 day' END
         FROM generate_series(0, $5::int - 1) g`,
      [facilityId, first, status, ageDays, n],
    );
  }
  const counts = async () =>
    Object.fromEntries(
      (
        await db.query<{ k: string; n: number }>(
          `SELECT status || ' ' || (CASE WHEN updated_at < now() - interval '60 days' THEN 'old' ELSE 'new' END) AS k,
                  count(*)::int AS n
             FROM webhook_deliveries GROUP BY 1`,
        )
      ).map((r) => [r.k, r.n]),
    );
  const pruner = (batchSize: number, registry = new Registry()) =>
    new WebhookLogPruner({ db, repo, retention, registry, log: pino({ level: 'silent' }), batchSize });

  beforeAll(async () => {
    db = await openDb({});
    await migrate(db);
    await db.exec(
      "INSERT INTO facilities (id, name, tier) VALUES ('wh-a', 'A', 'central'), ('wh-b', 'B', 'district')",
    );
    repo = new WebhookRepo(db, new SecretBox('x'.repeat(48)));
  });
  afterAll(async () => {
    await db?.close();
  });
  beforeEach(async () => {
    await db.query('DELETE FROM webhook_deliveries');
    await db.query('DELETE FROM maintenance_leases');
  });

  it('a lease is taken once until released or expired, and only its holder renews or releases it', async () => {
    const first = await tryLease(db, 'job', 60);
    expect(first).not.toBeNull();
    expect(await tryLease(db, 'job', 60)).toBeNull();
    expect(await tryLease(db, 'other-job', 60)).not.toBeNull();
    expect(await first!.renew()).toBe(true);
    await first!.release();
    const second = await tryLease(db, 'job', 60);
    expect(second).not.toBeNull();
    expect(second!.holder).not.toBe(first!.holder);
    // The first holder's late release does not free the second's lease.
    await first!.release();
    expect(await tryLease(db, 'job', 60)).toBeNull();
    // Expired (its holder died): taken over; the old holder can no longer renew.
    await db.query(
      "UPDATE maintenance_leases SET expires_at = now() - interval '1 second' WHERE name = 'job'",
    );
    const third = await tryLease(db, 'job', 60);
    expect(third).not.toBeNull();
    expect(await second!.renew()).toBe(false);
    expect(await third!.renew()).toBe(true);
  });

  it('removes delivered entries past 30 days and failed ones past 90; keeps the rest and every pending one', async () => {
    await seed('wh-a', 'delivered', 3, 30.01);
    await seed('wh-b', 'delivered', 2, 400);
    await seed('wh-a', 'delivered', 4, 29.99);
    await seed('wh-a', 'failed', 5, 89.99); // past the delivered period, within the failed one
    await seed('wh-b', 'failed', 6, 90.01);
    await seed('wh-a', 'pending', 7, 365); // a delivery still retrying is never dropped
    const registry = new Registry();
    const report = await pruner(1000, registry).run();
    expect(report).toMatchObject({ outcome: 'pruned', delivered: 5, failed: 6, batches: 2 });
    const left = await db.query<{ status: string; age: number }>(
      `SELECT status, floor(extract(epoch FROM now() - updated_at) / 86400)::int AS age
         FROM webhook_deliveries ORDER BY status, age`,
    );
    expect(left.map((r) => `${r.status} ${r.age}`)).toEqual([
      ...Array(4).fill('delivered 29'),
      ...Array(5).fill('failed 89'),
      ...Array(7).fill('pending 365'),
    ]);
    const metric = await registry.getSingleMetricAsString('radlink_webhook_log_pruned_total');
    expect(metric).toContain('radlink_webhook_log_pruned_total{status="delivered"} 5');
    expect(metric).toContain('radlink_webhook_log_pruned_total{status="failed"} 6');
    // A second run finds nothing more.
    expect(await pruner(1000).run()).toMatchObject({ delivered: 0, failed: 0, batches: 2 });
  });

  it('prunes many rows in batches of the configured size, oldest first', async () => {
    await seed('wh-a', 'delivered', 2503, 45);
    await seed('wh-b', 'failed', 1200, 120);
    await seed('wh-a', 'delivered', 150, 1);
    const report = await pruner(500).run();
    // 2503 delivered: 5 full batches and one of 3; 1200 failed: 2 full and one of 200.
    expect(report).toMatchObject({ outcome: 'pruned', delivered: 2503, failed: 1200, batches: 9 });
    expect(await counts()).toEqual({ 'delivered new': 150 });
  });

  it('a batch that comes out exactly full is followed by one that finds nothing', async () => {
    await seed('wh-a', 'delivered', 1000, 31);
    expect(await pruner(250).run()).toMatchObject({ delivered: 1000, failed: 0, batches: 4 + 1 + 1 });
  });

  it('skips its run while another holds the lease, and stops when it loses the lease mid-run', async () => {
    await seed('wh-a', 'delivered', 2000, 50);
    const other = await tryLease(db, LEASE_NAME, 60);
    expect(await pruner(10).run()).toMatchObject({ outcome: 'busy', delivered: 0, batches: 0 });
    await other!.release();
    const p = pruner(10);
    const run = p.run();
    // Its lease expires and another gateway takes it over while this run is going.
    for (;;) {
      const [n] = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM webhook_deliveries');
      if (n!.n < 2000) break;
    }
    // One statement: between two, the run's own renewal could revive its lease.
    await db.query(
      "UPDATE maintenance_leases SET holder = 'usurper', acquired_at = now(), expires_at = now() + interval '1 minute'",
    );
    const report = await run;
    expect(report.outcome).toBe('lost');
    expect(report.delivered).toBeLessThan(2000);
    // The usurper's lease is left alone.
    expect(await db.query('SELECT holder FROM maintenance_leases')).toEqual([{ holder: 'usurper' }]);
  });

  it('stop() ends a run between batches, keeps what it removed, and refuses new runs', async () => {
    await seed('wh-a', 'delivered', 2000, 50);
    const p = pruner(10);
    const run = p.run();
    expect(p.run()).toBe(run); // one run at a time: the tick joins the run in progress
    // Stop once some batches are done (the count is read between two of them).
    for (;;) {
      const [n] = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM webhook_deliveries');
      if (n!.n < 2000) break;
    }
    await p.stop();
    const report = await run;
    expect(report.outcome).toBe('stopped');
    expect(report.delivered).toBeGreaterThan(0);
    expect(report.delivered).toBeLessThan(2000);
    expect(report.delivered % 10).toBe(0);
    const [left] = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM webhook_deliveries');
    expect(left!.n).toBe(2000 - report.delivered);
    expect(await p.run()).toMatchObject({ outcome: 'stopped', delivered: 0, batches: 0 });
  });

  it('pages the log newest first with a cursor: no entry repeated or skipped, ties on the time included', async () => {
    await seed('wh-a', 'delivered', 30, 2);
    await seed('wh-a', 'failed', 17, 3);
    await seed('wh-b', 'delivered', 9, 2);
    // Entries sharing one creation time: the id orders them.
    await db.query(
      `UPDATE webhook_deliveries
          SET created_at = date_trunc('second', now()) - interval '10 days' + interval '123456 microseconds'
        WHERE id IN (SELECT id FROM webhook_deliveries WHERE facility_id = 'wh-a' ORDER BY id LIMIT 12)`,
    );
    const all = await db.query<{ id: string }>(
      `SELECT id FROM webhook_deliveries WHERE facility_id = 'wh-a' ORDER BY created_at DESC, id DESC`,
    );
    const seen: string[] = [];
    let before: DeliveryCursor | null = null;
    let pages = 0;
    for (;;) {
      const page = await repo.listDeliveries('wh-a', { status: null, limit: 10, before });
      pages++;
      seen.push(...page.rows.map((r) => r.id));
      // Entries written while paging appear on no later page (they are newer than the cursor).
      await seed('wh-a', 'pending', 1, 0);
      if (!page.next) break;
      before = decodeCursor(encodeCursor(page.next));
    }
    expect(pages).toBe(5);
    expect(seen).toEqual(all.map((r) => r.id));
    const failedOnly = await repo.listDeliveries('wh-a', { status: 'failed', limit: 100, before: null });
    expect(failedOnly.rows).toHaveLength(17);
    expect(failedOnly.next).toBeNull();
  });
});
