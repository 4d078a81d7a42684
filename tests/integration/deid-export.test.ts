/**
 * The research export end to end: demo studies (scripts/demo/synth, Vietnamese patients with
 * hospital, BHXH and CCCD identifiers) stored through STOW, exported de-identified by a facility
 * admin, built into a zip in S3, downloaded and opened: every instance is there under new UIDs with
 * consistent studies, series and frames of reference, no original name, ID, date or UID occurs in
 * any byte of the zip, the pixel data equals the originals', an object declaring burned-in
 * annotation is refused, and creation, completion and download are audited. Studies outside the
 * caller's scope answer 404; clinical roles may not export.
 */
import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { unzipSync } from 'fflate';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_PATIENTS } from '../../scripts/demo/patients.js';
import { generateStudy } from '../../scripts/demo/synth/index.js';
import { MIN_PART_BYTES, uploadStream } from '../../server/src/deid/s3-upload.js';
import { bearer, buildTestApp, type TestApp } from '../helpers/app.js';
import { facilityUser, stow } from '../helpers/dicomweb.js';
import { datedInstance } from './ops-helpers.js';

type Ds = Record<string, { vr: string; Value?: unknown[] }>;
const dcmjs = createRequire(import.meta.url)('dcmjs') as {
  data: { DicomMessage: { readFile(b: ArrayBuffer): { meta: Ds; dict: Ds } } };
};
const read = (b: Uint8Array) =>
  dcmjs.data.DicomMessage.readFile(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer);
const v = (d: Ds, tag: string) => String(d[tag]?.Value?.[0] ?? '');
const pixels = (d: Ds) => Buffer.from(d['7FE00010']!.Value![0] as ArrayBuffer).toString('base64');

const sfx = randomBytes(3).toString('hex');
const F = `bv-export-${sfx}`;
let t: TestApp;
let rad: string;
let fadmin: string;
let otherAdmin: string;
beforeAll(async () => {
  t = await buildTestApp({ name: 'deid-export' });
  rad = await facilityUser(t, F, `exp.rad.${sfx}`);
  fadmin = await facilityUser(t, F, `exp.adm.${sfx}`, 'facility_admin');
  otherAdmin = await facilityUser(t, `bv-export-other-${sfx}`, `exp.oth.${sfx}`, 'facility_admin');
});
afterAll(async () => t?.close());

