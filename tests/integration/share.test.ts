/**
 * Patient share links through the API on the real stack (Orthanc, Redis, S3, PGlite), with two
 * facilities and a third that sees nothing: a district doctor sends a CT and asks the central
 * hospital to read it; the central radiologist signs; staff create share links (PIN and birth
 * year); the patient opens them (wrong, then right secret), reads the study's frames, QIDO,
 * metadata, thumbnails and signed report through the share session and nothing else; revoking,
 * expiry, closing and lockout refuse the next request; every use is in the audit trail and in
 * the patient's own access log, where staff appear by role and facility only.
 */
import { createHash } from 'node:crypto';
import { PDFDocument } from 'pdf-lib';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dicomParser } from '../../server/src/dicomweb/dicom-parser.js';
import { parseMultipartRelated } from '../../server/src/dicomweb/multipart.js';
import { bearer, buildTestApp, type TestApp } from '../helpers/app.js';
import { type MadeInstance, makeInstance } from '../helpers/dicom.js';
import { stow } from '../helpers/dicomweb.js';
import { api, PIN, type ReadingWorld, setupWorld } from './reading-helpers.js';

const MAX_ATTEMPTS = 3;
const PUBLIC_URL = 'https://radlink.benhvien.test';

let t: TestApp;
let w: ReadingWorld;
let ctA: MadeInstance; // the shared study: series A (2 frames) ...
let ctB: MadeInstance; // ... and series B
let other: MadeInstance; // another study of the same facility: never reachable by the link
let studyUid: string;
let requestId: string;
let reportId: string;

type Inject = Awaited<ReturnType<TestApp['app']['inject']>>;
type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

const shareGet = (url: string, share: string, headers: Record<string, string> = {}) =>
  t.app.inject({ method: 'GET', url, headers: { ...bearer(share), ...headers } });
const open = (payload: object) => t.app.inject({ method: 'POST', url: '/api/share/open', payload });
const createLink = (token: string, payload: object = {}, uid = studyUid) =>
  api(t, token, 'POST', `/api/studies/${uid}/share-links`, payload);
const I = (m: MadeInstance) =>
  `/dicom-web/studies/${m.studyUid}/series/${m.seriesUid}/instances/${m.sopInstanceUid}`;
const code = (res: Inject) => (res.json() as { code: string }).code;

async function eventually<T>(fn: () => Promise<T>, ms = 20_000): Promise<Exclude<NonNullable<T>, false>> {
  const until = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v as Exclude<NonNullable<T>, false>;
    if (Date.now() > until) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 100));
  }
}

function storedFrames(m: MadeInstance, n: number): Buffer[] {
  const ds = dicomParser.parseDicom(m.bytes);
  const el = ds.elements.x7fe00010!;
  const pixels = Buffer.from(m.bytes.buffer, m.bytes.byteOffset + el.dataOffset, el.length);
  const size = m.rows * m.columns * 2;
  return Array.from({ length: n }, (_, i) => pixels.subarray(i * size, (i + 1) * size));
}

beforeAll(async () => {
  t = await buildTestApp({
    name: 'share',
    env: {
      RADLINK_PUBLIC_URL: PUBLIC_URL,
      RADLINK_SHARE_MAX_ATTEMPTS: String(MAX_ATTEMPTS),
      RADLINK_LOGIN_RATE_LIMIT: '1000',
      // A private queue namespace: this app's report deliveries are its own.
      RADLINK_QUEUE_PREFIX: `share${process.pid}`,
    },
  });
  w = await setupWorld(t, 'sh');

  // The district sends a two-series CT and, separately, another study of the same facility.
  ctA = makeInstance({ frames: 2, rows: 16, columns: 16, patientName: 'Lê^Thị Chia Sẻ', seed: 3 });
  ctB = makeInstance({ studyUid: ctA.studyUid, patientName: 'Lê^Thị Chia Sẻ', seed: 5 });
  other = makeInstance({ patientName: 'Lê^Thị Chia Sẻ', seed: 7 });
  studyUid = ctA.studyUid;
  for (const m of [ctA, ctB, other]) {
    const res = await stow(t, w.tokens.doctor, [m.bytes]);
    expect(res.statusCode, res.body).toBe(200);
  }
  const req = await api(t, w.tokens.doctor, 'POST', '/api/requests', {
    studyUid,
    targetFacilityId: w.central,
    priority: 'urgent',
    clinicalInfo: 'Đau bụng hạ sườn phải',
    question: 'Tổn thương gan?',
  });
  expect(req.statusCode, req.body).toBe(201);
  requestId = req.json().id;
}, 180_000);
afterAll(async () => t?.close());

