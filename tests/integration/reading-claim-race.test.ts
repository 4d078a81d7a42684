/**
 * Two gateway processes' worth of apps on ONE PostgreSQL database, radiologists racing to claim
 * the same requests: every request gets exactly one winner, everyone else a 409 naming the
 * holder, and the database agrees with the answers.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createDatabase } from '../../scripts/services/postgres.js';
import { buildTestApp, stack, type TestApp } from '../helpers/app.js';
import { api, insertStudy, PASSWORD, type ReadingWorld, setupWorld } from './reading-helpers.js';

let a: TestApp;
let b: TestApp;
let w: ReadingWorld;

beforeAll(async () => {
  const url = await createDatabase(stack().postgresUrl);
  a = await buildTestApp({ name: 'reading-race-a', databaseUrl: url });
  b = await buildTestApp({ name: 'reading-race-b', databaseUrl: url });
  w = await setupWorld(a, 'race');
});
afterAll(async () => {
  await Promise.allSettled([a?.close(), b?.close()]);
});

it('exactly one of many concurrent claims across two gateways wins, for each of 10 requests', async () => {
  // Six radiologists of the central hospital, alternately logged in on either gateway.
  const admin = await a.adminToken();
  const racers: { app: TestApp; token: string; id: string }[] = [];
  for (let i = 0; i < 6; i++) {
    const username = `racer${i}.race`;
    const res = await a.app.inject({
      method: 'POST',
      url: '/api/users',
      headers: { authorization: `Bearer ${admin}` },
      payload: {
        username,
        displayName: `BS. Đua ${i}`,
        role: 'radiologist',
        facilityId: w.central,
        password: PASSWORD,
      },
    });
    expect(res.statusCode, res.body).toBe(201);
    const app = i % 2 === 0 ? a : b;
    racers.push({ app, token: await app.login(username, PASSWORD), id: res.json().id });
  }
  for (let round = 0; round < 10; round++) {
    const uid = await insertStudy(a, w.district);
    const created = await api(b, w.tokens.doctor, 'POST', '/api/requests', {
      studyUid: uid,
      targetFacilityId: w.central,
      priority: 'stat',
      clinicalInfo: 'Chấn thương sọ não',
      question: 'Máu tụ?',
    });
    expect(created.statusCode, created.body).toBe(201);
    const id = created.json().id;
    const answers = await Promise.all(
      racers.map((r) => api(r.app, r.token, 'POST', `/api/requests/${id}/claim`)),
    );
    const winners = answers
      .map((res, i) => ({ res, racer: racers[i]! }))
      .filter((x) => x.res.statusCode === 200);
    expect(winners, `round ${round}`).toHaveLength(1);
    expect(answers.filter((r) => r.statusCode === 409)).toHaveLength(racers.length - 1);
    const [row] = await a.db.query<{ claimed_by: string; status: string }>(
      'SELECT claimed_by, status FROM read_requests WHERE id = $1',
      [id],
    );
    expect(row).toEqual({ claimed_by: winners[0]!.racer.id, status: 'claimed' });
    // Both gateways show the same lock.
    const seenOnB = (await api(b, w.tokens.rad1, 'GET', `/api/requests/${id}`)).json();
    expect(seenOnB.claimedBy.id).toBe(winners[0]!.racer.id);
  }
});

it('both gateways share one demo CA: a report signed through one verifies through the other', async () => {
  const uid = await insertStudy(a, w.district);
  const req = (
    await api(a, w.tokens.doctor, 'POST', '/api/requests', {
      studyUid: uid,
      targetFacilityId: w.central,
      priority: 'urgent',
      clinicalInfo: 'Ho ra máu',
      question: 'U phổi?',
    })
  ).json();
  const radOnB = await b.login('rad1.race', PASSWORD);
  expect((await api(b, radOnB, 'POST', '/api/signing/enrol', { pin: '135790' })).statusCode).toBe(201);
  expect((await api(b, radOnB, 'POST', `/api/requests/${req.id}/claim`)).statusCode).toBe(200);
  const d = (
    await api(b, radOnB, 'PUT', `/api/requests/${req.id}/report`, {
      templateId: 'ct-chest',
      language: 'en',
      fields: { nodules: 'yes', impression: 'Spiculated nodule, right upper lobe.' },
      freeText: '',
    })
  ).json();
  expect((await api(b, radOnB, 'POST', `/api/reports/${d.id}/sign`, { pin: '135790' })).statusCode).toBe(200);
  const v = await api(a, w.tokens.doctor, 'GET', `/api/reports/${d.id}/verify`);
  expect(v.json().status).toBe('valid');
  const cas = await a.db.query('SELECT id FROM signing_cas');
  expect(cas).toHaveLength(1);
});
