/**
 * Delivery of signed reports on the real stack (Orthanc, Redis, s3rver; PGlite here, PostgreSQL
 * in reading-delivery-postgres.test.ts): a study STOWed by the district, read and signed at the
 * central hospital with viewer measurements inserted; then
 *  - the delivery job makes the PDF in S3 (hash recorded, bound to the signature) and the
 *    Encapsulated PDF in the study (indexed, visible over DICOMweb), deterministically;
 *  - verification names the altered copy when the PDF in S3, the DICOM copy in Orthanc or the
 *    database row is altered, each alone;
 *  - FHIR ServiceRequest/DiagnosticReport, and the study as a zip with a DICOMDIR that DCMTK
 *    reads, every referenced file present and byte-identical to Orthanc's;
 *  - a third facility gets 404 everywhere; bad input gets 4xx with a reason.
 */
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { unzipSync } from 'fflate';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { orthancInstancesOf } from '../../server/src/dicomweb/orthanc-files.js';
import { OrthancClient } from '../../server/src/plugins/orthanc.js';
import { ObjectStore } from '../../server/src/plugins/s3.js';
import { ReportDeliveryService } from '../../server/src/reading/delivery/deliver.js';
import { DeliveryRepo } from '../../server/src/reading/delivery/delivery-repo.js';
import { extractEncapsulatedPdf } from '../../server/src/reading/delivery/encapsulated-pdf.js';
import { DeliveryQueue } from '../../server/src/reading/delivery/queue.js';
import { CopyVerifier } from '../../server/src/reading/delivery/verify-copies.js';
import { ReportRepo } from '../../server/src/reading/reports-repo.js';
import { RequestRepo } from '../../server/src/reading/requests-repo.js';
import { buildTestApp, type TestApp } from '../helpers/app.js';
import { makeInstance, newUid } from '../helpers/dicom.js';
import { inspectPdf } from '../unit/reading-delivery-pdf-inspect.js';
import { api, PIN, type ReadingWorld, setupWorld } from './reading-helpers.js';

let t: TestApp;
let w: ReadingWorld;
const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

const studyUid = newUid();
const seriesA = newUid();
const seriesB = newUid();
const patientId = `DLV-${randomBytes(4).toString('hex')}`;
const instances = [
  makeInstance({ studyUid, seriesUid: seriesA, patientId, instanceNumber: 1, seed: 1 }),
  makeInstance({ studyUid, seriesUid: seriesA, patientId, instanceNumber: 2, seed: 2 }),
  makeInstance({ studyUid, seriesUid: seriesB, patientId, instanceNumber: 1, seed: 3 }),
];

let requestId: string;
let reportId: string;
let addendumId: string;

beforeAll(async () => {
  t = await buildTestApp({
    name: 'reading-delivery',
    env: { RADLINK_QUEUE_PREFIX: `dlv${Date.now()}`, RADLINK_PUBLIC_URL: 'https://radlink.test' },
  });
  w = await setupWorld(t, 'dlv');
  // Stored into Orthanc and indexed as the district's (as a DIMSE send from its AE title would be).
  for (const i of instances) {
    const res = await t.app.orthanc.request('POST', '/instances', {
      headers: { 'content-type': 'application/dicom' },
      body: i.bytes,
    });
    const stored = JSON.parse(await res.body.text()) as { ID: string };
    expect(res.statusCode).toBe(200);
    await t.app.indexer.indexOrthancInstance(stored.ID, {
      facilityId: w.district,
      source: 'dimse',
      transferSyntaxUid: i.bytes.includes(Buffer.from('1.2.840.10008.1.2.1')) ? '1.2.840.10008.1.2.1' : null,
    });
  }
});
afterAll(async () => t?.close());

