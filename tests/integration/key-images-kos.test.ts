/**
 * Key images published into the study as a DICOM Key Object Selection, against the real stack
 * (Orthanc, the index): a radiologist marks a slice with a Vietnamese note and one frame of a
 * multi-frame image; the study then has exactly one KO series with one instance through the
 * gateway's QIDO and WADO, whose content references exactly those images (SOP class and
 * instance, the frame number, the note, the patient's Vietnamese name intact). Changing the list
 * (also with concurrent marks) replaces it: the old KOS is gone from Orthanc and the index and
 * the new one holds the new list. Emptying the list removes it. A publication that fails (Orthanc
 * unreachable, or a run dying between storing and recording) is recorded without touching the
 * marks, and the next change publishes the whole list and removes whatever was left behind.
 */
import { randomBytes } from 'node:crypto';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseMultipartRelated } from '../../server/src/dicomweb/multipart.js';
import { orthancInstancesOf } from '../../server/src/dicomweb/orthanc-files.js';
import type { Indexer } from '../../server/src/index/indexer.js';
import { OrthancClient } from '../../server/src/plugins/orthanc.js';
import { readPart10 } from '../../server/src/reading/delivery/part10.js';
import { KEY_OBJECT_SELECTION } from '../../server/src/reading/key-images/kos.js';
import { KosPublisher, kosInstanceUid } from '../../server/src/reading/key-images/publish.js';
import { bearer, buildTestApp, type TestApp } from '../helpers/app.js';
import { makeInstance, newUid } from '../helpers/dicom.js';
import { facilityUser, stow } from '../helpers/dicomweb.js';

const sfx = randomBytes(3).toString('hex');
const PATIENT = 'Đặng^Thị Ngọc Ánh';
const NOTE = 'Khối giảm tỷ trọng thùy phải gan, 32 mm';
let t: TestApp;
let rad: string;
beforeAll(async () => {
  t = await buildTestApp({ name: 'key-images-kos' });
  rad = await facilityUser(t, `kos-${sfx}`, `kos.rad.${sfx}`);
});
afterAll(async () => t?.close());

type DicomJson = Record<string, { Value?: unknown[] }>;
interface Publication {
  sopInstanceUid: string | null;
  revision: number;
  pending: boolean;
  lastError: { reason: string } | null;
}

const call = (method: 'GET' | 'PUT' | 'DELETE', url: string, payload?: unknown) =>
  t.app.inject({
    method,
    url,
    headers: bearer(rad),
    ...(payload !== undefined ? { payload: payload as object } : {}),
  });

/** The publication once none is under way (publication runs after the PUT/DELETE answered). */
async function settled(studyUid: string): Promise<Publication> {
  const t0 = Date.now();
  for (;;) {
    const res = await call('GET', `/api/studies/${studyUid}/key-images`);
    expect(res.statusCode, res.body).toBe(200);
    const p = (res.json() as { publication?: Publication }).publication;
    if (p && !p.pending) return p;
    if (Date.now() - t0 > 30_000) throw new Error('key-image publication still pending after 30 s');
    await new Promise((r) => setTimeout(r, 100));
  }
}

const qido = async (url: string): Promise<DicomJson[]> => {
  const res = await call('GET', url);
  expect([200, 204]).toContain(res.statusCode);
  return res.statusCode === 204 ? [] : (res.json() as DicomJson[]);
};
const v = (ds: DicomJson, tag: string) => ds[tag]?.Value?.[0];

/** The study's KO series and their instances, as any DICOMweb client sees them through the gateway. */
async function koSeries(studyUid: string): Promise<{ seriesUid: string; instances: string[] }[]> {
  const series = (await qido(`/dicom-web/studies/${studyUid}/series`)).filter(
    (s) => v(s, '00080060') === 'KO',
  );
  return Promise.all(
    series.map(async (s) => {
      const seriesUid = String(v(s, '0020000E'));
      const inst = await qido(`/dicom-web/studies/${studyUid}/series/${seriesUid}/instances`);
      return { seriesUid, instances: inst.map((i) => String(v(i, '00080018'))) };
    }),
  );
}

