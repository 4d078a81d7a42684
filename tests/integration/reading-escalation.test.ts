/**
 * Specialty pools and STAT escalation on PostgreSQL with two gateways (and restarts), with
 * escalation delays of one second:
 *  - the pool admin API, and the worklist order it drives (members first; others after the
 *    pool's head start);
 *  - an unclaimed STAT request alerts the radiologists, then its pool, then the facility admins,
 *    exactly once per step although two gateways run workers, until it is acknowledged;
 *  - a claim stops it, a release restarts it; it survives all gateways being down when a step falls due, and Redis
 *    losing its timer.
 */
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { QUEUES } from '../../contracts/jobs.js';
import { createDatabase } from '../../scripts/services/postgres.js';
import { bearer, buildTestApp, stack, type TestApp } from '../helpers/app.js';
import { api, insertStudy, type ReadingWorld, setupWorld } from './reading-helpers.js';

const PREFIX = `esc-${process.pid}`;
const env = {
  RADLINK_QUEUE_PREFIX: PREFIX,
  RADLINK_STAT_ESCALATE_POOL_SECONDS: '1',
  RADLINK_STAT_ESCALATE_ADMIN_SECONDS: '1',
};
let url: string;
let a: TestApp;
let b: TestApp;
let w: ReadingWorld;