async function waitForDelivery(id: string, timeoutMs = 60_000) {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const d = (await api(t, w.tokens.rad1, 'GET', `/api/reports/${id}/delivery`)).json();
    if (d.dicom) return d;
    if (Date.now() > until) throw new Error(`delivery of ${id} not done: ${JSON.stringify(d)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function verify(id: string, token = w.tokens.doctor) {
  const v = await api(t, token, 'GET', `/api/reports/${id}/verify`);
  expect(v.statusCode, v.body).toBe(200);
  return v.json();
}

async function orthancFile(sopInstanceUid: string): Promise<{ id: string; bytes: Buffer }> {
  const [id] = await orthancInstancesOf(t.app.orthanc, sopInstanceUid);
  const res = await t.app.orthanc.request('GET', `/instances/${id}/file`);
  return { id: id!, bytes: Buffer.from(await res.body.arrayBuffer()) };
}

/** Replaces what Orthanc holds under a SOP Instance UID (delete, then store other bytes). */
async function replaceInOrthanc(sopInstanceUid: string, bytes: Buffer) {
  for (const id of await orthancInstancesOf(t.app.orthanc, sopInstanceUid))
    (await t.app.orthanc.request('DELETE', `/instances/${id}`)).body.resume();
  const res = await t.app.orthanc.request('POST', '/instances', {
    headers: { 'content-type': 'application/dicom' },
    body: bytes,
  });
  expect(res.statusCode, await res.body.text()).toBe(200);
}

/** A delivery service on the test app's clients, with a chosen verdict on the signed record. */
type ServiceDeps = ConstructorParameters<typeof ReportDeliveryService>[0];
function serviceWith(
  verify: ServiceDeps['verify'],
  stores: Partial<Pick<ServiceDeps, 's3' | 'orthanc'>> = {},
) {
  return new ReportDeliveryService({
    db: t.db,
    s3: stores.s3 ?? t.app.s3,
    orthanc: stores.orthanc ?? t.app.orthanc,
    indexer: t.app.indexer,
    reports: new ReportRepo(t.db),
    requests: new RequestRepo(t.db),
    deliveries: new DeliveryRepo(t.db),
    verify,
    publicBaseUrl: 'https://radlink.test',
    log: t.app.log,
  });
}

describe('a report is read with measurements, signed, and delivered', () => {
  it('measurements go into the draft as structured items and text; bad ones get 4xx with a reason', async () => {
    const created = await api(t, w.tokens.doctor, 'POST', '/api/requests', {
      studyUid,
      targetFacilityId: w.central,
      priority: 'urgent',
      clinicalInfo: 'Đau hạ sườn phải, sốt 3 ngày',
      question: 'Áp xe gan?',
    });
    expect(created.statusCode, created.body).toBe(201);
    requestId = created.json().id;
    expect((await api(t, w.tokens.rad1, 'POST', `/api/requests/${requestId}/claim`)).statusCode).toBe(200);
    const d = await api(t, w.tokens.rad1, 'PUT', `/api/requests/${requestId}/report`, {
      templateId: 'generic',
      language: 'vi',
      fields: {
        findings: 'Gan: một tổn thương giảm tỷ trọng hạ phân thùy VII, bờ không đều.',
        impression: 'Tổn thương gan nghi áp xe.',
      },
      freeText: 'Đề nghị siêu âm kiểm tra.',
    });
    expect(d.statusCode, d.body).toBe(200);
    reportId = d.json().id;
    const url = `/api/reports/${reportId}/measurements`;
    const item = {
      kind: 'length',
      label: 'Gan',
      value: 23.456,
      unit: 'mm',
      seriesUid: seriesA,
      sopInstanceUid: instances[1]!.sopInstanceUid,
    };

    // Bad input: 4xx with a reason, and nothing changes.
    const cases: [object, number, string][] = [
      [{ items: [] }, 400, ''],
      [{ items: [{ ...item, unit: 'HU' }] }, 400, 'measured in mm or cm'],
      [{ items: [{ ...item, value: -3 }] }, 400, 'cannot be negative'],
      [{ items: [{ ...item, kind: 'volume' }] }, 400, ''],
      [{ items: [{ ...item, sopInstanceUid: newUid() }] }, 400, "not in this report's study"],
      [{ items: [{ ...item, seriesUid: seriesB }] }, 400, "not in this report's study"],
      [{ items: [{ ...item, seriesUid: 'x.y' }] }, 400, ''],
      [{ items: [item], version: 99 }, 409, 'reload'],
      [{ items: [{ ...item, extra: 1 }] }, 400, ''],
    ];
    for (const [body, code, reason] of cases) {
      const res = await api(t, w.tokens.rad1, 'POST', url, body);
      expect(res.statusCode, `${JSON.stringify(body)} → ${res.body}`).toBe(code);
      expect(res.json().message).toContain(reason);
    }
    // Only the radiologist holding the request; the requester's side and other facilities: refused / 404.
    expect((await api(t, w.tokens.rad2, 'POST', url, { items: [item] })).statusCode).toBe(409);
    expect((await api(t, w.tokens.otherRad, 'POST', url, { items: [item] })).statusCode).toBe(404);
    expect((await api(t, w.tokens.doctor, 'POST', url, { items: [item] })).statusCode).toBe(403);

    const ok = await api(t, w.tokens.rad1, 'POST', url, {
      version: 1,
      items: [
        item,
        {
          kind: 'ellipse',
          value: 312.5,
          unit: 'mm2',
          seriesUid: seriesB,
          sopInstanceUid: instances[2]!.sopInstanceUid,
          stats: { mean: 42.123, sd: 11.9, areaMm2: 312.5 },
        },
      ],
    });
    expect(ok.statusCode, ok.body).toBe(200);
    const r = ok.json();
    expect(r.version).toBe(2);
    expect(r.measurements).toHaveLength(2);
    expect(r.measurements[0]).toMatchObject({
      n: 1,
      kind: 'length',
      label: 'Gan',
      value: 23.46,
      unit: 'mm',
      seriesNumber: 1,
      instanceNumber: 2,
      stats: null,
      addedBy: w.ids.rad1,
    });
    expect(r.measurements[1]).toMatchObject({
      n: 2,
      kind: 'ellipse',
      stats: { mean: 42.12, sd: 11.9, areaMm2: 312.5 },
    });
    expect(r.freeText).toBe(
      'Đề nghị siêu âm kiểm tra.\n[Đo 1] Chiều dài — Gan: 23,46 mm [loạt 1, ảnh 2]\n' +
        '[Đo 2] Diện tích (elip): 312,5 mm² (trung bình 42,12 HU, SD 11,9 HU) [loạt 1, ảnh 1]',
    );
    // The template fields stay as they were; the measurements are not a field.
    expect(Object.keys(r.fields).sort()).toEqual(['findings', 'impression']);

    // An autosave (which does not carry them) keeps the measurements.
    const saved = await api(t, w.tokens.rad1, 'PUT', `/api/requests/${requestId}/report`, {
      templateId: 'generic',
      language: 'vi',
      fields: { ...r.fields, technique: 'CT 64 dãy, có thuốc cản quang.' },
      freeText: r.freeText,
      version: 2,
    });
    expect(saved.statusCode, saved.body).toBe(200);
    expect(saved.json().measurements).toHaveLength(2);
    // The reserved key cannot be written through the draft body.
    const forged = await api(t, w.tokens.rad1, 'PUT', `/api/requests/${requestId}/report`, {
      templateId: 'generic',
      language: 'vi',
      fields: { _measurements: '[]' },
      freeText: '',
    });
    expect(forged.statusCode).toBe(400);
  });

  it('signing starts the delivery: PDF in S3 with its hash recorded, DICOM copy indexed in the study', async () => {
    expect((await api(t, w.tokens.rad1, 'POST', '/api/signing/enrol', { pin: PIN })).statusCode).toBe(201);
    const signed = await api(t, w.tokens.rad1, 'POST', `/api/reports/${reportId}/sign`, { pin: PIN });
    expect(signed.statusCode, signed.body).toBe(200);
    expect(signed.json().measurements).toHaveLength(2);
    const d = await waitForDelivery(reportId);
    const sig = signed.json().signature.signature as string;
    expect(d.signatureSha256).toBe(sha256(Buffer.from(sig)));
    expect(d.pdf.url).toBe(`/api/reports/${reportId}/pdf`);

    // The PDF: served to the requester, exactly the recorded bytes, stored under a flat key.
    const pdfRes = await api(t, w.tokens.doctor, 'GET', `/api/reports/${reportId}/pdf`);
    expect(pdfRes.statusCode).toBe(200);
    expect(pdfRes.headers['content-type']).toBe('application/pdf');
    const pdf = pdfRes.rawPayload;
    expect(sha256(pdf)).toBe(d.pdf.sha256);
    expect(pdf.length).toBe(d.pdf.sizeBytes);
    const [row] = await t.db.query<{ pdf_key: string }>(
      'SELECT pdf_key FROM report_deliveries WHERE report_id = $1',
      [reportId],
    );
    expect(row!.pdf_key).toBe(`report-pdf/${reportId}.pdf`);

    // What it shows, read back through the font's ToUnicode map; the signed content is attached.
    const inspected = await inspectPdf(pdf);
    const text = inspected.pages.flat().join(' ');
    for (const s of [
      'Nguyễn Thị Minh Khai',
      'Bệnh viện Trung ương Thử',
      'Trung tâm Y tế Huyện Thử',
      'Tổn thương gan nghi áp xe.',
      'BS. Phạm Thị Đọc',
      '[Đo 1] Chiều dài — Gan: 23,46 mm [loạt 1, ảnh 2]',
      'valid — The signature matches the report and the certificate is good.',
      'RadLink DEMO CA — not a legal signature',
    ])
      expect(text, s).toContain(s);
    // The printed verification URL wraps inside the narrow signature column.
    // It is the public verification page with the report's printed code (set once, 128 bits).
    const [vc] = await t.db.query<{ verify_code: string }>(
      'SELECT code AS verify_code FROM report_verify_codes WHERE report_id = $1',
      [reportId],
    );
    expect(vc!.verify_code).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(inspected.pages.flat().join('')).toContain(
      `https://radlink.test/#/verify/${reportId}?code=${vc!.verify_code}`,
    );
    const canonical = inspected.attachments.get('report.json')!;
    expect(sha256(canonical)).toBe(signed.json().contentHash);
    expect(JSON.parse(canonical.toString())._measurements).toBeUndefined();
    expect(JSON.parse(canonical.toString()).fields._measurements).toHaveLength(2);
    expect(inspected.attachments.get('signature.jws')!.toString()).toBe(sig);

    // The DICOM copy: in Orthanc, in the index (QIDO), wrapping exactly the recorded PDF.
    expect(d.dicom.studyUid).toBe(studyUid);
    const { bytes } = await orthancFile(d.dicom.sopInstanceUid);
    expect(sha256(bytes)).toBe(d.dicom.sha256);
    expect(extractEncapsulatedPdf(bytes)!.equals(pdf)).toBe(true);
    const dump = execFileSync('dcmdump', ['-'], { input: bytes }).toString();
    expect(dump).toContain('EncapsulatedPDFStorage');
    expect(dump).toContain(`[${patientId}]`);
    expect(dump).toContain('[Nguyễn^Thị Minh Khai]');
    const qido = await api(t, w.tokens.doctor, 'GET', `/dicom-web/studies/${studyUid}/series`);
    const series = qido.json() as Record<string, { Value?: unknown[] }>[];
    expect(series.map((s) => s['00080060']?.Value?.[0]).sort()).toEqual(['CT', 'CT', 'DOC', 'SR']);
    const inst = await api(
      t,
      w.tokens.doctor,
      'GET',
      `/dicom-web/studies/${studyUid}/series/${d.dicom.seriesUid}/instances`,
    );
    expect(inst.json().map((i: Record<string, { Value: string[] }>) => i['00080018']!.Value[0])).toEqual([
      d.dicom.sopInstanceUid,
    ]);

    // The Basic Text SR: DCMTK reads its document tree; the signed text is in it, verified.
    const sr = await orthancFile(d.sr.sopInstanceUid);
    expect(sha256(sr.bytes)).toBe(d.sr.sha256);
    const tree = execFileSync('dsrdump', ['-q', '+Pl', '+Pc', '+Pt', '-'], { input: sr.bytes }).toString();
    expect(tree).toContain('Basic Text SR Document');
    expect(tree).toContain('Verification Flag   : VERIFIED');
    expect(tree).toContain('<has obs context PNAME:(121008,DCM,"Person Observer Name")="BS. Phạm Thị Đọc">');
    expect(tree).toContain('<contains TEXT:(121073,DCM,"Impression")="Tổn thương gan nghi áp xe.">');
    expect(tree).toContain('<contains TEXT:(121071,DCM,"Finding")="Gan: một tổn thương giảm tỷ trọng');
    expect(tree).toContain('(18748-4,LN,"Diagnostic imaging report")');
    expect(tree).toContain('TID 2000 (DCMR)');
    expect(tree).toContain('[Đo 1] Chiều dài — Gan: 23,46 mm [loạt 1, ảnh 2]');
  });

  it('a signed addendum gets its own PDF and joins the report series as the next instance', async () => {
    const add = await api(t, w.tokens.rad1, 'POST', `/api/reports/${reportId}/addenda`, {
      language: 'vi',
      freeText: 'Bổ sung: có dịch quanh gan lượng ít.',
      pin: PIN,
    });
    expect(add.statusCode, add.body).toBe(201);
    addendumId = add.json().id;
    const d = await waitForDelivery(addendumId);
    const main = await waitForDelivery(reportId);
    expect(d.dicom.seriesUid).toBe(main.dicom.seriesUid);
    expect(d.dicom.sopInstanceUid).not.toBe(main.dicom.sopInstanceUid);
    const { bytes } = await orthancFile(d.dicom.sopInstanceUid);
    expect(execFileSync('dcmdump', ['-'], { input: bytes }).toString()).toMatch(/\(0020,0013\) IS \[2\]/);
    // Its SR names the main report's SR as its predecessor.
    expect(d.sr.seriesUid).toBe(main.sr.seriesUid);
    const srDump = execFileSync('dcmdump', ['-'], {
      input: (await orthancFile(d.sr.sopInstanceUid)).bytes,
    }).toString();
    expect(srDump).toContain('PredecessorDocumentsSequence');
    expect(srDump).toContain(`[${main.sr.sopInstanceUid}]`);
    const text = (
      await inspectPdf((await api(t, w.tokens.doctor, 'GET', `/api/reports/${addendumId}/pdf`)).rawPayload)
    ).pages
      .flat()
      .join(' ');
    expect(text).toContain('PHỤ LỤC BỔ SUNG KẾT QUẢ');
    expect(text).toContain('Bổ sung: có dịch quanh gan lượng ít.');
    expect(text).toContain(`Bổ sung cho kết quả: ${reportId}`);
  });

  it('re-running a delivery changes nothing and duplicates nothing (deterministic UIDs and bytes)', async () => {
    const service = serviceWith(async () => ({ status: 'valid', reason: 're-run', certificate: null }));
    const before = await waitForDelivery(reportId);
    // Forget the DICOM step (as if the gateway died after storing, before recording): the re-run
    // rebuilds the same object, Orthanc keeps one instance, the record gets the same hash.
    await t.db.exec('ALTER TABLE report_deliveries DISABLE TRIGGER report_deliveries_immutable');
    try {
      await t.db.query(
        `UPDATE report_deliveries SET dicom_study_uid = NULL, dicom_series_uid = NULL, dicom_sop_instance_uid = NULL,
                dicom_sha256 = NULL, dicom_stored_at = NULL, sr_series_uid = NULL, sr_sop_instance_uid = NULL,
                sr_sha256 = NULL WHERE report_id = $1`,
        [reportId],
      );
    } finally {
      await t.db.exec('ALTER TABLE report_deliveries ENABLE TRIGGER report_deliveries_immutable');
    }
    const row = await service.deliver(reportId);
    expect(row.dicomSha256).toBe(before.dicom.sha256);
    expect(row.srSha256).toBe(before.sr.sha256);
    expect(await orthancInstancesOf(t.app.orthanc, before.sr.sopInstanceUid)).toHaveLength(1);
    expect(row.dicomSopInstanceUid).toBe(before.dicom.sopInstanceUid);
    expect(row.pdfSha256).toBe(before.pdf.sha256);
    expect(await orthancInstancesOf(t.app.orthanc, before.dicom.sopInstanceUid)).toHaveLength(1);
    const counted = await t.db.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM instances WHERE series_uid = $1',
      [before.dicom.seriesUid],
    );
    expect(counted).toEqual([{ n: 2 }]); // the report and its addendum
    // The delivery record cannot be rewritten.
    await expect(
      t.db.query(`UPDATE report_deliveries SET pdf_sha256 = $2 WHERE report_id = $1`, [
        reportId,
        'f'.repeat(64),
      ]),
    ).rejects.toThrow(/bound to the signed report/);
    await expect(
      t.db.query('DELETE FROM report_deliveries WHERE report_id = $1', [reportId]),
    ).rejects.toThrow(/bound to the signed report/);
  });
});

