/**
 * The remote-reading workflow through the API on the real app (PGlite): a district doctor asks
 * a central hospital to read a CT; a central radiologist claims it, drafts, signs with a PIN;
 * the signature verifies; an addendum is signed; a third facility sees nothing; bad input and
 * wrong PINs are refused with reasons; signed rows cannot be changed, and a row changed behind
 * the trigger's back verifies as tampered; revocation after signing verifies as revoked-since.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../helpers/app.js';
import { api, insertStudy, PIN, type ReadingWorld, setupWorld } from './reading-helpers.js';

let t: TestApp;
let w: ReadingWorld;

beforeAll(async () => {
  t = await buildTestApp({ name: 'reading-workflow' });
  w = await setupWorld(t, 'wf');
});
afterAll(async () => t?.close());

async function createRequest(studyUid: string, priority = 'stat', token = w.tokens.doctor) {
  return api(t, token, 'POST', '/api/requests', {
    studyUid,
    targetFacilityId: w.central,
    priority,
    clinicalInfo: 'Đau đầu dữ dội, yếu nửa người trái 2 giờ',
    question: 'Xuất huyết não?',
  });
}

const draft = {
  templateId: 'ct-head',
  language: 'vi',
  fields: { haemorrhage: 'yes', impression: 'Xuất huyết nhu mô thái dương phải.' },
  freeText: 'Đề nghị hội chẩn ngoại thần kinh.',
};

describe('the whole workflow', () => {
  let requestId: string;
  let reportId: string;
  let studyUid: string;

  it('a district doctor requests a read; the target gets a grant; an accession number is assigned', async () => {
    studyUid = await insertStudy(t, w.district);
    const res = await createRequest(studyUid);
    expect(res.statusCode, res.body).toBe(201);
    const r = res.json();
    requestId = r.id;
    expect(r).toMatchObject({
      status: 'requested',
      priority: 'stat',
      accessionAssigned: true,
      claimedBy: null,
    });
    expect(r.accessionNumber).toMatch(/^RL\d{10}$/);
    // STAT: due 60 minutes after creation (the default target).
    expect(new Date(r.dueAt).getTime() - new Date(r.createdAt).getTime()).toBe(60 * 60_000);
    const grants = await t.db.query<{ facility_id: string; include_priors: boolean; reason: string }>(
      'SELECT facility_id, include_priors, reason FROM study_grants WHERE source_id = $1 AND revoked_at IS NULL',
      [requestId],
    );
    expect(grants).toEqual([{ facility_id: w.central, include_priors: true, reason: 'read-request' }]);
    const dup = await createRequest(studyUid);
    expect(dup.statusCode).toBe(409);
  });

  it('the central worklist shows it with the patient; the district and the third facility cannot open it', async () => {
    const wl = await api(t, w.tokens.rad1, 'GET', '/api/worklist');
    expect(wl.statusCode, wl.body).toBe(200);
    const item = wl.json().find((i: { request: { id: string } }) => i.request.id === requestId);
    expect(item).toMatchObject({ patient: { name: 'Trần^Thị Thử' }, study: { modalities: ['CT'] } });
    expect((await api(t, w.tokens.otherRad, 'GET', '/api/worklist')).json()).toEqual([]);
    for (const token of [w.tokens.otherRad, w.tokens.otherDoctor]) {
      expect((await api(t, token, 'GET', `/api/requests/${requestId}`)).statusCode).toBe(404);
      expect(
        (await api(t, token, 'POST', `/api/requests/${requestId}/messages`, { body: 'x' })).statusCode,
      ).toBe(404);
      expect((await api(t, token, 'GET', `/api/requests/${requestId}/report`)).statusCode).toBe(404);
    }
    expect((await api(t, w.tokens.otherRad, 'POST', `/api/requests/${requestId}/claim`)).statusCode).toBe(
      404,
    );
    expect((await api(t, w.tokens.doctor, 'GET', '/api/worklist')).statusCode).toBe(403);
  });

  it('claim is a lock: the second radiologist is refused and sees who holds it; release and reassign move it', async () => {
    const c1 = await api(t, w.tokens.rad1, 'POST', `/api/requests/${requestId}/claim`);
    expect(c1.statusCode, c1.body).toBe(200);
    expect(c1.json().claimedBy.id).toBe(w.ids.rad1);
    const c2 = await api(t, w.tokens.rad2, 'POST', `/api/requests/${requestId}/claim`);
    expect(c2.statusCode).toBe(409);
    expect(c2.json().message).toContain('Phạm Thị Đọc');
    // The requester cannot cancel a claimed request.
    expect(
      (await api(t, w.tokens.doctor, 'POST', `/api/requests/${requestId}/cancel`, { reason: 'x' }))
        .statusCode,
    ).toBe(409);
    // rad2 cannot release rad1's claim; rad1 can; then rad1 hands it to rad2 and back via the admin.
    expect((await api(t, w.tokens.rad2, 'POST', `/api/requests/${requestId}/release`)).statusCode).toBe(403);
    const rel = await api(t, w.tokens.rad1, 'POST', `/api/requests/${requestId}/release`);
    expect(rel.json()).toMatchObject({ status: 'requested', claimedBy: null });
    expect((await api(t, w.tokens.rad1, 'POST', `/api/requests/${requestId}/claim`)).statusCode).toBe(200);
    const re = await api(t, w.tokens.rad1, 'POST', `/api/requests/${requestId}/reassign`, {
      userId: w.ids.rad2,
    });
    expect(re.json().claimedBy.id).toBe(w.ids.rad2);
    const back = await api(t, w.tokens.centralAdmin, 'POST', `/api/requests/${requestId}/reassign`, {
      userId: w.ids.rad1,
    });
    expect(back.statusCode, back.body).toBe(200);
    expect(back.json().claimedBy.id).toBe(w.ids.rad1);
    const bad = await api(t, w.tokens.rad1, 'POST', `/api/requests/${requestId}/reassign`, {
      userId: w.ids.otherRad,
    });
    expect(bad.statusCode).toBe(400);
  });

  it('requester and radiologist discuss the request', async () => {
    expect(
      (
        await api(t, w.tokens.rad1, 'POST', `/api/requests/${requestId}/messages`, {
          body: 'Có phim cũ không?',
        })
      ).statusCode,
    ).toBe(201);
    await api(t, w.tokens.doctor, 'POST', `/api/requests/${requestId}/messages`, { body: 'Không có.' });
    const msgs = (await api(t, w.tokens.doctor, 'GET', `/api/requests/${requestId}/messages`)).json();
    expect(msgs.map((m: { body: string }) => m.body)).toEqual(['Có phim cũ không?', 'Không có.']);
  });

  it('drafts save with versions; the requester does not see drafts; bad fields are refused with a reason', async () => {
    const bad = await api(t, w.tokens.rad1, 'PUT', `/api/requests/${requestId}/report`, {
      ...draft,
      fields: { haemorrhage: 'maybe' },
    });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().message).toContain('haemorrhage');
    const unknown = await api(t, w.tokens.rad1, 'PUT', `/api/requests/${requestId}/report`, {
      ...draft,
      fields: { colour: 'blue' },
    });
    expect(unknown.statusCode).toBe(400);
    expect((await api(t, w.tokens.rad2, 'PUT', `/api/requests/${requestId}/report`, draft)).statusCode).toBe(
      409,
    );

    const first = await api(t, w.tokens.rad1, 'PUT', `/api/requests/${requestId}/report`, {
      ...draft,
      fields: { haemorrhage: 'yes' },
    });
    expect(first.statusCode, first.body).toBe(200);
    expect(first.json()).toMatchObject({ status: 'draft', version: 1 });
    reportId = first.json().id;
    // Signing without the required impression is refused with the missing field named.
    const early = await api(t, w.tokens.rad1, 'POST', `/api/reports/${reportId}/sign`, { pin: PIN });
    expect(early.statusCode).toBe(400);
    // NFD input is stored NFC.
    const second = await api(t, w.tokens.rad1, 'PUT', `/api/requests/${requestId}/report`, {
      ...draft,
      freeText: draft.freeText.normalize('NFD'),
      version: 1,
    });
    expect(second.json()).toMatchObject({ version: 2, freeText: draft.freeText });
    const stale = await api(t, w.tokens.rad1, 'PUT', `/api/requests/${requestId}/report`, {
      ...draft,
      version: 1,
    });
    expect(stale.statusCode).toBe(409);
    expect((await api(t, w.tokens.doctor, 'GET', `/api/requests/${requestId}/report`)).statusCode).toBe(404);
    expect((await api(t, w.tokens.doctor, 'GET', `/api/requests/${requestId}`)).json().status).toBe(
      'reported',
    );
  });

  it('signing needs enrolment and the right PIN; a wrong PIN signs nothing', async () => {
    const notEnrolled = await api(t, w.tokens.rad1, 'POST', `/api/reports/${reportId}/sign`, { pin: PIN });
    expect(notEnrolled.statusCode).toBe(409);
    expect(notEnrolled.json().code).toBe('RADLINK_SIGNER_NOT_ENROLLED');
    expect((await api(t, w.tokens.rad1, 'POST', '/api/signing/enrol', { pin: '12' })).statusCode).toBe(400);
    const enrol = await api(t, w.tokens.rad1, 'POST', '/api/signing/enrol', { pin: PIN });
    expect(enrol.statusCode, enrol.body).toBe(201);
    expect(enrol.json().issuer).toContain('RadLink DEMO CA — not a legal signature');
    expect(enrol.json().subject).toContain('Phạm Thị Đọc');

    const wrong = await api(t, w.tokens.rad1, 'POST', `/api/reports/${reportId}/sign`, { pin: '999999' });
    expect(wrong.statusCode).toBe(403);
    expect(wrong.json().code).toBe('RADLINK_PIN_INVALID');
    const after = (await api(t, w.tokens.rad1, 'GET', `/api/reports/${reportId}`)).json();
    expect(after).toMatchObject({ status: 'draft', signature: null, contentHash: null });
    expect(await t.db.query('SELECT 1 FROM report_signatures')).toEqual([]);
  });

  it('signs with the PIN; the requester sees the signed report; it verifies valid', async () => {
    const res = await api(t, w.tokens.rad1, 'POST', `/api/reports/${reportId}/sign`, { pin: PIN });
    expect(res.statusCode, res.body).toBe(200);
    const r = res.json();
    expect(r).toMatchObject({ status: 'final', signature: { certStatus: 'good', signerKind: 'demo-ca' } });
    expect(r.contentHash).toMatch(/^[0-9a-f]{64}$/);
    expect((await api(t, w.tokens.doctor, 'GET', `/api/requests/${requestId}`)).json().status).toBe('signed');
    const seen = await api(t, w.tokens.doctor, 'GET', `/api/requests/${requestId}/report`);
    expect(seen.statusCode).toBe(200);
    expect(seen.json().report.fields.impression).toBe('Xuất huyết nhu mô thái dương phải.');
    const v = await api(t, w.tokens.doctor, 'GET', `/api/reports/${reportId}/verify`);
    expect(v.statusCode, v.body).toBe(200);
    expect(v.json()).toMatchObject({ status: 'valid', revokedAt: null, demo: true });
    expect(v.json().certificate.issuer).toContain('DEMO CA');
    expect((await api(t, w.tokens.otherRad, 'GET', `/api/reports/${reportId}/verify`)).statusCode).toBe(404);
  });

  it('a signed report cannot be changed: not through the API, not by SQL', async () => {
    const put = await api(t, w.tokens.rad1, 'PUT', `/api/requests/${requestId}/report`, draft);
    expect(put.statusCode).toBe(409);
    expect(put.json().code).toBe('RADLINK_REPORT_SIGNED');
    expect(
      (await api(t, w.tokens.rad1, 'POST', `/api/reports/${reportId}/sign`, { pin: PIN })).statusCode,
    ).toBe(409);
    await expect(
      t.db.query("UPDATE reports SET free_text = 'sửa' WHERE id = $1", [reportId]),
    ).rejects.toThrow(/immutable/);
    await expect(t.db.query('DELETE FROM reports WHERE id = $1', [reportId])).rejects.toThrow(/immutable/);
    await expect(t.db.query("UPDATE report_signatures SET signature = 'x'")).rejects.toThrow(/immutable/);
  });

  it('corrections are signed addenda, which verify on their own', async () => {
    const wrong = await api(t, w.tokens.rad1, 'POST', `/api/reports/${reportId}/addenda`, {
      language: 'vi',
      freeText: 'Bổ sung',
      pin: '000000',
    });
    expect(wrong.statusCode).toBe(403);
    const add = await api(t, w.tokens.rad1, 'POST', `/api/reports/${reportId}/addenda`, {
      language: 'vi',
      freeText: 'Bổ sung: có phù não quanh ổ xuất huyết.',
      pin: PIN,
    });
    expect(add.statusCode, add.body).toBe(201);
    expect(add.json()).toMatchObject({ parentReportId: reportId, status: 'final', templateId: 'addendum' });
    const v = await api(t, w.tokens.doctor, 'GET', `/api/reports/${add.json().id}/verify`);
    expect(v.json().status).toBe('valid');
    const all = (await api(t, w.tokens.doctor, 'GET', `/api/requests/${requestId}/report`)).json();
    expect(all.addenda).toHaveLength(1);
    expect(
      (
        await api(t, w.tokens.doctor, 'POST', `/api/reports/${reportId}/addenda`, {
          language: 'vi',
          freeText: 'x',
          pin: PIN,
        })
      ).statusCode,
    ).toBe(403);
  });

  it('a row changed behind the trigger (a superuser disabling it) verifies as tampered', async () => {
    await t.db.exec('ALTER TABLE reports DISABLE TRIGGER reports_immutable');
    try {
      await t.db.query(`UPDATE reports SET fields = fields || '{"haemorrhage": "no"}' WHERE id = $1`, [
        reportId,
      ]);
    } finally {
      await t.db.exec('ALTER TABLE reports ENABLE TRIGGER reports_immutable');
    }
    const v = await api(t, w.tokens.doctor, 'GET', `/api/reports/${reportId}/verify`);
    expect(v.json()).toMatchObject({ status: 'tampered' });
  });

  it('revocation after signing: the report verifies as revoked-since; the revoked certificate signs nothing more', async () => {
    const studyUid2 = await insertStudy(t, w.district);
    const req2 = (await createRequest(studyUid2, 'routine')).json();
    await api(t, w.tokens.rad1, 'POST', `/api/requests/${req2.id}/claim`);
    const d = (await api(t, w.tokens.rad1, 'PUT', `/api/requests/${req2.id}/report`, draft)).json();
    expect((await api(t, w.tokens.rad1, 'POST', `/api/reports/${d.id}/sign`, { pin: PIN })).statusCode).toBe(
      200,
    );

    const cert = (await api(t, w.tokens.rad1, 'GET', '/api/signing/certificate')).json();
    expect(
      (
        await api(t, w.tokens.otherRad, 'POST', `/api/signing/certificates/${cert.serial}/revoke`, {
          reason: 'x',
        })
      ).statusCode,
    ).toBe(404);
    const rev = await api(
      t,
      w.tokens.centralAdmin,
      'POST',
      `/api/signing/certificates/${cert.serial}/revoke`,
      {
        reason: 'keyCompromise',
      },
    );
    expect(rev.statusCode, rev.body).toBe(200);
    const v = (await api(t, w.tokens.doctor, 'GET', `/api/reports/${d.id}/verify`)).json();
    expect(v).toMatchObject({ status: 'revoked-since', revokedAt: rev.json().revokedAt });
    expect(new Date(v.revokedAt).getTime()).toBeGreaterThan(new Date(v.signedAt).getTime());

    const studyUid3 = await insertStudy(t, w.district);
    const req3 = (await createRequest(studyUid3, 'urgent')).json();
    await api(t, w.tokens.rad1, 'POST', `/api/requests/${req3.id}/claim`);
    const d3 = (await api(t, w.tokens.rad1, 'PUT', `/api/requests/${req3.id}/report`, draft)).json();
    const refused = await api(t, w.tokens.rad1, 'POST', `/api/reports/${d3.id}/sign`, { pin: PIN });
    expect(refused.statusCode).toBe(409);
    expect(refused.json().code).toBe('RADLINK_CERTIFICATE_INVALID');
    // Re-enrolling issues a new certificate, which signs.
    expect((await api(t, w.tokens.rad1, 'POST', '/api/signing/enrol', { pin: PIN })).statusCode).toBe(201);
    expect((await api(t, w.tokens.rad1, 'POST', `/api/reports/${d3.id}/sign`, { pin: PIN })).statusCode).toBe(
      200,
    );
    expect((await api(t, w.tokens.doctor, 'GET', `/api/reports/${d3.id}/verify`)).json().status).toBe(
      'valid',
    );
  });
});

describe('requests: scope, cancel, bad input', () => {
  it('refuses a study of another facility, an unknown study, a bad priority, and the own facility as target', async () => {
    const foreign = await insertStudy(t, w.other);
    const r1 = await api(t, w.tokens.doctor, 'POST', '/api/requests', {
      studyUid: foreign,
      targetFacilityId: w.central,
      priority: 'stat',
      clinicalInfo: 'x',
      question: 'y',
    });
    expect(r1.statusCode).toBe(404);
    const mine = await insertStudy(t, w.district);
    const base = {
      studyUid: mine,
      targetFacilityId: w.central,
      priority: 'stat',
      clinicalInfo: 'x',
      question: 'y',
    };
    const r2 = await api(t, w.tokens.doctor, 'POST', '/api/requests', { ...base, priority: 'asap' });
    expect(r2.statusCode).toBe(400);
    expect(r2.json().message).toContain('priority');
    const r3 = await api(t, w.tokens.doctor, 'POST', '/api/requests', {
      ...base,
      targetFacilityId: w.district,
    });
    expect(r3.statusCode).toBe(400);
    const r4 = await api(t, w.tokens.doctor, 'POST', '/api/requests', { ...base, clinicalInfo: '' });
    expect(r4.statusCode).toBe(400);
    const r5 = await api(t, w.tokens.doctor, 'POST', '/api/requests', {
      ...base,
      targetFacilityId: 'no-such-place',
    });
    expect(r5.statusCode).toBe(400);
    expect((await api(t, w.tokens.doctor, 'GET', '/api/requests/not-a-uuid')).statusCode).toBe(400);
    expect((await api(t, w.tokens.rad1, 'GET', '/api/worklist?status=bogus')).statusCode).toBe(400);
  });

  it('keeps a given accession number; cancelling before a claim revokes the grant', async () => {
    const uid = await insertStudy(t, w.district);
    const res = await api(t, w.tokens.doctor, 'POST', '/api/requests', {
      studyUid: uid,
      targetFacilityId: w.central,
      priority: 'routine',
      clinicalInfo: 'Ho kéo dài',
      question: 'U phổi?',
      accessionNumber: 'ACC-123',
    });
    const r = res.json();
    expect(r).toMatchObject({ accessionNumber: 'ACC-123', accessionAssigned: false });
    expect(
      (await api(t, w.tokens.rad1, 'POST', `/api/requests/${r.id}/cancel`, { reason: 'x' })).statusCode,
    ).toBe(403);
    const c = await api(t, w.tokens.doctor, 'POST', `/api/requests/${r.id}/cancel`, {
      reason: 'Bệnh nhân chuyển viện',
    });
    expect(c.statusCode, c.body).toBe(200);
    expect(c.json().status).toBe('cancelled');
    const grants = await t.db.query<{ revoked: boolean }>(
      'SELECT revoked_at IS NOT NULL AS revoked FROM study_grants WHERE source_id = $1',
      [r.id],
    );
    expect(grants).toEqual([{ revoked: true }]);
    expect((await api(t, w.tokens.rad1, 'POST', `/api/requests/${r.id}/claim`)).statusCode).toBe(409);
  });

  it('orders the worklist by priority, then AI flag, then waiting time, with filters', async () => {
    const s = `wl${Date.now()}`;
    const ids: Record<string, string> = {};
    for (const [name, priority, flag] of [
      ['routineOld', 'routine', false],
      ['urgent', 'urgent', false],
      ['statPlain', 'stat', false],
      ['statFlagged', 'stat', true],
    ] as const) {
      const uid = await insertStudy(t, w.district, undefined, {
        aiFlag: flag,
        modality: name === 'urgent' ? 'MR' : 'CT',
      });
      ids[name] = (await createRequest(uid, priority)).json().id;
    }
    const wl = (await api(t, w.tokens.rad2, 'GET', '/api/worklist?status=requested&limit=200')).json() as {
      request: { id: string };
    }[];
    const order = wl.map((i) => i.request.id).filter((id) => Object.values(ids).includes(id));
    expect(order).toEqual([ids.statFlagged, ids.statPlain, ids.urgent, ids.routineOld]);
    const flagged = (await api(t, w.tokens.rad2, 'GET', '/api/worklist?flagged=true')).json();
    expect(flagged.map((i: { request: { id: string } }) => i.request.id)).toEqual([ids.statFlagged]);
    const mr = (await api(t, w.tokens.rad2, 'GET', '/api/worklist?modality=MR')).json();
    expect(mr.map((i: { request: { id: string } }) => i.request.id)).toEqual([ids.urgent]);
    expect(s).toBeTruthy();
  });

  it('flags and counts turnaround breaches', async () => {
    const uid = await insertStudy(t, w.district);
    const r = (await createRequest(uid, 'stat')).json();
    // Simulate the clock passing the target: due_at is the only input of the breach flag.
    await t.db.query("UPDATE read_requests SET due_at = now() - interval '1 minute' WHERE id = $1", [r.id]);
    const item = (await api(t, w.tokens.rad1, 'GET', '/api/worklist?limit=200'))
      .json()
      .find((i: { request: { id: string } }) => i.request.id === r.id);
    expect(item.request.breached).toBe(true);
    const metrics = await t.app.metrics.registry.getSingleMetricAsString('radlink_reading_open_overdue');
    expect(metrics).toMatch(/radlink_reading_open_overdue\{priority="stat"\} [1-9]/);
  });

  it('serves templates in both languages', async () => {
    const res = await api(t, w.tokens.doctor, 'GET', '/api/report-templates?modality=CT');
    const ids = res.json().map((x: { id: string }) => x.id);
    expect(ids).toEqual(expect.arrayContaining(['ct-head', 'ct-chest', 'generic']));
    expect(ids).not.toContain('mr-brain');
    expect(res.json()[0].title.vi).toBeTruthy();
  });
});