beforeAll(async () => {
  url = await createDatabase(stack().postgresUrl);
  a = await buildTestApp({ name: 'reading-escalation-a', databaseUrl: url, env });
  b = await buildTestApp({ name: 'reading-escalation-b', databaseUrl: url, env });
  w = await setupWorld(a, 'esc');
});
afterAll(async () => {
  await Promise.allSettled([a?.close(), b?.close()]);
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function waitFor<T>(
  what: string,
  fn: () => Promise<T | undefined | null | false>,
  ms = 15_000,
): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

async function request(t: TestApp, priority: string, pool?: string) {
  const studyUid = await insertStudy(t, w.district);
  const res = await api(t, w.tokens.doctor, 'POST', '/api/requests', {
    studyUid,
    targetFacilityId: w.central,
    priority,
    clinicalInfo: 'Yếu nửa người',
    question: 'Nhồi máu não?',
    ...(pool ? { specialtyPool: pool } : {}),
  });
  expect(res.statusCode, res.body).toBe(201);
  return res.json().id as string;
}

interface EventRow {
  type: string;
  level: number | null;
  audience: string | null;
  recipients: string[] | null;
}
async function alerts(t: TestApp, requestId: string): Promise<EventRow[]> {
  return t.db.query<EventRow>(
    `SELECT type, (data->>'level')::int AS level, data->>'audience' AS audience, array_to_json(recipients) AS recipients
       FROM reading_events WHERE request_id = $1 AND type LIKE 'stat.%' ORDER BY id`,
    [requestId],
  );
}
const sorted = (xs: string[] | null) => [...(xs ?? [])].sort();
/** setupWorld records every user's id; its type names only some of them. */
const centralAdminId = () => (w.ids as Record<string, string>).centralAdmin!;

describe('specialty pools', () => {
  it('the facility admin defines a pool and its radiologists; others may only read it', async () => {
    const put = await a.app.inject({
      method: 'PUT',
      url: `/api/facilities/${w.central}/pools/neuro`,
      headers: bearer(w.tokens.centralAdmin),
      payload: { name: 'Thần kinh' },
    });
    expect(put.statusCode, put.body).toBe(200);
    const add = await a.app.inject({
      method: 'PUT',
      url: `/api/facilities/${w.central}/pools/neuro/members/${w.ids.rad1}`,
      headers: bearer(w.tokens.centralAdmin),
    });
    expect(add.statusCode, add.body).toBe(200);
    expect(add.json()).toMatchObject({ pool: 'neuro', name: 'Thần kinh', members: [{ id: w.ids.rad1 }] });
    // Only radiologists of the facility join; only its admin changes pools.
    const outsider = await a.app.inject({
      method: 'PUT',
      url: `/api/facilities/${w.central}/pools/neuro/members/${w.ids.otherRad}`,
      headers: bearer(w.tokens.centralAdmin),
    });
    expect(outsider.statusCode).toBe(400);
    const byRad = await a.app.inject({
      method: 'PUT',
      url: `/api/facilities/${w.central}/pools/chest`,
      headers: bearer(w.tokens.rad1),
      payload: { name: 'Lồng ngực' },
    });
    expect(byRad.statusCode).toBe(403);
    const missing = await a.app.inject({
      method: 'PUT',
      url: `/api/facilities/${w.central}/pools/nope/members/${w.ids.rad1}`,
      headers: bearer(w.tokens.centralAdmin),
    });
    expect(missing.statusCode).toBe(404);
    const mine = await a.app.inject({
      method: 'PUT',
      url: `/api/facilities/${w.central}/pools/mine`,
      headers: bearer(w.tokens.centralAdmin),
      payload: { name: 'Của tôi' },
    });
    expect(mine.statusCode).toBe(400);
    // A requester elsewhere lists them to choose one.
    const list = await api(b, w.tokens.doctor, 'GET', `/api/facilities/${w.central}/pools`);
    expect(list.statusCode).toBe(200);
    expect(list.json().map((p: { pool: string }) => p.pool)).toEqual(['neuro']);
    const bad = await api(a, w.tokens.doctor, 'POST', '/api/requests', {
      studyUid: await insertStudy(a, w.district),
      targetFacilityId: w.central,
      priority: 'routine',
      clinicalInfo: 'x',
      question: 'y',
      specialtyPool: 'cardio',
    });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().message).toMatch(/specialtyPool/);
  });

  it("members see the pool's requests first; others after the pool's head start", async () => {
    const general = await request(a, 'urgent');
    await sleep(20);
    const pooled = await request(a, 'urgent', 'neuro');
    const order = async (t: TestApp, token: string, q = '') =>
      (
        (await api(t, token, 'GET', `/api/worklist?status=requested${q}`)).json() as {
          request: { id: string };
          inMyPool: boolean;
        }[]
      )
        .filter((i) => [general, pooled].includes(i.request.id))
        .map((i) => [i.request.id, i.inMyPool]);
    expect(await order(a, w.tokens.rad1)).toEqual([
      [pooled, true],
      [general, false],
    ]);
    expect(await order(b, w.tokens.rad2)).toEqual([
      [general, false],
      [pooled, false],
    ]);
    expect(await order(a, w.tokens.rad1, '&pool=mine')).toEqual([[pooled, true]]);
    expect(await order(a, w.tokens.rad2, '&pool=mine')).toEqual([]);
    // Twenty minutes later (past the 15-minute head start) it is everyone's, in waiting order.
    await a.db.query(
      "UPDATE read_requests SET created_at = created_at - interval '20 minutes' WHERE id = $1",
      [pooled],
    );
    expect(await order(b, w.tokens.rad2)).toEqual([
      [pooled, false],
      [general, false],
    ]);
    // Anyone of the facility may claim it: a pool routes, it does not lock out.
    expect((await api(b, w.tokens.rad2, 'POST', `/api/requests/${pooled}/claim`)).statusCode).toBe(200);
    for (const id of [general])
      await api(a, w.tokens.doctor, 'POST', `/api/requests/${id}/cancel`, { reason: 'xong' });
  });
});

describe('STAT escalation', () => {
  it('radiologists, then the pool, then the facility admins; once per step across two gateways; acknowledge stops it', async () => {
    const id = await request(a, 'stat', 'neuro');
    const first = await alerts(a, id);
    expect(first).toEqual([
      { type: 'stat.new', level: 0, audience: 'radiologists', recipients: expect.any(Array) },
    ]);
    expect(sorted(first[0]!.recipients)).toEqual(sorted([w.ids.rad1, w.ids.rad2]));
    const steps = await waitFor('level 2', async () => {
      const rows = await alerts(a, id);
      return rows.some((r) => r.level === 2) && rows;
    });
    expect(steps[1]).toEqual({
      type: 'stat.escalated',
      level: 1,
      audience: 'pool',
      recipients: [w.ids.rad1],
    });
    expect(steps[2]).toEqual({
      type: 'stat.escalated',
      level: 2,
      audience: 'facility-admins',
      recipients: [centralAdminId()],
    });
    // The requester's side may see the request but acknowledges nothing.
    expect((await api(b, w.tokens.doctor, 'POST', `/api/requests/${id}/acknowledge`)).statusCode).toBe(403);
    expect((await api(b, w.tokens.otherRad, 'POST', `/api/requests/${id}/acknowledge`)).statusCode).toBe(404);
    const ack = await api(b, w.tokens.centralAdmin, 'POST', `/api/requests/${id}/acknowledge`);
    expect(ack.statusCode, ack.body).toBe(200);
    expect(ack.json()).toMatchObject({ requestId: id, acknowledgedBy: centralAdminId(), nextAt: null });
    const levelAtAck = ack.json().level as number;
    // Idempotent: a second acknowledgement keeps the first.
    const again = await api(a, w.tokens.rad2, 'POST', `/api/requests/${id}/acknowledge`);
    expect(again.json()).toMatchObject({ acknowledgedBy: centralAdminId() });
    await sleep(2500);
    const all = await alerts(a, id);
    const escalated = all.filter((r) => r.type === 'stat.escalated');
    // One row per level although both gateways' workers were running, and none after the acknowledgement.
    expect(escalated.map((r) => r.level)).toEqual(Array.from({ length: levelAtAck }, (_, i) => i + 1));
    expect(all.filter((r) => r.type === 'stat.acknowledged')).toHaveLength(1);
    const state = await api(a, w.tokens.rad1, 'GET', `/api/requests/${id}/escalation`);
    expect(state.json()).toMatchObject({ level: levelAtAck, nextAt: null });
  });

  it('a claim before the first step stops the escalation, a release restarts it; non-STAT requests have none', async () => {
    const id = await request(b, 'stat');
    expect((await api(a, w.tokens.rad2, 'POST', `/api/requests/${id}/claim`)).statusCode).toBe(200);
    await waitFor('the chain to end', async () => {
      const [row] = await a.db.query<{ next_at: Date | null }>(
        'SELECT next_at FROM stat_escalations WHERE request_id = $1',
        [id],
      );
      return row && row.next_at === null;
    });
    await sleep(1500);
    expect((await alerts(a, id)).map((r) => r.type)).toEqual(['stat.new']);
    // Given back unread, it is an unclaimed STAT again: the chain restarts at the pool step.
    expect((await api(b, w.tokens.rad2, 'POST', `/api/requests/${id}/release`)).statusCode).toBe(200);
    const again = await waitFor('level 1 after the release', async () => {
      const r = await alerts(a, id);
      return r.some((x) => x.level === 1) && r;
    });
    expect(again.map((r) => [r.type, r.level])).toEqual([
      ['stat.new', 0],
      ['stat.escalated', 1],
    ]);
    await api(a, w.tokens.rad1, 'POST', `/api/requests/${id}/acknowledge`);
    const routine = await request(a, 'routine');
    expect((await api(a, w.tokens.rad1, 'GET', `/api/requests/${routine}/escalation`)).statusCode).toBe(404);
    const ack = await api(a, w.tokens.rad1, 'POST', `/api/requests/${routine}/acknowledge`);
    expect(ack.statusCode).toBe(409);
  });

  it('a step that falls due while every gateway is down happens when one starts again', async () => {
    const id = await request(a, 'stat');
    await Promise.all([a.close(), b.close()]);
    await sleep(1500);
    const [row] = await (await import('../../server/src/db/client.js'))
      .openDb({ databaseUrl: url })
      .then(async (db) => {
        const r = await db.query<{ level: number }>(
          'SELECT level FROM stat_escalations WHERE request_id = $1',
          [id],
        );
        await db.close();
        return r;
      });
    expect(row!.level).toBe(0);
    a = await buildTestApp({ name: 'reading-escalation-a2', databaseUrl: url, env });
    const rows = await waitFor('level 1 after the restart', async () => {
      const r = await alerts(a, id);
      return r.some((x) => x.level === 1) && r;
    });
    // No pool: the first step alerts every radiologist of the facility.
    expect(rows[1]).toMatchObject({ type: 'stat.escalated', level: 1, audience: 'radiologists' });
    await api(a, w.tokens.rad1, 'POST', `/api/requests/${id}/acknowledge`);
  });

  it('a timer Redis lost is re-created from the database when a gateway starts', async () => {
    const id = await request(a, 'stat');
    const redis = new Redis(stack().redisUrl, { maxRetriesPerRequest: null });
    const queue = new Queue(QUEUES.statEscalation, { connection: redis, prefix: PREFIX });
    try {
      const jobId = `stat_${id}_1`;
      expect(await queue.getJob(jobId)).toBeTruthy();
      await a.close();
      await queue.remove(jobId);
      expect(await queue.getJob(jobId)).toBeFalsy();
      await sleep(1200);
      b = await buildTestApp({ name: 'reading-escalation-b2', databaseUrl: url, env });
      const rows = await waitFor('level 1 after resume', async () => {
        const r = await alerts(b, id);
        return r.some((x) => x.level === 1) && r;
      });
      expect(rows.filter((r) => r.level === 1)).toHaveLength(1);
      await api(b, w.tokens.rad1, 'POST', `/api/requests/${id}/acknowledge`);
    } finally {
      await queue.close();
      await redis.quit();
    }
    a = await buildTestApp({ name: 'reading-escalation-a3', databaseUrl: url, env });
  });
});