describe('verification against altered copies (each alone)', () => {
  it('a signed record that does not verify gets no copies made', async () => {
    const [saved] = await t.db.query<Record<string, unknown>>(
      'SELECT * FROM report_deliveries WHERE report_id = $1',
      [addendumId],
    );
    const cols = Object.keys(saved!);
    await t.db.exec('ALTER TABLE report_deliveries DISABLE TRIGGER report_deliveries_immutable');
    try {
      await t.db.query('DELETE FROM report_deliveries WHERE report_id = $1', [addendumId]);
      const refusing = serviceWith(async () => ({
        status: 'tampered',
        reason: 'altered',
        certificate: null,
      }));
      await expect(refusing.deliver(addendumId)).rejects.toThrow(/does not verify \(tampered\); no copies/);
      expect(await t.db.query('SELECT 1 FROM report_deliveries WHERE report_id = $1', [addendumId])).toEqual(
        [],
      );
    } finally {
      await t.db.query(
        `INSERT INTO report_deliveries (${cols.join(', ')}) VALUES (${cols.map((_, i) => `$${i + 1}`).join(', ')})`,
        cols.map((c) => saved![c]),
      );
      await t.db.exec('ALTER TABLE report_deliveries ENABLE TRIGGER report_deliveries_immutable');
    }
    expect((await verify(addendumId)).copies).toMatchObject({
      pdf: { status: 'valid' },
      dicom: { status: 'valid' },
    });
  });

  it('all copies match: valid, with each copy judged', async () => {
    const v = await verify(reportId);
    expect(v).toMatchObject({
      status: 'valid',
      copies: { pdf: { status: 'valid' }, dicom: { status: 'valid' }, sr: { status: 'valid' } },
    });
  });

  it('the printed QR code verifies without an account, shows no patient data, and only with its code', async () => {
    const [row] = await t.db.query<{ verify_code: string }>(
      'SELECT code AS verify_code FROM report_verify_codes WHERE report_id = $1',
      [reportId],
    );
    const code = row!.verify_code;
    const pub = (c: string, id = reportId) =>
      t.app.inject({ method: 'GET', url: `/api/verify/reports/${id}?code=${encodeURIComponent(c)}` });
    const ok = await pub(code);
    expect(ok.statusCode, ok.body).toBe(200);
    expect(ok.json()).toMatchObject({
      reportId,
      status: 'valid',
      signerName: 'BS. Phạm Thị Đọc',
      demo: true,
      addendum: false,
    });
    expect(ok.body).not.toContain('Nguyễn');
    expect(ok.body).not.toContain(patientId);
    expect(ok.body).not.toContain('Tổn thương');
    // A wrong code, a malformed one, another report's id: one 404 (or 400) that reveals nothing.
    const wrong = await pub(`${code.slice(0, -1)}${code.endsWith('A') ? 'B' : 'A'}`);
    expect(wrong.statusCode).toBe(404);
    expect(wrong.json().message).toBe('No signed report matches this code.');
    expect((await pub('short')).statusCode).toBe(400);
    const other = await pub(code, '00000000-0000-4000-8000-000000000000');
    expect(other.statusCode).toBe(404);
    expect(other.body).toBe(wrong.body.replace(wrong.json().requestId, other.json().requestId));
    // Tampering shows through the public check too.
    const key = `report-pdf/${reportId}.pdf`;
    const original = (await api(t, w.tokens.doctor, 'GET', `/api/reports/${reportId}/pdf`)).rawPayload;
    const altered = Buffer.from(original);
    altered[altered.length - 20] = altered[altered.length - 20]! ^ 0x01;
    await t.app.s3.client.putObject(t.app.s3.bucket, key, altered, altered.length);
    try {
      expect((await pub(code)).json().status).toBe('tampered');
    } finally {
      await t.app.s3.client.putObject(t.app.s3.bucket, key, original, original.length);
    }
    expect((await pub(code)).json().status).toBe('valid');
  });

  it('the PDF in S3 altered: tampered, naming the PDF; restored: valid again', async () => {
    const d = await waitForDelivery(reportId);
    const key = `report-pdf/${reportId}.pdf`;
    const original = (await api(t, w.tokens.doctor, 'GET', `/api/reports/${reportId}/pdf`)).rawPayload;
    const altered = Buffer.from(original);
    const at = altered.indexOf('Tổn thương') >= 0 ? altered.indexOf('Tổn thương') : altered.length - 10;
    altered[at] = altered[at]! ^ 0x01;
    await t.app.s3.client.putObject(t.app.s3.bucket, key, altered, altered.length);
    const v = await verify(reportId);
    expect(v.status).toBe('tampered');
    expect(v.reason).toContain('PDF copy in S3');
    expect(v.copies).toMatchObject({
      pdf: { status: 'tampered', sha256: sha256(altered) },
      dicom: { status: 'valid' },
    });
    expect(v.copies.pdf.sha256).not.toBe(d.pdf.sha256);
    // The altered PDF is not handed out as the report.
    const served = await api(t, w.tokens.doctor, 'GET', `/api/reports/${reportId}/pdf`);
    expect(served.statusCode).toBe(409);
    expect(served.json().message).toContain('no longer matches the signed report');
    await t.app.s3.client.removeObject(t.app.s3.bucket, key);
    expect((await verify(reportId)).copies.pdf.status).toBe('missing');
    await t.app.s3.client.putObject(t.app.s3.bucket, key, original, original.length);
    expect(await verify(reportId)).toMatchObject({ status: 'valid', copies: { pdf: { status: 'valid' } } });
  });

  it('the DICOM copy in Orthanc altered: tampered, naming the DICOM copy; restored: valid again', async () => {
    const d = await waitForDelivery(reportId);
    const { bytes: original } = await orthancFile(d.dicom.sopInstanceUid);
    // 1. the PDF inside changed (same length, so still a well-formed object)
    const inner = Buffer.from(original);
    const pdfAt = inner.indexOf('%PDF-');
    inner[pdfAt + 200] = inner[pdfAt + 200]! ^ 0x01;
    await replaceInOrthanc(d.dicom.sopInstanceUid, inner);
    let v = await verify(reportId);
    expect(v.status).toBe('tampered');
    expect(v.reason).toContain('DICOM copy in the study');
    expect(v.copies).toMatchObject({
      pdf: { status: 'valid' },
      dicom: { status: 'tampered', reason: 'The PDF inside the DICOM copy differs from the signed PDF.' },
    });
    // 2. an attribute changed (the document title), the PDF intact
    const attr = Buffer.from(original);
    const title = Buffer.from('Kết quả chẩn đoán hình ảnh');
    const tAt = attr.indexOf(title);
    expect(tAt).toBeGreaterThan(0);
    Buffer.from('Kết quả chẩn đoán hình ảnX').copy(attr, tAt);
    await replaceInOrthanc(d.dicom.sopInstanceUid, attr);
    v = await verify(reportId);
    expect(v.copies.dicom).toMatchObject({
      status: 'tampered',
      reason: expect.stringContaining('attributes were changed'),
    });
    // 3. gone
    for (const id of await orthancInstancesOf(t.app.orthanc, d.dicom.sopInstanceUid))
      (await t.app.orthanc.request('DELETE', `/instances/${id}`)).body.resume();
    expect((await verify(reportId)).copies.dicom.status).toBe('missing');
    await replaceInOrthanc(d.dicom.sopInstanceUid, original);
    expect(await verify(reportId)).toMatchObject({ status: 'valid', copies: { dicom: { status: 'valid' } } });
  });

  it('the SR copy in Orthanc altered: tampered, naming the SR copy; restored: valid again', async () => {
    const d = await waitForDelivery(reportId);
    const { bytes: original } = await orthancFile(d.sr.sopInstanceUid);
    const altered = Buffer.from(original);
    const at = altered.indexOf(Buffer.from('Tổn thương gan nghi áp xe.'));
    expect(at).toBeGreaterThan(0);
    Buffer.from('Bình thường, không tổn.').copy(altered, at);
    await replaceInOrthanc(d.sr.sopInstanceUid, altered);
    const v = await verify(reportId);
    expect(v.status).toBe('tampered');
    expect(v.reason).toContain('SR copy in the study');
    expect(v.copies).toMatchObject({
      pdf: { status: 'valid' },
      dicom: { status: 'valid' },
      sr: { status: 'tampered', sha256: sha256(altered) },
    });
    await replaceInOrthanc(d.sr.sopInstanceUid, original);
    expect(await verify(reportId)).toMatchObject({ status: 'valid', copies: { sr: { status: 'valid' } } });
  });

  it('an unreachable S3 or Orthanc leaves that copy unjudged (unavailable), never a failed verification', async () => {
    const deadS3 = new ObjectStore({
      endpoint: 'http://127.0.0.1:9',
      region: 'us-east-1',
      accessKey: 'x',
      secretKey: 'y',
      bucket: t.app.s3.bucket,
    });
    const deadOrthanc = new OrthancClient({ url: 'http://127.0.0.1:9', username: 'x', password: 'y' });
    try {
      const r = (await new ReportRepo(t.db).byId(reportId))!;
      const copies = await new CopyVerifier({
        deliveries: new DeliveryRepo(t.db),
        orthanc: deadOrthanc,
        pdfObject: (row) =>
          serviceWith(async () => ({ status: 'valid', reason: '', certificate: null }), {
            s3: deadS3,
          }).pdfObject(row),
      }).verify(r);
      expect(copies).toMatchObject({
        pdf: { status: 'unavailable' },
        dicom: { status: 'unavailable' },
        sr: { status: 'unavailable' },
      });
      expect(copies.pdf.reason).toContain('S3');
      expect(copies.dicom.reason).toContain('Orthanc');
    } finally {
      await deadOrthanc.close();
    }
  });

  it('the database row altered: tampered (the record), while both copies still match their record', async () => {
    await t.db.exec('ALTER TABLE reports DISABLE TRIGGER reports_immutable');
    try {
      await t.db.query(
        `UPDATE reports SET fields = fields || '{"impression": "Bình thường."}' WHERE id = $1`,
        [reportId],
      );
      const v = await verify(reportId);
      expect(v.status).toBe('tampered');
      expect(v.reason).not.toContain('copy');
      expect(v.copies).toMatchObject({ pdf: { status: 'valid' }, dicom: { status: 'valid' } });
    } finally {
      await t.db.query(
        `UPDATE reports SET fields = fields || '{"impression": "Tổn thương gan nghi áp xe."}' WHERE id = $1`,
        [reportId],
      );
      await t.db.exec('ALTER TABLE reports ENABLE TRIGGER reports_immutable');
    }
    expect((await verify(reportId)).status).toBe('valid');
  });
});