describe('de-identified export', () => {
  it('exports demo studies as a zip with no identifying value left and consistent UIDs', async () => {
    // Fresh UIDs per run (the demo generator is deterministic per seed; the Orthanc is shared).
    const seed = 1000 + Math.floor(Math.random() * 1e6);
    const patient = DEMO_PATIENTS[2]!;
    const ct = generateStudy({ seed, patient, modality: 'CT', rows: 64, cols: 64, slices: 6, lesions: [] });
    const mr = generateStudy({
      seed: seed + 1,
      patient,
      modality: 'MR',
      rows: 48,
      cols: 48,
      slices: 4,
      lesions: [],
    });
    const originals = [...ct.series, ...mr.series].flatMap((s) => s.instances.map((b) => Buffer.from(b)));
    // One object in the CT study that declares burned-in annotation: must be refused.
    const burned = datedInstance({
      studyUid: ct.study.studyUid,
      patientId: ct.study.patientId,
      patientName: 'Burned^In',
      studyDate: ct.study.studyDate,
      extra: { '00280301': { vr: 'CS', Value: ['YES'] } },
    });
    for (const b of [...originals, burned.bytes]) expect((await stow(t, rad, [b])).statusCode).toBe(200);

    const studyUids = [ct.study.studyUid, mr.study.studyUid];
    const create = (tok: string, uids: string[]) =>
      t.app.inject({
        method: 'POST',
        url: '/api/exports',
        headers: bearer(tok),
        payload: { studyUids: uids, purpose: 'Huấn luyện mô hình phát hiện u gan' },
      });
    expect((await create(rad, studyUids)).statusCode).toBe(403);
    expect((await create(otherAdmin, studyUids)).statusCode).toBe(404);
    const t0 = Date.now();
    const res = await create(fadmin, studyUids);
    expect(res.statusCode, res.body).toBe(202);
    const id = res.json().id as string;
    let status: Record<string, unknown> = res.json();
    while (status.status === 'running') {
      await new Promise((r) => setTimeout(r, 200));
      status = (
        await t.app.inject({ method: 'GET', url: `/api/exports/${id}`, headers: bearer(fadmin) })
      ).json();
    }
    const ms = Date.now() - t0;
    expect(status).toMatchObject({ status: 'done', studies: 2, instances: originals.length, refused: 1 });
    expect(
      (await t.app.inject({ method: 'GET', url: `/api/exports/${id}`, headers: bearer(otherAdmin) }))
        .statusCode,
    ).toBe(404);
    const dl = await t.app.inject({
      method: 'GET',
      url: status.downloadUrl as string,
      headers: bearer(fadmin),
    });
    expect(dl.statusCode).toBe(200);
    expect(dl.headers['content-type']).toBe('application/zip');
    const zipBytes = dl.rawPayload;
    console.log(
      `export: ${originals.length} instances of 2 studies de-identified into ${zipBytes.length} bytes in ${ms} ms`,
    );
    // The object key in S3 is flat and carries no patient data.
    const [row] = await t.db.query<{ s3_key: string }>('SELECT s3_key FROM exports WHERE id = $1', [id]);
    expect(row!.s3_key).toBe(`export-${id}.zip`);

    // No original identifying value anywhere in the zip (compressed entries are checked inflated).
    const files = unzipSync(new Uint8Array(zipBytes));
    const all = Buffer.concat(Object.values(files).map((f) => Buffer.from(f)));
    const before = originals.map((b) => read(b).dict);
    const identifying = new Set<string>();
    for (const d of before) {
      for (const tag of [
        '0020000D',
        '0020000E',
        '00080018',
        '00200052',
        '00100020',
        '00080050',
        '00100030',
        '00080020',
      ]) {
        const s = v(d, tag);
        if (s.length >= 4) identifying.add(s);
      }
      for (const part of String(
        (d['00100010']?.Value?.[0] as { Alphabetic?: string })?.Alphabetic ?? '',
      ).split(/[\^ ]/))
        if (part.length >= 3) identifying.add(part);
      for (const item of (d['00101002']?.Value ?? []) as Ds[]) identifying.add(v(item, '00100020'));
    }
    identifying.add(ct.study.patientId);
    expect(identifying.size).toBeGreaterThan(10);
    const leaked = [...identifying].filter(
      (s) => all.includes(Buffer.from(s, 'utf8')) || all.includes(Buffer.from(s, 'latin1')),
    );
    expect(leaked).toEqual([]);

    const dcms = Object.entries(files).filter(([n]) => n.endsWith('.dcm'));
    expect(dcms).toHaveLength(originals.length);
    const after = dcms.map(([name, b]) => ({ name, d: read(b).dict }));
    for (const { name, d } of after) {
      expect(name).toBe(`${v(d, '0020000D')}/${v(d, '0020000E')}/${v(d, '00080018')}.dcm`);
      expect(v(d, '00120062')).toBe('YES');
      expect(v(d, '00100020')).toMatch(/^ANON-/);
    }
    // Two studies in, two out; each study keeps one frame of reference; the patient one pseudonym.
    expect(new Set(after.map((a) => v(a.d, '0020000D'))).size).toBe(2);
    expect(new Set(after.map((a) => v(a.d, '0020000E'))).size).toBe(ct.series.length + mr.series.length);
    expect(new Set(after.map((a) => `${v(a.d, '0020000D')}|${v(a.d, '00200052')}`)).size).toBe(2);
    expect(new Set(after.map((a) => v(a.d, '00100020'))).size).toBe(1);
    // Pixel data unchanged: the same set of pixel payloads.
    expect(after.map((a) => pixels(a.d)).sort()).toEqual(before.map((d) => pixels(d)).sort());
    const manifest = JSON.parse(Buffer.from(files['manifest.json']!).toString('utf8'));
    expect(manifest.refused).toEqual([expect.objectContaining({ reason: 'burned-in-annotation', count: 1 })]);

    const audits = await t.db.query<{ action: string; outcome: string }>(
      `SELECT action, outcome FROM audit_events WHERE action LIKE 'export.%' AND (detail->>'exportId') = $1 ORDER BY id`,
      [id],
    );
    expect(audits.map((a) => `${a.action}:${a.outcome}`)).toEqual([
      'export.create:success',
      'export.build:success',
      'export.download:success',
    ]);
  });

  it('streams a large zip to S3 as a multipart upload with bounded parts', async () => {
    const key = `export-test-${sfx}.bin`;
    const data = randomBytes(12 * 1024 * 1024 + 17);
    async function* chunks() {
      for (let i = 0; i < data.length; i += 1 << 20) yield data.subarray(i, i + (1 << 20));
    }
    expect(await uploadStream(t.app.s3, key, chunks(), 'application/octet-stream', MIN_PART_BYTES)).toBe(
      data.length,
    );
    const got: Buffer[] = [];
    for await (const c of await t.app.s3.client.getObject(t.app.s3.bucket, key)) got.push(c as Buffer);
    expect(Buffer.concat(got).equals(data)).toBe(true);
    await t.app.s3.client.removeObject(t.app.s3.bucket, key);
  });
});
