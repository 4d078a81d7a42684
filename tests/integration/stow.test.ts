/**
 * STOW-RS against the real stack: PS3.18 status semantics (200/202/409/400/415), per-instance
 * FailureReason codes, idempotent re-send, a different object under a known SOP Instance UID
 * refused with the stored one intact, another facility's study refused without naming the owner,
 * the audit trail's per-instance outcomes, and the real dicomweb-client as the sender.
 */
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearer, buildTestApp, type TestApp } from '../helpers/app.js';
import { CT_IMAGE_STORAGE, EXPLICIT_LE, makeInstance, newUid } from '../helpers/dicom.js';
import { dicomwebClient, facilityUser, stow, stowOutcomes, toArrayBuffer } from '../helpers/dicomweb.js';

let t: TestApp;
let tokA: string;
let tokB: string;
let base: string;

beforeAll(async () => {
  t = await buildTestApp({ name: 'stow' });
  tokA = await facilityUser(t, 'bv-stow-a', 'stow.a');
  tokB = await facilityUser(t, 'bv-stow-b', 'stow.b');
  await t.app.listen({ host: '127.0.0.1', port: 0 });
  base = `http://127.0.0.1:${(t.app.server.address() as AddressInfo).port}`;
});
afterAll(async () => t?.close());

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

async function storedBytes(study: string, series: string, sop: string, token = tokA): Promise<Buffer> {
  const res = await t.app.inject({
    method: 'GET',
    url: `/wado?requestType=WADO&studyUID=${study}&seriesUID=${series}&objectUID=${sop}&contentType=application/dicom`,
    headers: bearer(token),
  });
  expect(res.statusCode, res.body).toBe(200);
  return res.rawPayload;
}