describe('FHIR R4 for hospital systems', () => {
  it('ServiceRequest and DiagnosticReport as application/fhir+json, with the PDF as presentedForm', async () => {
    const sr = await api(t, w.tokens.doctor, 'GET', `/api/fhir/ServiceRequest/${requestId}`);
    expect(sr.statusCode, sr.body).toBe(200);
    expect(sr.headers['content-type']).toMatch(/^application\/fhir\+json/);
    expect(sr.json()).toMatchObject({
      resourceType: 'ServiceRequest',
      id: requestId,
      status: 'completed',
      intent: 'order',
      priority: 'urgent',
      subject: { reference: '#patient' },
      supportingInfo: [{ identifier: { system: 'urn:dicom:uid', value: `urn:oid:${studyUid}` } }],
    });
    const pat = sr.json().contained.find((c: { resourceType: string }) => c.resourceType === 'Patient');
    expect(pat).toMatchObject({
      identifier: [{ value: patientId }],
      name: [{ family: 'Nguyễn' }],
      gender: 'female',
    });

    const dr = await api(t, w.tokens.doctor, 'GET', `/api/fhir/DiagnosticReport/${reportId}`);
    expect(dr.statusCode, dr.body).toBe(200);
    expect(dr.headers['content-type']).toMatch(/^application\/fhir\+json/);
    const pdf = (await api(t, w.tokens.doctor, 'GET', `/api/reports/${reportId}/pdf`)).rawPayload;
    expect(dr.json()).toMatchObject({
      resourceType: 'DiagnosticReport',
      status: 'appended',
      basedOn: [{ reference: `ServiceRequest/${requestId}` }],
      conclusion: 'Tổn thương gan nghi áp xe.',
      resultsInterpreter: [{ display: 'BS. Phạm Thị Đọc' }],
      presentedForm: [
        {
          contentType: 'application/pdf',
          url: `https://radlink.test/api/reports/${reportId}/pdf`,
          size: pdf.length,
          hash: createHash('sha1').update(pdf).digest('base64'),
        },
      ],
      extension: [{ valueReference: { reference: `DiagnosticReport/${addendumId}` } }],
    });
    expect(dr.json().result).toHaveLength(2);
    const add = (await api(t, w.tokens.doctor, 'GET', `/api/fhir/DiagnosticReport/${addendumId}`)).json();
    expect(add).toMatchObject({ status: 'final', conclusion: 'Bổ sung: có dịch quanh gan lượng ít.' });

    for (const q of [`study=${studyUid}`, `patient=${patientId}`]) {
      const b = await api(t, w.tokens.doctor, 'GET', `/api/fhir/DiagnosticReport?${q}`);
      expect(b.statusCode, b.body).toBe(200);
      expect(b.json()).toMatchObject({ resourceType: 'Bundle', type: 'searchset', total: 1 });
      expect(b.json().entry[0].resource.id).toBe(reportId);
    }
    const none = await api(t, w.tokens.otherRad, 'GET', `/api/fhir/DiagnosticReport?study=${studyUid}`);
    expect(none.json()).toMatchObject({ resourceType: 'Bundle', total: 0 });
    expect((await api(t, w.tokens.doctor, 'GET', '/api/fhir/DiagnosticReport')).statusCode).toBe(400);
    expect((await api(t, w.tokens.doctor, 'GET', '/api/fhir/DiagnosticReport?study=abc')).statusCode).toBe(
      400,
    );
    expect((await api(t, w.tokens.doctor, 'GET', '/api/fhir/DiagnosticReport/not-a-uuid')).statusCode).toBe(
      400,
    );
  });
});