async function signReport() {
  expect((await api(t, w.tokens.rad1, 'POST', `/api/requests/${requestId}/claim`)).statusCode).toBe(200);
  const draft = await api(t, w.tokens.rad1, 'PUT', `/api/requests/${requestId}/report`, {
    templateId: 'ct-head',
    language: 'vi',
    fields: { haemorrhage: 'no', impression: 'Không thấy tổn thương khu trú.' },
    freeText: 'Tái khám sau 6 tháng.',
  });
  expect(draft.statusCode, draft.body).toBe(200);
  reportId = draft.json().id;
  expect((await api(t, w.tokens.rad1, 'POST', '/api/signing/enrol', { pin: PIN })).statusCode).toBe(201);
  const signed = await api(t, w.tokens.rad1, 'POST', `/api/reports/${reportId}/sign`, { pin: PIN });
  expect(signed.statusCode, signed.body).toBe(200);
}

describe('staff create share links', () => {
  it('only for a study with a signed report', async () => {
    const res = await createLink(w.tokens.doctor);
    expect(res.statusCode).toBe(409);
    expect(res.json().message).toMatch(/no signed report/);
    await signReport();
  });

  it('only by the owning facility or the signing radiologist; the third facility gets 404', async () => {
    expect((await createLink(w.tokens.otherRad)).statusCode).toBe(404);
    expect((await createLink(w.tokens.otherDoctor)).statusCode).toBe(404);
    // rad2 reads for the central hospital (it sees the study through the request) but did not sign.
    const rad2 = await createLink(w.tokens.rad2);
    expect(rad2.statusCode).toBe(403);
    expect(code(rad2)).toBe('RADLINK_FORBIDDEN');
    const byReader = await createLink(w.tokens.rad1);
    expect(byReader.statusCode, byReader.body).toBe(201);
    // The configured default lifetime (RADLINK_SHARE_TTL_DAYS, 30 days).
    const { createdAt, expiresAt } = byReader.json().link;
    expect((Date.parse(expiresAt) - Date.parse(createdAt)) / 86_400_000).toBeCloseTo(30, 3);
    // A system admin may list and revoke but not create (the policy table refuses the role).
    expect((await createLink(await t.adminToken())).statusCode).toBe(403);
    // Bad input: unknown secret kind, out-of-range lifetime, extra fields.
    for (const bad of [
      { secret: 'password' },
      { expiresInDays: 0 },
      { expiresInDays: 366 },
      { pin: '123456' },
    ])
      expect((await createLink(w.tokens.doctor, bad)).statusCode, JSON.stringify(bad)).toBe(400);
    expect((await createLink(w.tokens.doctor, {}, '1.2.3.4.5.6')).statusCode).toBe(404);
  });

  it('answers the URL (token in the hash), the PIN once, QR codes and a printable slip; stores only hashes', async () => {
    const res = await createLink(w.tokens.doctor, { expiresInDays: 10 });
    expect(res.statusCode, res.body).toBe(201);
    const c = res.json();
    expect(c.url).toBe(`${PUBLIC_URL}/#/s/${c.token}`);
    expect(c.token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(c.pin).toMatch(/^\d{6}$/);
    expect(c.link).toMatchObject({
      studyUid,
      secretKind: 'pin',
      status: 'active',
      failedAttempts: 0,
      openCount: 0,
    });
    expect(c.link.createdBy).toMatchObject({ id: w.ids.doctor, role: 'referring_doctor' });
    const days = (Date.parse(c.link.expiresAt) - Date.parse(c.link.createdAt)) / 86_400_000;
    expect(days).toBeCloseTo(10, 3);
    const png = await sharp(Buffer.from(c.qr.png, 'base64')).metadata();
    expect(png).toMatchObject({ format: 'png', width: 512, height: 512 });
    expect(c.qr.svg).toMatch(/^<svg/);
    const pdf = await PDFDocument.load(Buffer.from(c.slip.pdf, 'base64'));
    expect(pdf.getPageCount()).toBe(1);

    const rows = await t.db.query<{ token_hash: string; secret_hash: string }>(
      'SELECT token_hash, secret_hash FROM share_links WHERE id = $1',
      [c.link.id],
    );
    expect(rows[0]!.token_hash).toBe(createHash('sha256').update(c.token).digest('hex'));
    expect(rows[0]!.secret_hash).toMatch(/^scrypt\$/);
    expect(JSON.stringify(await t.db.query('SELECT * FROM share_links'))).not.toContain(c.token);
    const links = await api(t, w.tokens.doctor, 'GET', `/api/studies/${studyUid}/share-links`);
    expect(links.statusCode).toBe(200);
    expect(JSON.stringify(links.json())).not.toContain(c.token);
    expect(links.json().map((l: { id: string }) => l.id)).toContain(c.link.id);
    expect((await api(t, w.tokens.otherRad, 'GET', `/api/studies/${studyUid}/share-links`)).statusCode).toBe(
      404,
    );
  });
});

describe('the patient opens a PIN link', () => {
  let token: string;
  let pin: string;
  let linkId: string;
  let share: string;
  let shareCookie: string;

  beforeAll(async () => {
    const c = (await createLink(w.tokens.doctor)).json();
    token = c.token;
    pin = c.pin;
    linkId = c.link.id;
  });

  it('asks for the PIN, counts a wrong one, opens with the right one', async () => {
    const ask = await open({ token });
    expect(ask.statusCode).toBe(401);
    expect(code(ask)).toBe('RADLINK_SHARE_PIN_REQUIRED');
    const wrongPin = pin === '000000' ? '000001' : '000000';
    const wrong = await open({ token, pin: wrongPin });
    expect(wrong.statusCode).toBe(401);
    expect(code(wrong)).toBe('RADLINK_SHARE_SECRET_WRONG');
    expect(wrong.json().message).toContain(`${MAX_ATTEMPTS - 1} attempts left`);
    expect(wrong.body).not.toContain(studyUid);
    const unknown = await open({ token: 'A'.repeat(43), pin });
    expect(unknown.statusCode).toBe(401);
    expect(code(unknown)).toBe('RADLINK_SHARE_INVALID');
    expect((await open({ token: 'short', pin })).statusCode).toBe(400);

    const ok = await open({ token, pin });
    expect(ok.statusCode, ok.body).toBe(200);
    share = ok.json().token;
    expect(share).toMatch(/^rls_/);
    expect(ok.json().expiresIn).toBeGreaterThan(7000);
    const setCookie = String(ok.headers['set-cookie']);
    expect(setCookie).toMatch(/^radlink_share=/);
    expect(setCookie).toMatch(/HttpOnly/i);
    expect(setCookie).toMatch(/SameSite=Strict/i);
    shareCookie = setCookie.split(';')[0]!;
    const [row] = await t.db.query<{ failed_attempts: number; open_count: number }>(
      'SELECT failed_attempts, open_count FROM share_links WHERE id = $1',
      [linkId],
    );
    expect(row).toEqual({ failed_attempts: 0, open_count: 1 });
  });

  it('/api/share/me gives the page what it needs: facility, study, series, the signed report verified', async () => {
    for (const headers of [bearer(share), { cookie: shareCookie }]) {
      const res = await t.app.inject({ method: 'GET', url: '/api/share/me', headers });
      expect(res.statusCode, res.body).toBe(200);
      const me = res.json();
      expect(me.studyUid).toBe(studyUid);
      expect(me.facility).toEqual({ id: w.district, name: 'Trung tâm Y tế Huyện Thử' });
      expect(me.study).toMatchObject({
        date: '20250101',
        description: 'CT ổ bụng',
        // With DOC once delivery has added the report's Encapsulated PDF to the study.
        modalities: expect.arrayContaining(['CT']),
      });
      const seriesUids = me.series.map((s: { seriesUid: string }) => s.seriesUid);
      expect(seriesUids).toEqual(expect.arrayContaining([ctA.seriesUid, ctB.seriesUid]));
      expect(me.reports).toHaveLength(1);
      const r = me.reports[0];
      expect(r).toMatchObject({
        id: reportId,
        parentReportId: null,
        language: 'vi',
        freeText: 'Tái khám sau 6 tháng.',
        signer: { name: 'BS. Phạm Thị Đọc' },
        verification: { status: 'valid', demo: true },
      });
      expect(r.sections).toEqual(
        expect.arrayContaining([{ label: 'Kết luận', text: 'Không thấy tổn thương khu trú.' }]),
      );
      expect(Date.parse(me.link.expiresAt)).toBeGreaterThan(Date.parse(me.session.expiresAt));
      // Nothing about the patient beyond the study itself: no name, ID or birth date.
      expect(res.body).not.toMatch(/Chia Sẻ|19800101|RL-/);
    }
  });

  it('a signed addendum appears after the report it amends, verified too', async () => {
    const add = await api(t, w.tokens.rad1, 'POST', `/api/reports/${reportId}/addenda`, {
      language: 'vi',
      freeText: 'Bổ sung: nang gan nhỏ hạ phân thùy VI.',
      pin: PIN,
    });
    expect(add.statusCode, add.body).toBe(201);
    const me = (await shareGet('/api/share/me', share)).json();
    expect(me.reports.map((r: { id: string }) => r.id)).toEqual([reportId, add.json().id]);
    expect(me.reports[1]).toMatchObject({
      parentReportId: reportId,
      title: 'Phụ lục bổ sung kết quả',
      freeText: 'Bổ sung: nang gan nhỏ hạ phân thùy VI.',
      verification: { status: 'valid' },
    });
  });

  it('downloads the signed report as the PDF recorded at signing, once delivery has made it', async () => {
    const me = await eventually(async () => {
      const res = await shareGet('/api/share/me', share);
      return res.json().reports[0]?.pdfAvailable === true && res.json();
    }, 60_000);
    const pdf = await shareGet(`/api/share/reports/${me.reports[0].id}/pdf`, share);
    expect(pdf.statusCode, pdf.body).toBe(200);
    expect(pdf.headers['content-type']).toBe('application/pdf');
    const [d] = await t.db.query<{ pdf_sha256: string }>(
      'SELECT pdf_sha256 FROM report_deliveries WHERE report_id = $1',
      [reportId],
    );
    expect(createHash('sha256').update(pdf.rawPayload).digest('hex')).toBe(d!.pdf_sha256);
    // Another study's or an unknown report: 404.
    expect(
      (await shareGet('/api/share/reports/00000000-0000-4000-8000-000000000000/pdf', share)).statusCode,
    ).toBe(404);
  });

  it('reads the study through DICOMweb: QIDO limited to it, metadata, frames, rendered, thumbnails, WADO-URI', async () => {
    const studies = await shareGet('/dicom-web/studies', share);
    expect(studies.statusCode, studies.body).toBe(200);
    const uids = studies.json().map((s: Record<string, { Value: string[] }>) => s['0020000D']!.Value[0]);
    expect(uids).toEqual([studyUid]);
    const series = await shareGet(`/dicom-web/studies/${studyUid}/series`, share);
    expect(series.json().map((s: Record<string, { Value: string[] }>) => s['0020000E']!.Value[0])).toEqual(
      expect.arrayContaining([ctA.seriesUid, ctB.seriesUid]),
    );
    expect((await shareGet(`/dicom-web/studies/${studyUid}/instances`, share)).statusCode).toBe(200);
    expect((await shareGet(`${I(ctA)}/metadata`, share)).statusCode).toBe(200);

    const accept = { accept: 'multipart/related; type="application/octet-stream"; transfer-syntax=*' };
    const expected = storedFrames(ctA, 2);
    for (let round = 0; round < 3; round++) {
      const frames = await shareGet(`${I(ctA)}/frames/2,1`, share, accept);
      expect(frames.statusCode, frames.body).toBe(200);
      const [f2, f1] = parseMultipartRelated(frames.rawPayload, String(frames.headers['content-type']));
      expect(f2!.body.equals(expected[1]!)).toBe(true);
      expect(f1!.body.equals(expected[0]!)).toBe(true);
    }
    // The cookie alone works too (the browser's <img> and the viewer's fetches).
    const viaCookie = await t.app.inject({
      method: 'GET',
      url: `${I(ctB)}/frames/1`,
      headers: { cookie: shareCookie, ...accept },
    });
    expect(viaCookie.statusCode).toBe(200);

    const instance = await shareGet(I(ctA), share, {
      accept: 'multipart/related; type="application/dicom"; transfer-syntax=*',
    });
    expect(instance.statusCode).toBe(200);
    expect(
      parseMultipartRelated(instance.rawPayload, String(instance.headers['content-type']))[0]!.body.equals(
        ctA.bytes,
      ),
    ).toBe(true);
    // Study- and series-level retrieval and metadata: every instance of the study, ours byte for byte.
    const whole = await shareGet(`/dicom-web/studies/${studyUid}`, share, {
      accept: 'multipart/related; type="application/dicom"; transfer-syntax=*',
    });
    expect(whole.statusCode).toBe(200);
    const bodies = parseMultipartRelated(whole.rawPayload, String(whole.headers['content-type'])).map(
      (p) => p.body,
    );
    expect(bodies.some((b) => b.equals(ctA.bytes))).toBe(true);
    expect(bodies.some((b) => b.equals(ctB.bytes))).toBe(true);
    expect((await shareGet(`/dicom-web/studies/${studyUid}/series/${ctB.seriesUid}`, share)).statusCode).toBe(
      200,
    );
    expect((await shareGet(`/dicom-web/studies/${studyUid}/metadata`, share)).statusCode).toBe(200);
    expect(
      (await shareGet(`/dicom-web/studies/${studyUid}/series/${ctB.seriesUid}/metadata`, share)).statusCode,
    ).toBe(200);
    const rendered = await shareGet(`${I(ctA)}/rendered`, share, { accept: 'image/png' });
    expect(rendered.statusCode).toBe(200);
    expect((await sharp(rendered.rawPayload).metadata()).format).toBe('png');
    for (const url of [`/dicom-web/studies/${studyUid}/thumbnail`, `${I(ctB)}/thumbnail`]) {
      const thumb = await shareGet(url, share, { accept: 'image/jpeg' });
      expect(thumb.statusCode, url).toBe(200);
    }
    const wadoUri = await shareGet(
      `/wado?requestType=WADO&studyUID=${studyUid}&seriesUID=${ctA.seriesUid}&objectUID=${ctA.sopInstanceUid}&contentType=application/dicom`,
      share,
    );
    expect(wadoUri.statusCode).toBe(200);
    expect(wadoUri.rawPayload.equals(ctA.bytes)).toBe(true);
  });

  it('takes the study home as DICOM media (zip with a DICOMDIR), for the link study only', async () => {
    const zip = await shareGet(`/api/studies/${studyUid}/media.zip`, share);
    expect(zip.statusCode, zip.body.slice(0, 200)).toBe(200);
    expect(zip.headers['content-type']).toBe('application/zip');
    expect(zip.rawPayload.subarray(0, 2).toString()).toBe('PK');
    expect(zip.rawPayload.includes(Buffer.from('DICOMDIR'))).toBe(true);
    expect((await shareGet(`/api/studies/${other.studyUid}/media.zip`, share)).statusCode).toBe(404);
  });

  it('never reaches another study (404), not even of the same patient and facility', async () => {
    const O = I(other);
    for (const url of [
      `/dicom-web/studies/${other.studyUid}`,
      `/dicom-web/studies/${other.studyUid}/series`,
      `/dicom-web/studies/${other.studyUid}/metadata`,
      `/dicom-web/studies/${other.studyUid}/thumbnail`,
      `${O}/metadata`,
      `${O}/frames/1`,
      `${O}/rendered`,
      `/wado?requestType=WADO&studyUID=${other.studyUid}&seriesUID=${other.seriesUid}&objectUID=${other.sopInstanceUid}&contentType=application/dicom`,
    ]) {
      const res = await shareGet(url, share);
      expect(res.statusCode, url).toBe(404);
    }
    const q = await shareGet(`/dicom-web/studies?StudyInstanceUID=${other.studyUid}`, share);
    expect(q.json()).toEqual([]);
  });

  it('never stores, never reaches the workflow or any staff route: every route outside its rule is 404', async () => {
    const stowed = await stow(
      t,
      share,
      [makeInstance({ studyUid, patientName: 'Lê^Thị Chia Sẻ' }).bytes],
      studyUid,
    );
    expect(stowed.statusCode).toBe(404);
    expect(code(stowed)).toBe('RADLINK_ROUTE_NOT_FOUND');
    const concrete = (url: string) =>
      url
        .replace(/:studyUid/g, studyUid)
        .replace(/:requestId|:reportId|:userId|:sessionId|:linkId/g, '00000000-0000-4000-8000-000000000000')
        .replace(/:facilityId/g, w.district)
        .replace(/:[A-Za-z]+/g, '1.2.3')
        .replace(/\*$/, 'x');
    let refused = 0;
    for (const r of t.app.registeredRoutes) {
      if (r.rule.anonymous || r.method === 'HEAD') continue;
      if (Array.isArray(r.rule.roles) && r.rule.roles.includes('patient')) continue;
      const res = await t.app.inject({
        method: r.method as Method,
        url: concrete(r.url),
        headers: bearer(share),
      });
      expect(res.statusCode, `${r.method} ${r.url}`).toBe(404);
      expect(code(res), `${r.method} ${r.url}`).toBe('RADLINK_ROUTE_NOT_FOUND');
      refused++;
    }
    expect(refused).toBeGreaterThan(30);
    // The report through the staff API, the worklist, the audit trail: all unknown to a share holder.
    for (const url of [
      `/api/requests/${requestId}/report`,
      `/api/reports/${reportId}`,
      '/api/worklist',
      '/api/audit',
    ])
      expect((await shareGet(url, share)).statusCode, url).toBe(404);
  });

  it('a browser holding a staff session and a share session uses each where it belongs', async () => {
    const login = await t.app.inject({
      method: 'POST',
      url: '/api/auth/login',
      payload: { username: 'doctor.sh', password: 'correct horse battery' },
    });
    const staffCookie = String(login.headers['set-cookie']).split(';')[0]!;
    const cookie = `${staffCookie}; ${shareCookie}`;
    const me = await t.app.inject({ method: 'GET', url: '/api/share/me', headers: { cookie } });
    expect(me.statusCode).toBe(200);
    expect(me.json().studyUid).toBe(studyUid);
    const staff = await t.app.inject({ method: 'GET', url: '/api/auth/me', headers: { cookie } });
    expect(staff.json().username).toBe('doctor.sh');
    const list = await t.app.inject({ method: 'GET', url: '/dicom-web/studies', headers: { cookie } });
    expect(list.json().length).toBeGreaterThan(1); // the staff scope: both district studies
  });

  it('every use is audited under the link, image reads once per hour; wrong PINs too', async () => {
    const rows = await eventually(async () => {
      const r = await t.db.query<{
        action: string;
        role: string | null;
        outcome: string;
        user_id: string | null;
      }>(`SELECT action, role, outcome, user_id::text FROM audit_events WHERE study_uid = $1 ORDER BY id`, [
        studyUid,
      ]);
      return r.some((x) => x.action === 'dicomweb.wado-uri' && x.role === 'patient') && r;
    });
    const mine = rows.filter((r) => r.user_id === linkId);
    expect(mine.every((r) => r.role === 'patient')).toBe(true);
    const count = (action: string) =>
      mine.filter((r) => r.action === action && r.outcome === 'success').length;
    expect(count('share.open')).toBe(1);
    // Not deduplicated: bearer, cookie, the PDF test's polling, the browser holding both sessions.
    expect(count('share.view')).toBeGreaterThanOrEqual(4);
    expect(count('dicomweb.frames')).toBe(1); // four frame requests, one row per link x study x hour
    expect(count('dicomweb.qido')).toBeGreaterThanOrEqual(2);
    expect(count('dicomweb.thumbnail')).toBe(1);
    expect(count('dicomweb.rendered')).toBe(1);
    expect(count('dicomweb.retrieve')).toBe(3); // study and series (each audited), instance (hourly)
    // The wrong PIN and the PIN-less probe: recorded on the study, refused, by nobody known.
    const refusedOpens = rows.filter((r) => r.action === 'share.open' && r.outcome === 'denied');
    expect(refusedOpens.length).toBeGreaterThanOrEqual(2);
    expect(refusedOpens.every((r) => r.role === null)).toBe(true);
    // The refused STOW is recorded against the link too.
    expect(mine.some((r) => r.action === 'dicomweb.stow' && r.outcome === 'not-found')).toBe(true);
  });

  it('the access log lists who accessed the study and when: staff by role and facility, the patient as "you"', async () => {
    const res = await shareGet('/api/share/access-log', share);
    expect(res.statusCode, res.body).toBe(200);
    const log = res.json();
    expect(log.studyUid).toBe(studyUid);
    type Entry = {
      at: string;
      action: string;
      actor: { kind: string; role: string | null; facility: string | null };
      outcome: string;
    };
    const entries = log.entries as Entry[];
    const has = (p: (e: Entry) => boolean) => entries.some(p);
    expect(
      has(
        (e) =>
          e.action === 'dicomweb.stow' &&
          e.actor.kind === 'staff' &&
          e.actor.role === 'referring_doctor' &&
          e.actor.facility === 'Trung tâm Y tế Huyện Thử',
      ),
    ).toBe(true);
    expect(
      has(
        (e) =>
          e.action === 'reading.report.sign' &&
          e.actor.role === 'radiologist' &&
          e.actor.facility === 'Bệnh viện Trung ương Thử',
      ),
    ).toBe(true);
    expect(has((e) => e.action === 'share.link.create' && e.actor.kind === 'staff')).toBe(true);
    expect(has((e) => e.action === 'dicomweb.frames' && e.actor.kind === 'you')).toBe(true);
    expect(has((e) => e.action === 'share.open' && e.actor.kind === 'you' && e.outcome === 'success')).toBe(
      true,
    );
    expect(
      has((e) => e.action === 'share.open' && e.actor.kind === 'unknown' && e.outcome === 'denied'),
    ).toBe(true);
    expect(has((e) => e.action === 'share.access-log')).toBe(false);
    // Newest first; no personal names or user names of staff, no patient identifiers.
    const times = entries.map((e) => Date.parse(e.at));
    expect([...times].sort((a, b) => b - a)).toEqual(times);
    for (const name of ['Phạm Thị Đọc', 'Lê Văn Huyện', 'rad1.sh', 'doctor.sh', 'Chia Sẻ', 'RL-'])
      expect(res.body, name).not.toContain(name);

    // Paging: two at a time, no overlap, same order as the full list.
    const p1 = (await shareGet('/api/share/access-log?limit=2', share)).json();
    expect(p1.entries).toHaveLength(2);
    const p2 = (await shareGet(`/api/share/access-log?limit=2&before=${p1.nextBefore}`, share)).json();
    expect([...p1.entries, ...p2.entries]).toEqual(entries.slice(0, 4));
    expect((await shareGet('/api/share/access-log?limit=0', share)).statusCode).toBe(400);
    // Bad input is a 400 with a reason, never a 500.
    for (const url of [
      '/api/share/access-log?before=abc',
      '/api/share/access-log?x=1',
      '/api/share/reports/nope/pdf',
    ]) {
      const bad = await shareGet(url, share);
      expect(bad.statusCode, url).toBe(400);
      expect(code(bad)).toBe('RADLINK_VALIDATION');
    }
    for (const payload of [
      { token: 'A'.repeat(43), birthYear: 'nineteen' },
      { token: 'A'.repeat(43), pin: 'x'.repeat(40) },
    ])
      expect((await open(payload)).statusCode, JSON.stringify(payload)).toBe(400);
    const notJson = await t.app.inject({
      method: 'POST',
      url: '/api/share/open',
      headers: { 'content-type': 'application/json' },
      payload: '{"token":',
    });
    expect(notJson.statusCode).toBe(400);
  });

  it('closing the session refuses its next request; the link opens again', async () => {
    const closed = await t.app.inject({ method: 'POST', url: '/api/share/close', headers: bearer(share) });
    expect(closed.statusCode).toBe(200);
    const after = await shareGet('/api/share/me', share);
    expect(after.statusCode).toBe(401);
    expect(code(after)).toBe('RADLINK_SHARE_SESSION_ENDED');
    expect((await open({ token, pin })).statusCode).toBe(200);
  });

  it('revoking refuses the next request of an open session and every later open, with 410', async () => {
    const s = (await open({ token, pin })).json().token as string;
    expect((await shareGet('/api/share/me', s)).statusCode).toBe(200);
    // Not by the third facility, not under another study.
    expect(
      (await api(t, w.tokens.otherRad, 'POST', `/api/studies/${studyUid}/share-links/${linkId}/revoke`))
        .statusCode,
    ).toBe(404);
    expect(
      (await api(t, w.tokens.doctor, 'POST', `/api/studies/${other.studyUid}/share-links/${linkId}/revoke`))
        .statusCode,
    ).toBe(404);
    const rev = await api(t, w.tokens.rad1, 'POST', `/api/studies/${studyUid}/share-links/${linkId}/revoke`);
    expect(rev.statusCode, rev.body).toBe(200);
    expect(rev.json()).toMatchObject({ status: 'revoked', revokedBy: { id: w.ids.rad1 } });
    for (const url of ['/api/share/me', `${I(ctA)}/frames/1`, '/dicom-web/studies']) {
      const res = await shareGet(url, s);
      expect(res.statusCode, url).toBe(410);
      expect(code(res)).toBe('RADLINK_SHARE_REVOKED');
      expect(res.body).not.toContain(studyUid);
    }
    const reopen = await open({ token, pin });
    expect(reopen.statusCode).toBe(410);
    expect(code(reopen)).toBe('RADLINK_SHARE_REVOKED');
    // Idempotent.
    expect(
      (await api(t, w.tokens.doctor, 'POST', `/api/studies/${studyUid}/share-links/${linkId}/revoke`)).json()
        .status,
    ).toBe('revoked');
  });
});

describe('birth-year links', () => {
  it('open with the patient’s birth year from the index; a PIN or another year is a wrong attempt', async () => {
    const res = await createLink(w.tokens.doctor, { secret: 'birth-year' });
    expect(res.statusCode, res.body).toBe(201);
    const c = res.json();
    expect(c.pin).toBeNull();
    expect(c.link.secretKind).toBe('birth-year');
    const ask = await open({ token: c.token });
    expect(code(ask)).toBe('RADLINK_SHARE_BIRTH_YEAR_REQUIRED');
    expect(code(await open({ token: c.token, pin: '198001' }))).toBe('RADLINK_SHARE_SECRET_WRONG');
    const wrongYear = await open({ token: c.token, birthYear: 1979 });
    expect(code(wrongYear)).toBe('RADLINK_SHARE_SECRET_WRONG');
    expect(wrongYear.json().message).toContain('1 attempt left');
    const ok = await open({ token: c.token, birthYear: 1980 });
    expect(ok.statusCode, ok.body).toBe(200);
    expect((await shareGet('/api/share/me', ok.json().token)).json().studyUid).toBe(studyUid);
  });

  it('is refused when the index has no usable birth date', async () => {
    await t.db.query(`UPDATE studies SET patient_birth_date = NULL WHERE study_uid = $1`, [studyUid]);
    try {
      const res = await createLink(w.tokens.doctor, { secret: 'birth-year' });
      expect(res.statusCode).toBe(409);
      expect(res.json().message).toMatch(/birth date/);
    } finally {
      await t.db.query(`UPDATE studies SET patient_birth_date = '19800101' WHERE study_uid = $1`, [studyUid]);
    }
  });
});

describe('lockout and expiry', () => {
  it(`locks a link for good after ${MAX_ATTEMPTS} wrong secrets in a row, persisted in the database`, async () => {
    const c = (await createLink(w.tokens.doctor)).json();
    const wrong = c.pin === '999999' ? '999998' : '999999';
    for (let i = 1; i < MAX_ATTEMPTS; i++)
      expect(code(await open({ token: c.token, pin: wrong }))).toBe('RADLINK_SHARE_SECRET_WRONG');
    const last = await open({ token: c.token, pin: wrong });
    expect(last.statusCode).toBe(423);
    expect(code(last)).toBe('RADLINK_SHARE_LOCKED');
    const right = await open({ token: c.token, pin: c.pin });
    expect(right.statusCode).toBe(423);
    const [row] = await t.db.query<{ failed_attempts: number; locked: boolean }>(
      'SELECT failed_attempts, locked_at IS NOT NULL AS locked FROM share_links WHERE id = $1',
      [c.link.id],
    );
    expect(row).toEqual({ failed_attempts: MAX_ATTEMPTS, locked: true });
    const listed = (await api(t, w.tokens.doctor, 'GET', `/api/studies/${studyUid}/share-links`)).json();
    expect(listed.find((l: { id: string }) => l.id === c.link.id).status).toBe('locked');
  });

  it('a right PIN resets the count of wrong ones', async () => {
    const c = (await createLink(w.tokens.doctor)).json();
    const wrong = c.pin === '111111' ? '111112' : '111111';
    for (let round = 0; round < 3; round++) {
      for (let i = 1; i < MAX_ATTEMPTS; i++)
        expect((await open({ token: c.token, pin: wrong })).statusCode).toBe(401);
      expect((await open({ token: c.token, pin: c.pin })).statusCode).toBe(200);
    }
  });

  it('concurrent guesses cannot check more secrets than the limit', async () => {
    const c = (await createLink(w.tokens.doctor)).json();
    const guesses = Array.from({ length: 8 }, (_, i) => String(100000 + i)).filter((g) => g !== c.pin);
    const answers = await Promise.all(guesses.map((pin) => open({ token: c.token, pin })));
    const checked = answers.filter((a) => code(a) === 'RADLINK_SHARE_SECRET_WRONG').length;
    const locked = answers.filter((a) => code(a) === 'RADLINK_SHARE_LOCKED').length;
    expect(checked + locked).toBe(guesses.length);
    expect(checked).toBeLessThanOrEqual(MAX_ATTEMPTS - 1);
    expect((await open({ token: c.token, pin: c.pin })).statusCode).toBe(423);
  });

  it('open outcomes are counted for alerting on PIN guessing', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/metrics', headers: bearer(await t.adminToken()) });
    const value = (outcome: string) =>
      Number(
        new RegExp(`radlink_share_opens_total\\{outcome="${outcome}"\\} (\\d+)`).exec(res.body)?.[1] ?? 0,
      );
    expect(value('opened')).toBeGreaterThanOrEqual(5);
    expect(value('wrong-secret')).toBeGreaterThanOrEqual(8);
    expect(value('wrong-secret-locked') + value('locked')).toBeGreaterThanOrEqual(3);
    expect(value('revoked')).toBeGreaterThanOrEqual(1);
  });

  it('an expired link refuses opening and its open sessions with 410; an expired session is 401', async () => {
    const c = (await createLink(w.tokens.doctor, { expiresInDays: 1 })).json();
    const s = (await open({ token: c.token, pin: c.pin })).json().token as string;
    expect((await shareGet('/api/share/me', s)).statusCode).toBe(200);
    await t.db.query(
      `UPDATE share_links SET created_at = now() - interval '2 days', expires_at = now() - interval '1 second' WHERE id = $1`,
      [c.link.id],
    );
    for (const res of [await shareGet('/api/share/me', s), await open({ token: c.token, pin: c.pin })]) {
      expect(res.statusCode).toBe(410);
      expect(code(res)).toBe('RADLINK_SHARE_EXPIRED');
    }

    const d = (await createLink(w.tokens.doctor)).json();
    const s2 = (await open({ token: d.token, pin: d.pin })).json().token as string;
    const sessionId = s2.slice(4, 40);
    await t.db.query(`UPDATE share_sessions SET expires_at = now() - interval '1 second' WHERE id = $1`, [
      sessionId,
    ]);
    const ended = await shareGet(`${I(ctA)}/frames/1`, s2);
    expect(ended.statusCode).toBe(401);
    expect(code(ended)).toBe('RADLINK_SHARE_SESSION_ENDED');
    // A forged session secret is the same "ended", never a hint.
    const forged = `rls_${sessionId}.${'A'.repeat(43)}`;
    expect(code(await shareGet('/api/share/me', forged))).toBe('RADLINK_SHARE_SESSION_ENDED');
  });
});

describe('documentation', () => {
  it('every share route is in the OpenAPI document with its response schema', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/api/docs/json' });
    expect(res.statusCode).toBe(200);
    const paths = res.json().paths as Record<string, Record<string, { responses: Record<string, unknown> }>>;
    for (const [path, method, status] of [
      ['/api/studies/{studyUid}/share-links', 'post', '201'],
      ['/api/studies/{studyUid}/share-links', 'get', '200'],
      ['/api/studies/{studyUid}/share-links/{linkId}/revoke', 'post', '200'],
      ['/api/share/open', 'post', '200'],
      ['/api/share/close', 'post', '200'],
      ['/api/share/me', 'get', '200'],
      ['/api/share/access-log', 'get', '200'],
      ['/api/share/reports/{reportId}/pdf', 'get', '200'],
    ] as const)
      expect(paths[path]?.[method]?.responses?.[status], `${method} ${path}`).toBeDefined();
  });
});
