/**
 * Break-glass: a radiologist outside the owning facility cannot see a study (404 on WADO, absent
 * from QIDO) until they open it with a stated reason; then they can, for a limited time, and the
 * event is in the audit trail flagged for review and in the admins' review list (scoped: the
 * owner's facility admin sees it, another facility's does not). Reviewing with revoke ends it.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearer, buildTestApp, type TestApp } from '../helpers/app.js';
import { makeInstance } from '../helpers/dicom.js';
import { facilityUser, stow } from '../helpers/dicomweb.js';

const sfx = randomBytes(3).toString('hex');
let t: TestApp;
let owner: string;
let outsider: string;
let ownerAdmin: string;
let otherAdmin: string;
beforeAll(async () => {
  t = await buildTestApp({ name: 'breakglass' });
  owner = await facilityUser(t, `bv-bg-own-${sfx}`, `bg.own.${sfx}`);
  outsider = await facilityUser(t, `bv-bg-out-${sfx}`, `bg.out.${sfx}`);
  ownerAdmin = await facilityUser(t, `bv-bg-own-${sfx}`, `bg.ownadm.${sfx}`, 'facility_admin');
  otherAdmin = await facilityUser(t, `bv-bg-oth-${sfx}`, `bg.othadm.${sfx}`, 'facility_admin');
});
afterAll(async () => t?.close());

describe('break-glass', () => {
  it('opens a study outside the grants only with a reason, audited and listed for review', async () => {
    const inst = makeInstance({ patientName: 'Võ^Thị Khẩn' });
    expect((await stow(t, owner, [inst.bytes])).statusCode).toBe(200);
    const meta = `/dicom-web/studies/${inst.studyUid}/metadata`;
    const qido = `/dicom-web/studies?StudyInstanceUID=${inst.studyUid}`;
    const get = (url: string, tok: string) => t.app.inject({ method: 'GET', url, headers: bearer(tok) });
    expect((await get(meta, outsider)).statusCode).toBe(404);
    expect((await get(qido, outsider)).json()).toEqual([]);

    const open = (tok: string, reason: unknown, uid = inst.studyUid) =>
      t.app.inject({
        method: 'POST',
        url: `/api/studies/${uid}/break-glass`,
        headers: bearer(tok),
        payload: reason === undefined ? {} : { reason },
      });
    // No reason, a too-short reason, an unknown study, a role that may not: refused.
    expect((await open(outsider, undefined)).statusCode).toBe(400);
    expect((await open(outsider, 'cần xem')).statusCode).toBe(400);
    expect((await open(outsider, 'Cấp cứu: chấn thương sọ não', '2.25.1')).statusCode).toBe(404);
    expect((await open(otherAdmin, 'Cấp cứu: chấn thương sọ não')).statusCode).toBe(403);
    // The owner needs no break-glass.
    expect((await open(owner, 'Cấp cứu: chấn thương sọ não')).statusCode).toBe(409);

    const reason = 'Cấp cứu ngoài giờ: nghi xuất huyết não, cần đọc ngay';
    const res = await open(outsider, reason);
    expect(res.statusCode, res.body).toBe(201);
    const { grantId, expiresAt } = res.json() as { grantId: string; expiresAt: string };
    const minutes = (Date.parse(expiresAt) - Date.now()) / 60_000;
    expect(minutes).toBeGreaterThan(55);
    expect(minutes).toBeLessThanOrEqual(60);
    expect((await get(meta, outsider)).statusCode).toBe(200);
    const found = await get(qido, outsider);
    expect(found.statusCode).toBe(200);
    expect(found.json()).toHaveLength(1);

    const [audit] = await t.db.query<{ outcome: string; study_uid: string; detail: Record<string, unknown> }>(
      "SELECT outcome, study_uid, detail FROM audit_events WHERE action = 'break-glass.open' AND outcome = 'success' ORDER BY id DESC LIMIT 1",
    );
    expect(audit).toMatchObject({ study_uid: inst.studyUid, detail: { breakGlass: true, grantId, reason } });

    // Review list: the owning facility's admin and system admins see it; another facility's admin does not.
    const list = async (tok: string) =>
      ((await get('/api/break-glass?unreviewed=true', tok)).json() as { id: string }[]).map((g) => g.id);
    expect(await list(ownerAdmin)).toContain(grantId);
    expect(await list(await t.adminToken())).toContain(grantId);
    expect(await list(otherAdmin)).not.toContain(grantId);
    expect((await get('/api/break-glass', outsider)).statusCode).toBe(403);
    const review = (tok: string) =>
      t.app.inject({
        method: 'POST',
        url: `/api/break-glass/${grantId}/review`,
        headers: bearer(tok),
        payload: { note: 'Đã xác minh với khoa cấp cứu; kết thúc quyền truy cập', revoke: true },
      });
    expect((await review(otherAdmin)).statusCode).toBe(404);
    const reviewed = await review(ownerAdmin);
    expect(reviewed.statusCode, reviewed.body).toBe(200);
    expect(reviewed.json()).toMatchObject({ id: grantId, active: false });
    expect(reviewed.json().reviewedAt).toBeTruthy();
    expect(await list(ownerAdmin)).not.toContain(grantId);
    // Revoked: the study is out of scope again.
    expect((await get(meta, outsider)).statusCode).toBe(404);
  });
});