describe('STOW-RS status codes', () => {
  it('200 when every instance is stored, with ReferencedSOPSequence and RetrieveURLs; indexed and attributed', async () => {
    const a = makeInstance();
    const b = makeInstance({ studyUid: a.studyUid, seriesUid: a.seriesUid, instanceNumber: 2 });
    const res = await stow(t, tokA, [a.bytes, b.bytes]);
    expect(res.statusCode, res.body).toBe(200);
    expect(res.headers['content-type']).toMatch(/^application\/dicom\+json/);
    const body = res.json();
    const { stored, failed } = stowOutcomes(body);
    expect(stored.sort()).toEqual([a.sopInstanceUid, b.sopInstanceUid].sort());
    expect(failed.size).toBe(0);
    expect(body['00081190'].Value[0]).toMatch(new RegExp(`/dicom-web/studies/${a.studyUid}$`));
    const item = body['00081199'].Value.find(
      (i: Record<string, { Value: string[] }>) => i['00081155']!.Value[0] === a.sopInstanceUid,
    );
    expect(item['00081150'].Value[0]).toBe(a.sopClassUid);
    expect(item['00081190'].Value[0]).toMatch(
      new RegExp(`/dicom-web/studies/${a.studyUid}/series/${a.seriesUid}/instances/${a.sopInstanceUid}$`),
    );
    const rows = await t.db.query<{
      facility_id: string;
      sha256: string;
      source: string;
      size_bytes: string;
    }>(
      `SELECT s.facility_id, i.sha256, i.source, i.size_bytes FROM instances i JOIN studies s USING (study_uid)
        WHERE i.sop_instance_uid = $1`,
      [a.sopInstanceUid],
    );
    expect(rows[0]).toMatchObject({ facility_id: 'bv-stow-a', sha256: sha(a.bytes), source: 'stow' });
    expect(Number(rows[0]!.size_bytes)).toBe(a.bytes.length);
    expect((await storedBytes(a.studyUid, a.seriesUid, a.sopInstanceUid)).equals(a.bytes)).toBe(true);
  });

  it('202 when some instances fail, each failure with its reason; the audit trail has per-instance outcomes', async () => {
    const good = makeInstance();
    const noSop = makeInstance({ omit: ['SOPInstanceUID'] });
    const badPixels = makeInstance({ rows: 32, columns: 32, pixelBytes: 100 });
    const res = await stow(t, tokA, [
      good.bytes,
      noSop.bytes,
      badPixels.bytes,
      Buffer.from('not dicom at all'),
    ]);
    expect(res.statusCode, res.body).toBe(202);
    const { stored, failed } = stowOutcomes(res.json());
    expect(stored).toEqual([good.sopInstanceUid]);
    expect(failed.get(badPixels.sopInstanceUid)).toBe(0xa900);
    const reasons = (res.json()['00081198'].Value as Record<string, { Value: number[] }>[]).map(
      (i) => i['00081197']!.Value[0],
    );
    expect(reasons.filter((r) => r === 0xc000)).toHaveLength(2);
    const audit = await t.db.query<{
      detail: { stored: number; failed: number; instances: { outcome: string; reason?: number }[] };
    }>(
      "SELECT detail FROM audit_events WHERE action = 'dicomweb.stow' AND study_uid IS NULL OR study_uid = $1 ORDER BY id DESC LIMIT 1",
      [good.studyUid],
    );
    expect(audit[0]!.detail).toMatchObject({ stored: 1, failed: 3 });
    expect(audit[0]!.detail.instances.map((i) => i.outcome).sort()).toEqual([
      'failed',
      'failed',
      'failed',
      'stored',
    ]);
  });

  it('409 when no instance is stored; the study UID of the URL is enforced (0xA900)', async () => {
    const a = makeInstance();
    const res = await stow(t, tokA, [a.bytes], newUid());
    expect(res.statusCode, res.body).toBe(409);
    expect(stowOutcomes(res.json()).failed.get(a.sopInstanceUid)).toBe(0xa900);
    // Into its own study through the study URL: fine.
    expect((await stow(t, tokA, [a.bytes], a.studyUid)).statusCode).toBe(200);
  });

  it('400 for a malformed multipart body, 415 for other media types', async () => {
    const bad = await t.app.inject({
      method: 'POST',
      url: '/dicom-web/studies',
      headers: {
        ...bearer(tokA),
        'content-type': 'multipart/related; type="application/dicom"; boundary=xyz',
      },
      payload: Buffer.from('--xyz\r\nContent-Type: application/dicom\r\n\r\ntruncated'),
    });
    expect(bad.statusCode, bad.body).toBe(400);
    const noBoundary = await t.app.inject({
      method: 'POST',
      url: '/dicom-web/studies',
      headers: { ...bearer(tokA), 'content-type': 'multipart/related; type="application/dicom"' },
      payload: Buffer.from('x'),
    });
    expect(noBoundary.statusCode).toBe(400);
    for (const ct of [
      'application/dicom',
      'application/json',
      'multipart/related; type="application/dicom+json"; boundary=b',
    ]) {
      const res = await t.app.inject({
        method: 'POST',
        url: '/dicom-web/studies',
        headers: { ...bearer(tokA), 'content-type': ct },
        payload: ct === 'application/json' ? '{}' : Buffer.from('--b\r\n\r\n{}\r\n--b--'),
      });
      expect(res.statusCode, `${ct}: ${res.body}`).toBe(415);
    }
  });

  it('refuses an instance larger than the per-instance limit (0xA700) and keeps the ones before it', async () => {
    const small = await buildTestApp({
      name: 'stow-limit',
      env: { RADLINK_STOW_MAX_INSTANCE_BYTES: '4096' },
    });
    try {
      const tok = await small.adminToken();
      const a = makeInstance();
      const big = makeInstance({ rows: 64, columns: 64 });
      const res = await stow(small, tok, [a.bytes, big.bytes]);
      expect(res.statusCode, res.body).toBe(202);
      const { stored, failed } = stowOutcomes(res.json());
      expect(stored).toEqual([a.sopInstanceUid]);
      expect([...failed.values()]).toEqual([0xa700]);
    } finally {
      await small.close();
    }
  });
});