describe('the study as DICOM media (zip with DICOMDIR)', () => {
  it('DCMTK reads the DICOMDIR; every referenced file is in the zip, byte-identical to Orthanc', async () => {
    const res = await api(t, w.tokens.doctor, 'GET', `/api/studies/${studyUid}/media.zip`);
    expect(res.statusCode, res.body.slice(0, 300)).toBe(200);
    expect(res.headers['content-type']).toBe('application/zip');
    const files = unzipSync(new Uint8Array(res.rawPayload));
    const names = Object.keys(files);
    expect(names).toContain('DICOMDIR');
    // PS3.10 file IDs: up to 8 components of up to 8 characters from A-Z 0-9 _.
    for (const n of names) for (const c of n.split('/')) expect(c).toMatch(/^[A-Z0-9_]{1,8}$/);

    const dir = mkdtempSync(join(tmpdir(), 'radlink-media-'));
    try {
      for (const [n, b] of Object.entries(files)) {
        mkdirSync(dirname(join(dir, n)), { recursive: true });
        writeFileSync(join(dir, n), b);
      }
      const dump = execFileSync('dcmdump', ['+L', join(dir, 'DICOMDIR')]).toString();
      const referenced = [...dump.matchAll(/\(0004,1500\) CS \[([^\]]+)\]/g)].map((m) =>
        m[1]!.replace(/\\/g, '/'),
      );
      const records = [...dump.matchAll(/\(0004,1430\) CS \[([^\]]+)\]/g)].map((m) => m[1]!.trim());
      expect(records.filter((r) => r === 'PATIENT')).toHaveLength(1);
      expect(records.filter((r) => r === 'STUDY')).toHaveLength(1);
      expect(records.filter((r) => r === 'SERIES')).toHaveLength(4);
      expect(records.filter((r) => r === 'SR DOCUMENT')).toHaveLength(2);
      expect(records.filter((r) => r === 'IMAGE')).toHaveLength(3);
      expect(records.filter((r) => r === 'ENCAP DOC')).toHaveLength(2);
      expect(referenced.sort()).toEqual(names.filter((n) => n !== 'DICOMDIR').sort());
      // DCMTK's own check of the file-set: re-scanning the extracted files validates them against the profile.
      execFileSync('dcmmkdir', ['-q', '-w', '+r', '-Nxc', '+I', 'DICOM'], { cwd: dir });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    // Byte-identical to what Orthanc stores, for every instance of the study.
    const sops = await t.db.query<{ sop_instance_uid: string }>(
      'SELECT sop_instance_uid FROM instances WHERE study_uid = $1',
      [studyUid],
    );
    expect(sops).toHaveLength(7);
    const inZip = new Set(
      Object.entries(files)
        .filter(([n]) => n !== 'DICOMDIR')
        .map(([, b]) => sha256(b)),
    );
    for (const { sop_instance_uid } of sops)
      expect(inZip.has(sha256((await orthancFile(sop_instance_uid)).bytes))).toBe(true);
    for (const i of instances) expect(inZip.has(sha256(i.bytes))).toBe(true);

    const audit = await t.db.query<{ outcome: string }>(
      `SELECT outcome FROM audit_events WHERE action = 'study.media.download' AND study_uid = $1`,
      [studyUid],
    );
    expect(audit).toEqual([{ outcome: 'success' }]);
  });
});

