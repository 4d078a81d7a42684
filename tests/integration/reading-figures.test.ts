/**
 * Turnaround figures through the API (PGlite): requests are made through the API, then their
 * times are set to known values, so the medians, 90th percentiles (linear interpolation, as
 * PostgreSQL's percentile_cont), counts and breaches can be checked exactly; a third facility
 * sees no figures of requests it may not see; the period and facility filters hold; bad input
 * gets 400 with a reason.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../helpers/app.js';
import { api, insertStudy, type ReadingWorld, setupWorld } from './reading-helpers.js';

let t: TestApp;
let w: ReadingWorld;
const DAY = 86_400_000;
const T0 = new Date(Date.now() - 2 * DAY);

beforeAll(async () => {
  t = await buildTestApp({ name: 'reading-figures' });
  w = await setupWorld(t, 'fig');
});
afterAll(async () => t?.close());

async function make(priority: string) {
  const res = await api(t, w.tokens.doctor, 'POST', '/api/requests', {
    studyUid: await insertStudy(t, w.district),
    targetFacilityId: w.central,
    priority,
    clinicalInfo: 'Khó thở',
    question: 'Thuyên tắc phổi?',
  });
  expect(res.statusCode, res.body).toBe(201);
  return res.json().id as string;
}

const at = (minutes: number) => new Date(T0.getTime() + minutes * 60_000).toISOString();

/** Sets a request's history: created at T0, due after `dueMin`, claimed and signed at the given minutes. */
async function history(
  id: string,
  dueMin: number,
  claimMin: number | null,
  signMin: number | null,
  status: string,
) {
  await t.db.query(
    `UPDATE read_requests SET created_at = $2, due_at = $3, first_claimed_at = $4, claimed_at = $4,
            claimed_by = CASE WHEN $4::timestamptz IS NULL THEN NULL ELSE $6::uuid END,
            signed_at = $5, status = $7 WHERE id = $1`,
    [
      id,
      at(0),
      at(dueMin),
      claimMin === null ? null : at(claimMin),
      signMin === null ? null : at(signMin),
      w.ids.rad1,
      status,
    ],
  );
}

describe('GET /api/reading/figures', () => {
  beforeAll(async () => {
    // STAT (target 60 min): claimed after 5, 10, 20 min; signed after 30, 50, 90 (the last one late).
    for (const [claim, sign] of [
      [5, 30],
      [10, 50],
      [20, 90],
    ] as const)
      await history(await make('stat'), 60, claim, sign, 'signed');
    // One STAT still waiting, long past its target.
    await history(await make('stat'), 60, null, null, 'requested');
    // Urgent: one claimed (not signed), one cancelled.
    await history(await make('urgent'), 240, 15, null, 'claimed');
    const cancelled = await make('urgent');
    await api(t, w.tokens.doctor, 'POST', `/api/requests/${cancelled}/cancel`, { reason: 'Chuyển viện' });
    await t.db.query('UPDATE read_requests SET created_at = $2, due_at = $3 WHERE id = $1', [
      cancelled,
      at(0),
      at(240),
    ]);
  });

  it('gives count, median and p90 of each span, and the breaches, per facility and priority', async () => {
    const res = await api(
      t,
      w.tokens.centralAdmin,
      'GET',
      `/api/reading/figures?from=${new Date(T0.getTime() - DAY).toISOString()}`,
    );
    expect(res.statusCode, res.body).toBe(200);
    const body = res.json();
    expect(body.groupBy).toBe('target');
    expect(body.rows).toEqual([
      {
        facilityId: w.central,
        priority: 'stat',
        requests: 4,
        open: 1,
        signed: 3,
        cancelled: 0,
        breaches: 2,
        // 300, 600, 1200 s: p90 = 600 + 0.8 x 600
        requestToClaim: { count: 3, medianSeconds: 600, p90Seconds: 1080 },
        // 1500, 2400, 4200 s
        claimToSigned: { count: 3, medianSeconds: 2400, p90Seconds: 3840 },
        // 1800, 3000, 5400 s
        requestToSigned: { count: 3, medianSeconds: 3000, p90Seconds: 4920 },
      },
      {
        facilityId: w.central,
        priority: 'urgent',
        requests: 2,
        open: 1,
        signed: 0,
        cancelled: 1,
        // The claimed one is two days old and unsigned: past its 4-hour target. Cancelled ones never breach.
        breaches: 1,
        requestToClaim: { count: 1, medianSeconds: 900, p90Seconds: 900 },
        claimToSigned: { count: 0, medianSeconds: null, p90Seconds: null },
        requestToSigned: { count: 0, medianSeconds: null, p90Seconds: null },
      },
    ]);
  });

  it('the requester sees the same requests (grouped by requesting facility on demand); a third facility sees none', async () => {
    const doctor = (await api(t, w.tokens.doctor, 'GET', '/api/reading/figures?groupBy=requesting')).json();
    expect(
      doctor.rows.map((r: { facilityId: string; priority: string; requests: number }) => [
        r.facilityId,
        r.priority,
        r.requests,
      ]),
    ).toEqual([
      [w.district, 'stat', 4],
      [w.district, 'urgent', 2],
    ]);
    for (const token of [w.tokens.otherRad, w.tokens.otherDoctor]) {
      const res = await api(t, token, 'GET', '/api/reading/figures');
      expect(res.statusCode).toBe(200);
      expect(res.json().rows).toEqual([]);
    }
    const admin = (
      await api(t, await t.adminToken(), 'GET', `/api/reading/figures?facility=${w.other}`)
    ).json();
    expect(admin.rows).toEqual([]);
    const all = (
      await api(t, await t.adminToken(), 'GET', `/api/reading/figures?facility=${w.district}`)
    ).json();
    expect(all.rows).toHaveLength(2);
  });

  it('counts only requests created in the period', async () => {
    const before = (
      await api(
        t,
        w.tokens.rad1,
        'GET',
        `/api/reading/figures?from=${new Date(T0.getTime() - 3 * DAY).toISOString()}&to=${new Date(T0.getTime() - DAY).toISOString()}`,
      )
    ).json();
    expect(before.rows).toEqual([]);
    const fresh = await make('routine');
    const now = (
      await api(
        t,
        w.tokens.rad1,
        'GET',
        `/api/reading/figures?from=${new Date(Date.now() - 3_600_000).toISOString()}`,
      )
    ).json();
    expect(now.rows).toEqual([
      expect.objectContaining({ priority: 'routine', requests: 1, open: 1, breaches: 0 }),
    ]);
    await api(t, w.tokens.doctor, 'POST', `/api/requests/${fresh}/cancel`, { reason: 'x' });
  });

  it('refuses bad periods and parameters with 400 and a reason', async () => {
    for (const [q, reason] of [
      ['from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z', /before/],
      ['from=2024-01-01T00:00:00Z&to=2026-01-01T00:00:00Z', /366 days/],
      ['from=yesterday', /from/],
      ['facility=NOT_AN_ID', /facility/],
      ['groupBy=patient', /groupBy/],
      ['colour=red', /additional/],
    ] as const) {
      const res = await api(t, w.tokens.rad1, 'GET', `/api/reading/figures?${q}`);
      expect(res.statusCode, q).toBe(400);
      expect(res.json().message).toMatch(reason);
    }
  });
});
