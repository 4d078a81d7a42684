/**
 * Share links on PostgreSQL with two gateways, as a scaled-out site runs them: the wrong-PIN
 * limit is one count in the database whichever gateway a guess reaches (concurrent guesses
 * spread over both cannot check more secrets than the limit), a link opened on one gateway is
 * read on the other, and revoking on one refuses the next request on the other.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDatabase } from '../../scripts/services/postgres.js';
import { bearer, buildTestApp, stack, type TestApp } from '../helpers/app.js';
import { api, insertStudy, PIN, type ReadingWorld, setupWorld } from './reading-helpers.js';

const MAX_ATTEMPTS = 4;
let a: TestApp;
let b: TestApp;
let w: ReadingWorld;
let studyUid: string;

beforeAll(async () => {
  const url = await createDatabase(stack().postgresUrl);
  const env = {
    RADLINK_SHARE_MAX_ATTEMPTS: String(MAX_ATTEMPTS),
    RADLINK_LOGIN_RATE_LIMIT: '1000',
    RADLINK_QUEUE_PREFIX: `sharepg${process.pid}`,
  };
  a = await buildTestApp({ name: 'share-pg-a', databaseUrl: url, env });
  b = await buildTestApp({ name: 'share-pg-b', databaseUrl: url, env });
  w = await setupWorld(a, 'shpg');
  studyUid = await insertStudy(a, w.district);
  const req = await api(a, w.tokens.doctor, 'POST', '/api/requests', {
    studyUid,
    targetFacilityId: w.central,
    priority: 'routine',
    clinicalInfo: 'Ho kéo dài',
    question: 'Tổn thương phổi?',
  });
  expect(req.statusCode, req.body).toBe(201);
  const requestId = req.json().id;
  expect((await api(a, w.tokens.rad1, 'POST', `/api/requests/${requestId}/claim`)).statusCode).toBe(200);
  const draft = await api(a, w.tokens.rad1, 'PUT', `/api/requests/${requestId}/report`, {
    templateId: 'ct-head',
    language: 'vi',
    fields: { haemorrhage: 'no', impression: 'Bình thường.' },
    freeText: '',
  });
  expect(draft.statusCode, draft.body).toBe(200);
  expect((await api(a, w.tokens.rad1, 'POST', '/api/signing/enrol', { pin: PIN })).statusCode).toBe(201);
  const signed = await api(a, w.tokens.rad1, 'POST', `/api/reports/${draft.json().id}/sign`, { pin: PIN });
  expect(signed.statusCode, signed.body).toBe(200);
}, 180_000);
afterAll(async () => {
  await a?.close();
  await b?.close();
});

const open = (t: TestApp, payload: object) =>
  t.app.inject({ method: 'POST', url: '/api/share/open', payload });
const code = (res: { json(): unknown }) => (res.json() as { code: string }).code;

describe('share links across two gateways on PostgreSQL', () => {
  it('concurrent wrong guesses spread over both gateways check at most the limit, then the link is locked', async () => {
    const c = (await api(a, w.tokens.doctor, 'POST', `/api/studies/${studyUid}/share-links`, {})).json();
    const guesses = Array.from({ length: 12 }, (_, i) => String(200000 + i)).filter((g) => g !== c.pin);
    const answers = await Promise.all(guesses.map((pin, i) => open(i % 2 ? a : b, { token: c.token, pin })));
    const wrong = answers.filter((r) => code(r) === 'RADLINK_SHARE_SECRET_WRONG').length;
    const locked = answers.filter((r) => code(r) === 'RADLINK_SHARE_LOCKED').length;
    expect(wrong + locked).toBe(guesses.length);
    expect(wrong).toBeLessThanOrEqual(MAX_ATTEMPTS - 1);
    for (const t of [a, b])
      expect(code(await open(t, { token: c.token, pin: c.pin }))).toBe('RADLINK_SHARE_LOCKED');
    const [row] = await a.db.query<{ failed_attempts: number; locked: boolean }>(
      'SELECT failed_attempts, locked_at IS NOT NULL AS locked FROM share_links WHERE id = $1',
      [c.link.id],
    );
    expect(row).toEqual({ failed_attempts: MAX_ATTEMPTS, locked: true });
  });

  it('a session opened on one gateway reads on the other; revoking on one refuses the next request on the other', async () => {
    const c = (await api(b, w.tokens.doctor, 'POST', `/api/studies/${studyUid}/share-links`, {})).json();
    const share = (await open(a, { token: c.token, pin: c.pin })).json().token as string;
    const me = await b.app.inject({ method: 'GET', url: '/api/share/me', headers: bearer(share) });
    expect(me.statusCode, me.body).toBe(200);
    expect(me.json().reports[0].verification.status).toBe('valid');
    const log = await b.app.inject({ method: 'GET', url: '/api/share/access-log', headers: bearer(share) });
    expect(log.statusCode, log.body).toBe(200);
    expect(log.json().entries.some((e: { action: string }) => e.action === 'reading.report.sign')).toBe(true);
    const rev = await api(
      a,
      w.tokens.doctor,
      'POST',
      `/api/studies/${studyUid}/share-links/${c.link.id}/revoke`,
    );
    expect(rev.statusCode).toBe(200);
    const after = await b.app.inject({ method: 'GET', url: '/api/share/me', headers: bearer(share) });
    expect(after.statusCode).toBe(410);
    expect(code(after)).toBe('RADLINK_SHARE_REVOKED');
  });
});