describe('the delivery queue', () => {
  it('retries a transient S3 failure and then delivers (a fresh queue, a flaky object store)', async () => {
    // Start over for the addendum: no record, no DICOM copy (as if it had never been delivered).
    const before = await waitForDelivery(addendumId);
    for (const id of await orthancInstancesOf(t.app.orthanc, before.dicom.sopInstanceUid))
      (await t.app.orthanc.request('DELETE', `/instances/${id}`)).body.resume();
    await t.db.exec('ALTER TABLE report_deliveries DISABLE TRIGGER report_deliveries_immutable');
    try {
      await t.db.query('DELETE FROM report_deliveries WHERE report_id = $1', [addendumId]);
    } finally {
      await t.db.exec('ALTER TABLE report_deliveries ENABLE TRIGGER report_deliveries_immutable');
    }
    let failures = 0;
    const real = t.app.s3;
    const flaky = {
      bucket: real.bucket,
      client: new Proxy(real.client, {
        get(target, prop, receiver) {
          if (prop === 'putObject' && failures < 2)
            return async () => {
              failures++;
              throw Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
            };
          const v = Reflect.get(target, prop, receiver);
          return typeof v === 'function' ? v.bind(target) : v;
        },
      }),
    } as unknown as ObjectStore;
    const verifyReal = async (r: Parameters<ServiceDeps['verify']>[0]) =>
      (await api(t, w.tokens.rad1, 'GET', `/api/reports/${r.id}/verify`)).json();
    const queue = new DeliveryQueue({
      redis: t.app.redis,
      redisUrl: t.config.REDIS_URL,
      prefix: `dlvq${Date.now()}`,
      service: serviceWith(verifyReal, { s3: flaky }),
      deliveries: new DeliveryRepo(t.db),
      registry: new Registry(),
      log: t.app.log,
    });
    try {
      await queue.start();
      await queue.enqueue(addendumId);
      const d = await waitForDelivery(addendumId);
      expect(failures).toBe(2);
      expect(d.dicom.sopInstanceUid).toBe(before.dicom.sopInstanceUid);
    } finally {
      await queue.stop();
    }
    expect(await verify(addendumId)).toMatchObject({
      status: 'valid',
      copies: { pdf: { status: 'valid' }, dicom: { status: 'valid' } },
    });
  });
});