/** A CT Image Storage object without Pixel Data: storable, but not what its SOP class says. */
function ctWithoutPixels(): { bytes: Buffer; studyUid: string; seriesUid: string; sopInstanceUid: string } {
  const { DicomDict, DicomMetaDictionary } = (
    createRequire(import.meta.url)('dcmjs') as {
      data: {
        DicomDict: new (meta: unknown) => { dict: unknown; write(): ArrayBuffer };
        DicomMetaDictionary: { denaturalizeDataset(ds: Record<string, unknown>): unknown };
      };
    }
  ).data;
  const ids = { studyUid: newUid(), seriesUid: newUid(), sopInstanceUid: newUid() };
  const dict = new DicomDict(
    DicomMetaDictionary.denaturalizeDataset({
      FileMetaInformationVersion: new Uint8Array([0, 1]).buffer,
      MediaStorageSOPClassUID: CT_IMAGE_STORAGE,
      MediaStorageSOPInstanceUID: ids.sopInstanceUid,
      TransferSyntaxUID: EXPLICIT_LE,
      ImplementationClassUID: '2.25.1',
    }),
  );
  dict.dict = DicomMetaDictionary.denaturalizeDataset({
    SpecificCharacterSet: 'ISO_IR 192',
    SOPClassUID: CT_IMAGE_STORAGE,
    SOPInstanceUID: ids.sopInstanceUid,
    StudyInstanceUID: ids.studyUid,
    SeriesInstanceUID: ids.seriesUid,
    PatientName: 'Trịnh^Thị Cảnh',
    PatientID: `W-${ids.sopInstanceUid.slice(-8)}`,
    Modality: 'CT',
  });
  return { bytes: Buffer.from(dict.write()), ...ids };
}

describe('STOW-RS warnings', () => {
  it('stores an object that contradicts its SOP class with WarningReason 0xB007, answering 202', async () => {
    const warned = ctWithoutPixels();
    const clean = makeInstance();
    const res = await stow(t, tokA, [clean.bytes, warned.bytes]);
    expect(res.statusCode, res.body).toBe(202);
    const body = res.json();
    const { stored, failed } = stowOutcomes(body);
    expect(stored.sort()).toEqual([clean.sopInstanceUid, warned.sopInstanceUid].sort());
    expect(failed.size).toBe(0);
    const item = (uid: string) =>
      body['00081199'].Value.find(
        (i: Record<string, { Value: string[] }>) => i['00081155']!.Value[0] === uid,
      );
    expect(item(clean.sopInstanceUid)['00081196']).toBeUndefined();
    expect(item(warned.sopInstanceUid)['00081196']).toEqual({ vr: 'US', Value: [0xb007] });
    expect(item(warned.sopInstanceUid)['00000902'].Value[0]).toBe(
      'An image storage SOP class without Pixel Data.',
    );
    // Stored as sent, and indexed.
    const back = await storedBytes(warned.studyUid, warned.seriesUid, warned.sopInstanceUid);
    expect(sha(back)).toBe(sha(warned.bytes));
    // Re-sending it is idempotent and warns again; the audit trail records the warning.
    const again = await stow(t, tokA, [warned.bytes]);
    expect(again.statusCode, again.body).toBe(202);
    expect(again.json()['00081199'].Value[0]['00081196'].Value[0]).toBe(0xb007);
    const [audit] = await t.db.query<{ detail: { instances: { outcome: string; warning?: number }[] } }>(
      `SELECT detail FROM audit_events WHERE action = 'dicomweb.stow' AND study_uid = $1 ORDER BY id DESC LIMIT 1`,
      [warned.studyUid],
    );
    expect(audit?.detail.instances[0]).toMatchObject({ outcome: 'already-stored', warning: 0xb007 });
  });
});