/** The KOS through WADO-RS, as stored, parsed with dcmjs. */
async function retrieve(studyUid: string, seriesUid: string, sop: string) {
  const res = await t.app.inject({
    method: 'GET',
    url: `/dicom-web/studies/${studyUid}/series/${seriesUid}/instances/${sop}`,
    headers: { ...bearer(rad), accept: 'multipart/related; type="application/dicom"; transfer-syntax=*' },
  });
  expect(res.statusCode, res.body.slice(0, 200)).toBe(200);
  const parts = parseMultipartRelated(res.rawPayload, String(res.headers['content-type']));
  expect(parts).toHaveLength(1);
  const file = Buffer.from(parts[0]!.body);
  return { file, ds: readPart10(file) };
}

const seq = <T>(x: unknown): T[] => (Array.isArray(x) ? (x as T[]) : x ? [x as T] : []);
type Ref = {
  ReferencedSOPClassUID: string;
  ReferencedSOPInstanceUID: string;
  ReferencedFrameNumber?: number;
};
type Item = { ValueType: string; TextValue?: string; ReferencedSOPSequence?: unknown };
/** The IMAGE items' references, in order. */
const imageRefs = (ds: Record<string, unknown>): Ref[] =>
  seq<Item>(ds.ContentSequence)
    .filter((i) => i.ValueType === 'IMAGE')
    .map((i) => {
      const r = seq<Ref>(i.ReferencedSOPSequence)[0]!;
      return {
        ReferencedSOPClassUID: r.ReferencedSOPClassUID,
        ReferencedSOPInstanceUID: r.ReferencedSOPInstanceUID,
        ...(r.ReferencedFrameNumber !== undefined
          ? { ReferencedFrameNumber: Number(r.ReferencedFrameNumber) }
          : {}),
      };
    });
/** dcmjs hands text inside sequence items over as Latin-1 (the file holds UTF-8; see the unit test). */
const nestedUtf8 = (s: unknown) => Buffer.from(String(s), 'latin1').toString('utf8');

const indexed = async (sop: string) =>
  t.db.query<{ source: string; sha256: string | null; study_uid: string }>(
    'SELECT source, sha256, study_uid FROM instances WHERE sop_instance_uid = $1',
    [sop],
  );