describe('scope', () => {
  it('a third facility sees nothing: 404 on every delivery route', async () => {
    for (const token of [w.tokens.otherRad, w.tokens.otherDoctor]) {
      for (const url of [
        `/api/reports/${reportId}/delivery`,
        `/api/reports/${reportId}/pdf`,
        `/api/fhir/DiagnosticReport/${reportId}`,
        `/api/fhir/ServiceRequest/${requestId}`,
        `/api/studies/${studyUid}/media.zip`,
      ])
        expect((await api(t, token, 'GET', url)).statusCode, url).toBe(404);
    }
    expect((await api(t, w.tokens.doctor, 'GET', `/api/studies/${newUid()}/media.zip`)).statusCode).toBe(404);
    expect((await api(t, w.tokens.doctor, 'GET', '/api/studies/1.2.x/media.zip')).statusCode).toBe(400);
  });

  it('every delivery route is documented in the OpenAPI description', async () => {
    const docs = await t.app.inject({ method: 'GET', url: '/api/docs/json' });
    expect(docs.statusCode).toBe(200);
    const paths = Object.keys(docs.json().paths);
    for (const p of [
      '/api/reports/{reportId}/delivery',
      '/api/reports/{reportId}/pdf',
      '/api/reports/{reportId}/measurements',
      '/api/fhir/ServiceRequest/{requestId}',
      '/api/fhir/DiagnosticReport/{reportId}',
      '/api/fhir/DiagnosticReport',
      '/api/studies/{studyUid}/media.zip',
    ])
      expect(paths, p).toContain(p);
  });
});
