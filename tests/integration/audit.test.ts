/**
 * The audit trail as a user of the system produces it: one mechanism (the policy table's
 * `audit` action, written by one hook) records every access to patient data — allowed,
 * refused or not found — with who, facility, action, study, time, client address and outcome;
 * frame reads collapse to one row per user x study x hour; rows cannot be altered.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findPatient } from '../../scripts/demo/patients.js';
import { generateStudy } from '../../scripts/demo/synth/study.js';
import { buildMultipartRelated } from '../../server/src/dicomweb/multipart.js';
import { bearer, buildTestApp, type TestApp } from '../helpers/app.js';

let t: TestApp;
let admin: string;
let doctor: string;
let doctorId: string;
const study = generateStudy({
  seed: 424242,
  patient: findPatient('hung'),
  modality: 'CT',
  rows: 64,
  cols: 64,
  slices: 30,
  lesions: 1,
});
const series = study.series[0]!;

interface Row {
  user_id: string | null;
  username: string | null;
  facility_id: string | null;
  action: string;
  study_uid: string | null;
  client_ip: string | null;
  outcome: string;
  status_code: number | null;
}
const rowsFor = (studyUid: string, action?: string) =>
  t.db.query<Row>(
    `SELECT user_id::text, username, facility_id, action, study_uid, client_ip, outcome, status_code
       FROM audit_events WHERE study_uid = $1 ${action ? 'AND action = $2' : ''} ORDER BY id`,
    action ? [studyUid, action] : [studyUid],
  );

beforeAll(async () => {
  t = await buildTestApp({ name: 'audit' });
  admin = await t.adminToken();
  await t.app.inject({
    method: 'POST',
    url: '/api/facilities',
    headers: bearer(admin),
    payload: { id: 'audit-district', name: 'TTYT Huyện Kiểm toán', tier: 'district', parentId: null },
  });
  const created = await t.app.inject({
    method: 'POST',
    url: '/api/users',
    headers: bearer(admin),
    payload: {
      username: 'audit.doctor',
      displayName: 'BS. Kiểm toán',
      role: 'referring_doctor',
      facilityId: 'audit-district',
      password: 'audit password 1',
    },
  });
  doctorId = created.json().id;
  doctor = await t.login('audit.doctor', 'audit password 1');
  const { body, contentType } = buildMultipartRelated(
    series.instances.map((b) => ({ contentType: 'application/dicom', body: b })),
    'application/dicom',
  );
  const stow = await t.app.inject({
    method: 'POST',
    url: '/dicom-web/studies',
    headers: { ...bearer(doctor), 'content-type': contentType },
    payload: body,
  });
  expect(stow.statusCode, stow.body).toBe(200);
});
afterAll(async () => t?.close());

describe('audit trail', () => {
  it('records a STOW with who, facility, action, study, client address and outcome', async () => {
    const rows = await rowsFor(study.study.studyUid, 'dicomweb.stow');
    // STOW has no study in its URL: the handler names the study it stored into.
    expect(rows.length).toBeGreaterThanOrEqual(1);
    expect(rows[0]).toMatchObject({
      user_id: doctorId,
      username: 'audit.doctor',
      facility_id: 'audit-district',
      outcome: 'success',
      status_code: 200,
    });
    expect(rows[0]!.client_ip).toBeTruthy();
  });

  it('collapses repeated frame reads to one row per user x study x hour', async () => {
    const url = `/dicom-web/studies/${study.study.studyUid}/series/${series.seriesUid}/instances/${series.sopInstanceUids[0]}/frames/1`;
    for (let i = 0; i < 5; i++) {
      const res = await t.app.inject({
        method: 'GET',
        url,
        headers: {
          ...bearer(doctor),
          accept: 'multipart/related; type="application/octet-stream"; transfer-syntax=*',
        },
      });
      expect(res.statusCode).toBe(200);
    }
    const rows = await rowsFor(study.study.studyUid, 'dicomweb.frames');
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ username: 'audit.doctor', outcome: 'success' });
    // Another user reading the same frames gets their own row.
    await t.app.inject({
      method: 'GET',
      url,
      headers: {
        ...bearer(admin),
        accept: 'multipart/related; type="application/octet-stream"; transfer-syntax=*',
      },
    });
    expect(await rowsFor(study.study.studyUid, 'dicomweb.frames')).toHaveLength(2);
  });

  it('records refused and not-found access too, never collapsed', async () => {
    const other = await t.app.inject({
      method: 'POST',
      url: '/api/users',
      headers: bearer(admin),
      payload: {
        username: 'model.person',
        displayName: 'M',
        role: 'model_manager',
        facilityId: null,
        password: 'audit password 1',
      },
    });
    expect(other.statusCode).toBe(201);
    const mm = await t.login('model.person', 'audit password 1');
    const url = `/dicom-web/studies/${study.study.studyUid}/metadata`;
    for (let i = 0; i < 2; i++)
      expect((await t.app.inject({ method: 'GET', url, headers: bearer(mm) })).statusCode).toBe(403);
    const denied = (await rowsFor(study.study.studyUid)).filter((r) => r.outcome === 'denied');
    expect(denied).toHaveLength(2);
    expect(denied[0]).toMatchObject({ username: 'model.person', status_code: 403 });

    const missing = '2.25.999999999999999999999';
    expect(
      (
        await t.app.inject({
          method: 'GET',
          url: `/dicom-web/studies/${missing}/metadata`,
          headers: bearer(doctor),
        })
      ).statusCode,
    ).toBe(404);
    expect(await rowsFor(missing)).toMatchObject([{ outcome: 'not-found', username: 'audit.doctor' }]);
  });

  it('lets an admin read the trail, filtered by study, and refuses to alter it', async () => {
    const res = await t.app.inject({
      method: 'GET',
      url: `/api/audit?studyUid=${study.study.studyUid}`,
      headers: bearer(admin),
    });
    expect(res.statusCode).toBe(200);
    const events = res.json() as { action: string }[];
    expect(events.map((e) => e.action)).toEqual(expect.arrayContaining(['dicomweb.stow', 'dicomweb.frames']));
    await expect(t.db.query('UPDATE audit_events SET outcome = $1', ['success'])).rejects.toThrow(
      /append-only/,
    );
    await expect(
      t.db.query('DELETE FROM audit_events WHERE study_uid = $1', [study.study.studyUid]),
    ).rejects.toThrow(/append-only/);
  });
});