describe('key images as a Key Object Selection in the study', () => {
  it('publishes one KOS per change, replaces it when the list changes, removes it when empty', async () => {
    const studyUid = newUid();
    const seriesUid = newUid();
    const [s1, s2, s3] = [1, 2, 3].map((n) =>
      makeInstance({ studyUid, seriesUid, instanceNumber: n, patientName: PATIENT, patientId: `KOS-${sfx}` }),
    ) as [ReturnType<typeof makeInstance>, ReturnType<typeof makeInstance>, ReturnType<typeof makeInstance>];
    const cine = makeInstance({
      studyUid,
      frames: 3,
      instanceNumber: 1,
      patientName: PATIENT,
      patientId: `KOS-${sfx}`,
    });
    expect((await stow(t, rad, [s1.bytes, s2.bytes, s3.bytes, cine.bytes])).statusCode).toBe(200);
    const at = (sop: string, frame?: number) =>
      `/api/studies/${studyUid}/key-images/${sop}${frame ? `/${frame}` : ''}`;

    // 1. A slice with a note and frame 2 of the multi-frame image.
    expect((await call('PUT', at(s2.sopInstanceUid), { note: NOTE })).statusCode).toBe(201);
    expect((await call('PUT', at(cine.sopInstanceUid, 2), {})).statusCode).toBe(201);
    const first = await settled(studyUid);
    expect(first.lastError).toBeNull();
    expect(first.sopInstanceUid).toMatch(/^2\.25\./);
    const [ko, ...moreKo] = await koSeries(studyUid);
    expect(moreKo).toHaveLength(0);
    expect(ko!.instances).toEqual([first.sopInstanceUid]);

    const { file, ds } = await retrieve(studyUid, ko!.seriesUid, first.sopInstanceUid!);
    expect(ds.SOPClassUID).toBe(KEY_OBJECT_SELECTION);
    expect(ds.Modality).toBe('KO');
    expect(ds.StudyInstanceUID).toBe(studyUid);
    expect(ds.PatientID).toBe(`KOS-${sfx}`);
    const name = ds.PatientName as { Alphabetic: string }[] | string;
    expect(Array.isArray(name) ? name[0]?.Alphabetic : name).toBe(PATIENT);
    expect(seq<{ CodeValue: string }>(ds.ConceptNameCodeSequence)[0]?.CodeValue).toBe('113000');
    // Both series are number 1 in the fixture, so their order is by UID: compared as a set.
    expect(new Set(imageRefs(ds).map((r) => JSON.stringify(r)))).toEqual(
      new Set([
        JSON.stringify({
          ReferencedSOPClassUID: s2.sopClassUid,
          ReferencedSOPInstanceUID: s2.sopInstanceUid,
        }),
        JSON.stringify({
          ReferencedSOPClassUID: cine.sopClassUid,
          ReferencedSOPInstanceUID: cine.sopInstanceUid,
          ReferencedFrameNumber: 2,
        }),
      ]),
    );
    const text = seq<Item>(ds.ContentSequence).find((i) => i.ValueType === 'TEXT');
    // The fixture numbers every series 1.
    expect(nestedUtf8(text?.TextValue)).toBe(`Series 1, image 2: ${NOTE}`);
    expect(file.includes(Buffer.from(NOTE, 'utf8'))).toBe(true);
    const evidence = seq<{ ReferencedSeriesSequence: unknown }>(
      ds.CurrentRequestedProcedureEvidenceSequence,
    )[0];
    expect(
      seq<{ ReferencedSOPSequence: unknown }>(evidence?.ReferencedSeriesSequence)
        .flatMap((s) => seq<Ref>(s.ReferencedSOPSequence).map((r) => r.ReferencedSOPInstanceUID))
        .sort(),
    ).toEqual([s2.sopInstanceUid, cine.sopInstanceUid].sort());
    // Indexed like any instance, in this study, as a derived object with its hash.
    const [row] = await indexed(first.sopInstanceUid!);
    expect(row).toMatchObject({ source: 'derived', study_uid: studyUid });
    expect(row?.sha256).toMatch(/^[0-9a-f]{64}$/);

    // 2. The list changes, with concurrent marks: a new KOS replaces the old one everywhere.
    expect((await call('DELETE', at(s2.sopInstanceUid))).statusCode).toBe(204);
    const marks = await Promise.all([
      call('PUT', at(s1.sopInstanceUid), {}),
      call('PUT', at(s3.sopInstanceUid), { note: 'Ổ tụ dịch' }),
      call('PUT', at(cine.sopInstanceUid, 3), {}),
    ]);
    expect(marks.map((m) => m.statusCode)).toEqual([201, 201, 201]);
    const second = await settled(studyUid);
    expect(second.lastError).toBeNull();
    expect(second.sopInstanceUid).not.toBe(first.sopInstanceUid);
    expect(second.revision).toBeGreaterThan(first.revision);
    expect(await orthancInstancesOf(t.app.orthanc, first.sopInstanceUid!)).toEqual([]);
    expect(await indexed(first.sopInstanceUid!)).toEqual([]);
    const after = await koSeries(studyUid);
    expect(after).toEqual([{ seriesUid: ko!.seriesUid, instances: [second.sopInstanceUid] }]);
    const next = await retrieve(studyUid, ko!.seriesUid, second.sopInstanceUid!);
    expect(
      imageRefs(next.ds)
        .map((r) => `${r.ReferencedSOPInstanceUID}#${r.ReferencedFrameNumber ?? '-'}`)
        .sort(),
    ).toEqual(
      [
        `${s1.sopInstanceUid}#-`,
        `${s3.sopInstanceUid}#-`,
        `${cine.sopInstanceUid}#2`,
        `${cine.sopInstanceUid}#3`,
      ].sort(),
    );
    expect(next.file.includes(Buffer.from('Ổ tụ dịch', 'utf8'))).toBe(true);
    expect(next.file.includes(Buffer.from(NOTE, 'utf8'))).toBe(false);

    // 3. Emptied: no KOS at all.
    for (const [sop, frame] of [
      [s1.sopInstanceUid, undefined],
      [s3.sopInstanceUid, undefined],
      [cine.sopInstanceUid, 2],
      [cine.sopInstanceUid, 3],
    ] as const)
      expect((await call('DELETE', at(sop, frame))).statusCode).toBe(204);
    const none = await settled(studyUid);
    expect(none.sopInstanceUid).toBeNull();
    expect(none.lastError).toBeNull();
    expect(await koSeries(studyUid)).toEqual([]);
    expect(await orthancInstancesOf(t.app.orthanc, second.sopInstanceUid!)).toEqual([]);
    expect(await indexed(second.sopInstanceUid!)).toEqual([]);
    // The images themselves are untouched.
    expect((await qido(`/dicom-web/studies/${studyUid}/instances`)).length).toBe(4);
  });

  it('a failed publication never fails the mark, is recorded, and the next change repairs it', async () => {
    const studyUid = newUid();
    const a = makeInstance({ studyUid, instanceNumber: 1, patientName: PATIENT });
    const b = makeInstance({ studyUid, seriesUid: a.seriesUid, instanceNumber: 2, patientName: PATIENT });
    expect((await stow(t, rad, [a.bytes, b.bytes])).statusCode).toBe(200);
    const at = (sop: string) => `/api/studies/${studyUid}/key-images/${sop}`;
    expect((await call('PUT', at(a.sopInstanceUid), { note: NOTE })).statusCode).toBe(201);
    const ok = await settled(studyUid);
    expect(ok.sopInstanceUid).not.toBeNull();

    // A gateway whose Orthanc is unreachable publishes the same study (port 9: nothing listens).
    const [user] = await t.db.query<{ id: string }>('SELECT id FROM users WHERE username = $1', [
      `kos.rad.${sfx}`,
    ]);
    await t.db.query('UPDATE key_images SET note = $2 WHERE study_uid = $1', [studyUid, 'Đã đổi']);
    const dead = new OrthancClient({
      url: 'http://127.0.0.1:9',
      username: 'x',
      password: 'x',
      headersTimeoutMs: 2000,
    });
    const broken = new KosPublisher({
      db: t.db,
      orthanc: dead,
      indexer: t.app.indexer,
      log: pino({ level: 'silent' }),
    });
    broken.schedule(studyUid, user!.id);
    await broken.drain();
    await dead.close();
    const failed = await settled(studyUid);
    expect(failed.lastError?.reason).toMatch(/\S/);
    expect(failed.lastError?.reason).not.toContain('Đặng');
    // The published KOS is still the earlier one, and the marks are intact.
    expect(failed.sopInstanceUid).toBe(ok.sopInstanceUid);
    expect((await koSeries(studyUid))[0]?.instances).toEqual([ok.sopInstanceUid]);

    // A run that dies after Orthanc stored its KOS and before it was recorded (here: indexing
    // throws) leaves that KOS listed for removal, never unknown.
    const crashing = new KosPublisher({
      db: t.db,
      orthanc: t.app.orthanc,
      indexer: {
        indexOrthancInstance: async () => {
          throw new Error('simulated crash after the store');
        },
      } as unknown as Indexer,
      log: pino({ level: 'silent' }),
    });
    crashing.schedule(studyUid, user!.id);
    await crashing.drain();
    const crashed = await settled(studyUid);
    expect(crashed.lastError?.reason).toMatch(/simulated crash/);
    const orphan = kosInstanceUid(studyUid, crashed.revision);
    expect(await orthancInstancesOf(t.app.orthanc, orphan)).toHaveLength(1);

    // The next change publishes the whole current list and clears the failure.
    expect((await call('PUT', at(b.sopInstanceUid), {})).statusCode).toBe(201);
    const repaired = await settled(studyUid);
    expect(repaired.lastError).toBeNull();
    expect(repaired.sopInstanceUid).not.toBe(ok.sopInstanceUid);
    expect(await koSeries(studyUid)).toEqual([
      { seriesUid: expect.any(String), instances: [repaired.sopInstanceUid] },
    ]);
    const { file, ds } = await retrieve(
      studyUid,
      (await koSeries(studyUid))[0]!.seriesUid,
      repaired.sopInstanceUid!,
    );
    expect(imageRefs(ds).map((r) => r.ReferencedSOPInstanceUID)).toEqual([
      a.sopInstanceUid,
      b.sopInstanceUid,
    ]);
    expect(file.includes(Buffer.from('Đã đổi', 'utf8'))).toBe(true);
    expect(await orthancInstancesOf(t.app.orthanc, ok.sopInstanceUid!)).toEqual([]);
    expect(await orthancInstancesOf(t.app.orthanc, orphan)).toEqual([]);
    const [state] = await t.db.query<{ superseded: string[] }>(
      'SELECT superseded FROM key_image_kos WHERE study_uid = $1',
      [studyUid],
    );
    expect(state?.superseded).toEqual([]);
  });
});
