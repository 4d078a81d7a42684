/**
 * Key images through the API against the real stack (Orthanc, the database): a radiologist of the
 * owning facility marks, annotates, re-marks and unmarks images (single- and multi-frame); the
 * list comes back in reading order with who marked what; every refusal is the right one — a
 * radiologist of another facility gets 404 (the study's existence is not revealed), a referring
 * doctor may read but not mark (403), an instance of another study, a frame the image does not
 * have, a malformed UID or an over-long note are refused with a reason; each call is audited.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearer, buildTestApp, type TestApp } from '../helpers/app.js';
import { makeInstance, newUid } from '../helpers/dicom.js';
import { facilityUser, stow } from '../helpers/dicomweb.js';

const sfx = randomBytes(3).toString('hex');
let t: TestApp;
let reader: string;
let referrer: string;
let outsider: string;
beforeAll(async () => {
  t = await buildTestApp({ name: 'key-images' });
  reader = await facilityUser(t, `ki-own-${sfx}`, `ki.rad.${sfx}`);
  referrer = await facilityUser(t, `ki-own-${sfx}`, `ki.ref.${sfx}`, 'referring_doctor');
  outsider = await facilityUser(t, `ki-oth-${sfx}`, `ki.out.${sfx}`);
});
afterAll(async () => t?.close());

type Entry = {
  sopInstanceUid: string;
  seriesUid: string;
  frame: number;
  note: string | null;
  markedBy: { name: string };
};

const call = (method: 'GET' | 'PUT' | 'DELETE', url: string, token: string | null, payload?: unknown) =>
  t.app.inject({
    method,
    url,
    headers: token ? bearer(token) : {},
    ...(payload !== undefined ? { payload: payload as object } : {}),
  });

describe('key images API', () => {
  it('marks, annotates, lists in reading order, unmarks; refuses out-of-scope, wrong role and bad input', async () => {
    const studyUid = newUid();
    const seriesUid = newUid();
    const slices = [3, 1, 2].map((n) =>
      makeInstance({ studyUid, seriesUid, instanceNumber: n, patientName: 'Trần^Văn Khoá' }),
    );
    const cine = makeInstance({ studyUid, frames: 3, instanceNumber: 1 });
    const other = makeInstance({ patientName: 'Lê^Thị Khác' });
    expect((await stow(t, reader, [...slices.map((s) => s.bytes), cine.bytes])).statusCode).toBe(200);
    expect((await stow(t, reader, [other.bytes])).statusCode).toBe(200);

    const list = `/api/studies/${studyUid}/key-images`;
    const at = (sop: string, frame?: number) => `${list}/${sop}${frame ? `/${frame}` : ''}`;
    const [s3, s1, s2] = slices as [typeof cine, typeof cine, typeof cine];

    // Empty at first.
    const empty = await call('GET', list, reader);
    expect(empty.statusCode, empty.body).toBe(200);
    expect(empty.json()).toEqual({ studyUid, keyImages: [] });

    // Mark (201), re-mark with a note (200, note replaced), a blank note is no note.
    const first = await call('PUT', at(s3.sopInstanceUid), reader, {});
    expect(first.statusCode, first.body).toBe(201);
    expect(first.json()).toMatchObject({
      sopInstanceUid: s3.sopInstanceUid,
      seriesUid,
      frame: 1,
      note: null,
    });
    const note = 'Khối giảm tỷ trọng thùy phải gan, 32 mm';
    const again = await call('PUT', at(s3.sopInstanceUid), reader, { note });
    expect(again.statusCode).toBe(200);
    expect(again.json()).toMatchObject({ note, markedBy: { name: 'Bác sĩ Thử' } });
    expect((await call('PUT', at(s1.sopInstanceUid), reader, { note: '   ' })).json().note).toBeNull();
    // Frame 2 of the multi-frame image; a frame it does not have is refused.
    const f2 = await call('PUT', at(cine.sopInstanceUid, 2), reader, {});
    expect(f2.statusCode, f2.body).toBe(201);
    const noFrame = await call('PUT', at(cine.sopInstanceUid, 4), reader, {});
    expect(noFrame.statusCode).toBe(404);
    expect(noFrame.json().message).toMatch(/frame/);

    // Reading order: series, then instance number (1 before 3), then frame.
    const got = (await call('GET', list, reader)).json() as { keyImages: Entry[] };
    const bySeries = got.keyImages.filter((k) => k.seriesUid === seriesUid).map((k) => k.sopInstanceUid);
    expect(bySeries).toEqual([s1.sopInstanceUid, s3.sopInstanceUid]);
    expect(got.keyImages).toHaveLength(3);
    expect(got.keyImages.find((k) => k.sopInstanceUid === cine.sopInstanceUid)?.frame).toBe(2);
    expect(got.keyImages.find((k) => k.sopInstanceUid === s3.sopInstanceUid)?.note).toBe(note);

    // A referring doctor of the facility reads the list but may not mark or unmark.
    const asReferrer = await call('GET', list, referrer);
    expect(asReferrer.statusCode).toBe(200);
    expect((asReferrer.json() as { keyImages: Entry[] }).keyImages).toHaveLength(3);
    expect((await call('PUT', at(s2.sopInstanceUid), referrer, {})).statusCode).toBe(403);
    expect((await call('DELETE', at(s3.sopInstanceUid), referrer)).statusCode).toBe(403);

    // A radiologist of another facility: 404 for reading, marking and unmarking alike.
    for (const [m, u] of [
      ['GET', list],
      ['PUT', at(s2.sopInstanceUid)],
      ['DELETE', at(s3.sopInstanceUid)],
    ] as const) {
      const r = await call(m, u, outsider, m === 'PUT' ? {} : undefined);
      expect(r.statusCode, `${m} ${u}`).toBe(404);
      expect(r.body).not.toContain('Trần');
    }
    // No session at all.
    expect((await call('GET', list, null)).statusCode).toBe(401);

    // Unknown study, an instance of another study, malformed UIDs and frames, an over-long note.
    expect((await call('GET', `/api/studies/${newUid()}/key-images`, reader)).statusCode).toBe(404);
    const foreign = await call('PUT', at(other.sopInstanceUid), reader, {});
    expect(foreign.statusCode).toBe(404);
    expect(foreign.json().message).toMatch(/image/);
    for (const bad of [
      call('PUT', `${list}/not-a-uid`, reader, {}),
      call('PUT', `${list}/${s2.sopInstanceUid}/0`, reader, {}),
      call('PUT', `${list}/${s2.sopInstanceUid}/x`, reader, {}),
      call('PUT', at(s2.sopInstanceUid), reader, { note: 'x'.repeat(501) }),
      call('GET', '/api/studies/1.2.x/key-images', reader),
    ]) {
      const r = await bad;
      expect(r.statusCode, r.body).toBe(400);
      expect(r.json().code).toMatch(/^RADLINK_/);
    }

    // Unmark; unmarking what is not marked is a 404.
    expect((await call('DELETE', at(s3.sopInstanceUid), reader)).statusCode).toBe(204);
    expect((await call('DELETE', at(s3.sopInstanceUid), reader)).statusCode).toBe(404);
    expect((await call('DELETE', at(cine.sopInstanceUid, 2), reader)).statusCode).toBe(204);
    const left = (await call('GET', list, reader)).json() as { keyImages: Entry[] };
    expect(left.keyImages.map((k) => k.sopInstanceUid)).toEqual([s1.sopInstanceUid]);

    // Audited: who did what to which study, with the outcome.
    const audit = await t.db.query<{
      action: string;
      outcome: string;
      study_uid: string;
      detail: Record<string, unknown>;
    }>(`SELECT action, outcome, study_uid, detail FROM audit_events WHERE study_uid = $1 ORDER BY id`, [
      studyUid,
    ]);
    const actions = audit.map((a) => `${a.action}:${a.outcome}`);
    expect(actions).toContain('key-images.read:success');
    expect(actions).toContain('key-images.mark:success');
    expect(actions).toContain('key-images.unmark:success');
    expect(
      actions.filter((a) => a.startsWith('key-images.') && !a.endsWith(':success')).length,
    ).toBeGreaterThan(0);
    const mark = audit.find((a) => a.action === 'key-images.mark' && a.detail?.withNote === true);
    expect(mark?.detail).toMatchObject({ sopInstanceUid: s3.sopInstanceUid, frame: 1, withNote: true });
    expect(JSON.stringify(audit)).not.toContain(note);
  });
});
