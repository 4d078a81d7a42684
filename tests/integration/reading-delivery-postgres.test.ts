/**
 * Delivery on PostgreSQL (the production database), with two gateways sharing it and one
 * delivery queue: the migration applies, signing on one gateway gets the report delivered once
 * (one PDF record, one DICOM instance) whichever gateway runs the job, measurements survive in
 * the signed content, the record refuses rewrites, and verification catches an altered PDF.
 */
import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createDatabase } from '../../scripts/services/postgres.js';
import { orthancInstancesOf } from '../../server/src/dicomweb/orthanc-files.js';
import { buildTestApp, stack, type TestApp } from '../helpers/app.js';
import { makeInstance, newUid } from '../helpers/dicom.js';
import { api, PIN, type ReadingWorld, setupWorld } from './reading-helpers.js';

let a: TestApp;
let b: TestApp;
let w: ReadingWorld;
const studyUid = newUid();
const seriesUid = newUid();
const inst = makeInstance({ studyUid, seriesUid, patientId: `DLVPG-${randomBytes(4).toString('hex')}` });
const sha256 = (x: Uint8Array) => createHash('sha256').update(x).digest('hex');

beforeAll(async () => {
  const url = await createDatabase(stack().postgresUrl);
  const env = { RADLINK_QUEUE_PREFIX: `dlvpg${Date.now()}` };
  a = await buildTestApp({ name: 'reading-delivery-pg-a', databaseUrl: url, env });
  b = await buildTestApp({ name: 'reading-delivery-pg-b', databaseUrl: url, env });
  w = await setupWorld(a, 'dlvpg');
  const res = await a.app.orthanc.request('POST', '/instances', {
    headers: { 'content-type': 'application/dicom' },
    body: inst.bytes,
  });
  const stored = JSON.parse(await res.body.text()) as { ID: string };
  await a.app.indexer.indexOrthancInstance(stored.ID, { facilityId: w.district, source: 'dimse' });
});
afterAll(async () => {
  await Promise.allSettled([a?.close(), b?.close()]);
});

it('two gateways on one PostgreSQL deliver a signed report exactly once, and verification holds', async () => {
  const req = await api(a, w.tokens.doctor, 'POST', '/api/requests', {
    studyUid,
    targetFacilityId: w.central,
    priority: 'stat',
    clinicalInfo: 'Chấn thương bụng kín',
    question: 'Tổn thương gan?',
  });
  expect(req.statusCode, req.body).toBe(201);
  const requestId = req.json().id;
  await api(a, w.tokens.rad1, 'POST', `/api/requests/${requestId}/claim`);
  const draft = await api(a, w.tokens.rad1, 'PUT', `/api/requests/${requestId}/report`, {
    templateId: 'generic',
    language: 'en',
    fields: { impression: 'Grade II liver laceration.' },
    freeText: '',
  });
  expect(draft.statusCode, draft.body).toBe(200);
  const reportId = draft.json().id;
  const m = await api(b, w.tokens.rad1, 'POST', `/api/reports/${reportId}/measurements`, {
    items: [
      {
        kind: 'length',
        value: 41.2,
        unit: 'mm',
        seriesUid,
        sopInstanceUid: inst.sopInstanceUid,
        label: 'laceration',
      },
    ],
  });
  expect(m.statusCode, m.body).toBe(200);
  expect(m.json().freeText).toBe('[Measurement 1] Length — laceration: 41.2 mm [series 1, image 1]');
  expect((await api(a, w.tokens.rad1, 'POST', '/api/signing/enrol', { pin: PIN })).statusCode).toBe(201);
  const signed = await api(b, w.tokens.rad1, 'POST', `/api/reports/${reportId}/sign`, { pin: PIN });
  expect(signed.statusCode, signed.body).toBe(200);

  let d: { pdf: { sha256: string } | null; dicom: { sopInstanceUid: string; sha256: string } | null } = {
    pdf: null,
    dicom: null,
  };
  for (const until = Date.now() + 60_000; !d.dicom && Date.now() < until; ) {
    await new Promise((r) => setTimeout(r, 200));
    d = (await api(a, w.tokens.rad1, 'GET', `/api/reports/${reportId}/delivery`)).json();
  }
  expect(d.dicom, 'delivered within 60 s').not.toBeNull();
  expect(await orthancInstancesOf(a.app.orthanc, d.dicom!.sopInstanceUid)).toHaveLength(1);
  expect(await a.db.query('SELECT report_id FROM report_deliveries')).toHaveLength(1);

  const v = (await api(a, w.tokens.doctor, 'GET', `/api/reports/${reportId}/verify`)).json();
  expect(v).toMatchObject({
    status: 'valid',
    copies: { pdf: { status: 'valid' }, dicom: { status: 'valid' }, sr: { status: 'valid' } },
  });
  // The measurement is inside the signed content: altering it in the row is tampering.
  await a.db.exec('ALTER TABLE reports DISABLE TRIGGER reports_immutable');
  try {
    await a.db.query(
      `UPDATE reports SET fields = jsonb_set(fields, '{_measurements,0,value}', '14.2') WHERE id = $1`,
      [reportId],
    );
    expect((await api(b, w.tokens.doctor, 'GET', `/api/reports/${reportId}/verify`)).json().status).toBe(
      'tampered',
    );
    await a.db.query(
      `UPDATE reports SET fields = jsonb_set(fields, '{_measurements,0,value}', '41.2') WHERE id = $1`,
      [reportId],
    );
  } finally {
    await a.db.exec('ALTER TABLE reports ENABLE TRIGGER reports_immutable');
  }
  expect((await api(b, w.tokens.doctor, 'GET', `/api/reports/${reportId}/verify`)).json().status).toBe(
    'valid',
  );

  const key = `report-pdf/${reportId}.pdf`;
  const pdf = (await api(b, w.tokens.doctor, 'GET', `/api/reports/${reportId}/pdf`)).rawPayload;
  expect(sha256(pdf)).toBe(d.pdf!.sha256);
  const altered = Buffer.concat([pdf, Buffer.from('\n% appended\n')]);
  await a.app.s3.client.putObject(a.app.s3.bucket, key, altered, altered.length);
  const t = (await api(b, w.tokens.doctor, 'GET', `/api/reports/${reportId}/verify`)).json();
  expect(t).toMatchObject({
    status: 'tampered',
    copies: { pdf: { status: 'tampered' }, dicom: { status: 'valid' } },
  });
  await a.app.s3.client.putObject(a.app.s3.bucket, key, pdf, pdf.length);

  await expect(
    a.db.query('UPDATE report_deliveries SET pdf_key = $2 WHERE report_id = $1', [reportId, 'x']),
  ).rejects.toThrow(/bound to the signed report/);
  await expect(a.db.query('TRUNCATE report_deliveries')).rejects.toThrow(/bound to the signed report/);
});