describe('identity of SOP instances', () => {
  it('re-sending the identical instance is an idempotent success', async () => {
    const a = makeInstance();
    expect((await stow(t, tokA, [a.bytes])).statusCode).toBe(200);
    const again = await stow(t, tokA, [a.bytes, a.bytes]);
    expect(again.statusCode, again.body).toBe(200);
    expect(stowOutcomes(again.json()).stored).toEqual([a.sopInstanceUid, a.sopInstanceUid]);
    const n = await t.db.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM instances WHERE sop_instance_uid = $1',
      [a.sopInstanceUid],
    );
    expect(n[0]!.n).toBe(1);
  });

  it('refuses a different object under a stored SOP Instance UID (0x0111) and leaves the stored one intact', async () => {
    const a = makeInstance();
    expect((await stow(t, tokA, [a.bytes])).statusCode).toBe(200);
    // Same UIDs, different pixels — and a different PatientID, which Orthanc alone would store as a second instance.
    const impostor = makeInstance({
      studyUid: a.studyUid,
      seriesUid: a.seriesUid,
      sopInstanceUid: a.sopInstanceUid,
      seed: 7,
      patientId: 'RL-OTHER',
    });
    // Same PatientID too: Orthanc would answer AlreadyStored and keep the first.
    const sameUidsSamePatient = makeInstance({
      studyUid: a.studyUid,
      seriesUid: a.seriesUid,
      sopInstanceUid: a.sopInstanceUid,
      seed: 9,
    });
    const res = await stow(t, tokA, [impostor.bytes]);
    expect(res.statusCode, res.body).toBe(409);
    const failedItem = res.json()['00081198'].Value[0];
    expect(failedItem['00081197'].Value[0]).toBe(0x0111);
    expect(failedItem['00000902'].Value[0]).toMatch(/different object/i);
    expect((await stow(t, tokA, [sameUidsSamePatient.bytes])).statusCode).toBe(409);
    expect((await storedBytes(a.studyUid, a.seriesUid, a.sopInstanceUid)).equals(a.bytes)).toBe(true);
    // Orthanc holds exactly one object under that UID.
    const look = await t.app.orthanc.request('POST', '/tools/lookup', { body: a.sopInstanceUid });
    expect((JSON.parse(await look.body.text()) as unknown[]).length).toBe(1);
  });

  it('two parts with the same UID and different bytes in one request: the first wins', async () => {
    const a = makeInstance();
    const b = makeInstance({
      studyUid: a.studyUid,
      seriesUid: a.seriesUid,
      sopInstanceUid: a.sopInstanceUid,
      seed: 3,
    });
    const res = await stow(t, tokA, [a.bytes, b.bytes]);
    expect(res.statusCode, res.body).toBe(202);
    expect((await storedBytes(a.studyUid, a.seriesUid, a.sopInstanceUid)).equals(a.bytes)).toBe(true);
  });
});

describe('facility ownership', () => {
  it("refuses instances into another facility's study (0x0124) without saying whose it is", async () => {
    const a = makeInstance();
    expect((await stow(t, tokA, [a.bytes])).statusCode).toBe(200);
    const intruder = makeInstance({ studyUid: a.studyUid });
    const res = await stow(t, tokB, [intruder.bytes]);
    expect(res.statusCode, res.body).toBe(409);
    expect(stowOutcomes(res.json()).failed.get(intruder.sopInstanceUid)).toBe(0x0124);
    expect(res.body).not.toContain('bv-stow-a');
    expect(res.body).not.toMatch(/stow\.a|Bệnh viện/);
    const n = await t.db.query('SELECT 1 FROM instances WHERE sop_instance_uid = $1', [
      intruder.sopInstanceUid,
    ]);
    expect(n).toHaveLength(0);
    // The same request through the study URL: same answer, and a 404 for facility B's WADO.
    expect((await stow(t, tokB, [intruder.bytes], a.studyUid)).statusCode).toBe(409);
    const wado = await t.app.inject({
      method: 'GET',
      url: `/dicom-web/studies/${a.studyUid}/metadata`,
      headers: bearer(tokB),
    });
    expect(wado.statusCode).toBe(404);
  });
});

describe('a real client', () => {
  it('dicomweb-client storeInstances stores Vietnamese-named instances and retrieveInstance returns them byte-identical', async () => {
    const client = dicomwebClient(base, tokA);
    const a = makeInstance({ patientName: 'Đặng^Thị Ngọc Ánh' });
    const b = makeInstance({
      studyUid: a.studyUid,
      seriesUid: a.seriesUid,
      patientName: 'Đặng^Thị Ngọc Ánh',
    });
    await client.storeInstances({ datasets: [toArrayBuffer(a.bytes), toArrayBuffer(b.bytes)] });
    const got = await client.retrieveInstance({
      studyInstanceUID: a.studyUid,
      seriesInstanceUID: a.seriesUid,
      sopInstanceUID: b.sopInstanceUid,
    });
    expect(Buffer.from(got).equals(b.bytes)).toBe(true);
    const rows = await t.db.query<{ patient_name: string }>(
      'SELECT patient_name FROM studies WHERE study_uid = $1',
      [a.studyUid],
    );
    expect(rows[0]!.patient_name).toBe('Đặng^Thị Ngọc Ánh');
  });
});
