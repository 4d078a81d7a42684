/**
 * The thumbnails worker against the real Orthanc and S3: it draws a series' middle instance with
 * the rendering code the gateway uses on demand (same bytes for the same series), stores it under
 * the key the gateway serves, marked as its own, never rewrites an existing thumbnail, and gives
 * up for good on a series Orthanc no longer holds or that has nothing to draw.
 */
import { createRequire } from 'node:module';
import { UnrecoverableError } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RENDERED_BY_META, thumbnailKey } from '../../imaging/thumbnail.js';
import { loadWorkersConfig } from '../../workers/src/config.js';
import { s3ClientOf } from '../../workers/src/main.js';
import { ThumbnailOrthanc } from '../../workers/src/thumbnails/orthanc-source.js';
import { renderSeriesThumbnail, type ThumbnailDeps } from '../../workers/src/thumbnails/processor.js';
import { bearer, buildTestApp, stack, type TestApp, workersEnv } from '../helpers/app.js';
import { EXPLICIT_LE, makeInstance, newUid } from '../helpers/dicom.js';
import { facilityUser, stow } from '../helpers/dicomweb.js';

interface DcmjsApi {
  data: {
    DicomDict: new (meta: unknown) => { dict: unknown; write(): ArrayBuffer };
    DicomMetaDictionary: { denaturalizeDataset(ds: Record<string, unknown>): unknown };
  };
}
const dcmjs = createRequire(import.meta.url)('dcmjs') as DcmjsApi;

let t: TestApp;
let token: string;
let deps: ThumbnailDeps;
let orthanc: ThumbnailOrthanc;

beforeAll(async () => {
  t = await buildTestApp({ name: 'thumbnails-worker' });
  token = await facilityUser(t, 'bv-thumb-w', 'thumb.worker');
  const cfg = loadWorkersConfig(workersEnv(stack()));
  orthanc = new ThumbnailOrthanc(cfg.ORTHANC_URL, cfg.ORTHANC_USERNAME, cfg.ORTHANC_PASSWORD);
  // The results queue is not exercised here (renderSeriesThumbnail does not publish).
  deps = {
    orthanc,
    s3: s3ClientOf(cfg),
    bucket: cfg.S3_BUCKET,
    results: undefined as never,
    size: t.config.RADLINK_THUMBNAIL_SIZE,
  };
});
afterAll(async () => {
  await orthanc?.close();
  await t?.close();
});

/** A 5-instance series stored through the gateway, sent in shuffled order. */
async function storeSeries(): Promise<{ studyUid: string; seriesUid: string; middleSop: string }> {
  const studyUid = newUid();
  const seriesUid = newUid();
  const made = [1, 2, 3, 4, 5].map((n) =>
    makeInstance({ studyUid, seriesUid, instanceNumber: n, seed: n * 17, rows: 64, columns: 48 }),
  );
  const res = await stow(t, token, [
    made[3]!.bytes,
    made[0]!.bytes,
    made[4]!.bytes,
    made[2]!.bytes,
    made[1]!.bytes,
  ]);
  expect(res.statusCode, res.body).toBe(200);
  return { studyUid, seriesUid, middleSop: made[2]!.sopInstanceUid };
}

/** A Key Object Selection document: a storable object without pixels. */
function keyObjectSelection(): { bytes: Buffer; studyUid: string; seriesUid: string } {
  const studyUid = newUid();
  const seriesUid = newUid();
  const sop = newUid();
  const sopClass = '1.2.840.10008.5.1.4.1.1.88.59';
  const { DicomDict, DicomMetaDictionary } = dcmjs.data;
  const dict = new DicomDict(
    DicomMetaDictionary.denaturalizeDataset({
      FileMetaInformationVersion: new Uint8Array([0, 1]).buffer,
      MediaStorageSOPClassUID: sopClass,
      MediaStorageSOPInstanceUID: sop,
      TransferSyntaxUID: EXPLICIT_LE,
      ImplementationClassUID: '2.25.1',
    }),
  );
  dict.dict = DicomMetaDictionary.denaturalizeDataset({
    SOPClassUID: sopClass,
    SOPInstanceUID: sop,
    StudyInstanceUID: studyUid,
    SeriesInstanceUID: seriesUid,
    PatientName: 'Lê^Văn Khoá',
    PatientID: `KO-${sop.slice(-8)}`,
    Modality: 'KO',
    SeriesNumber: 1,
    InstanceNumber: 1,
  });
  return { bytes: Buffer.from(dict.write()), studyUid, seriesUid };
}

const thumbUrl = (s: { studyUid: string; seriesUid: string }) =>
  `/dicom-web/studies/${s.studyUid}/series/${s.seriesUid}/thumbnail`;

describe('thumbnails worker', () => {
  it('draws the middle instance into the key the gateway serves, byte-identical to its on-demand render', async () => {
    const s = await storeSeries();
    const members = await orthanc.seriesMembers(s.studyUid, s.seriesUid);
    expect(members).toHaveLength(5);

    const r = await renderSeriesThumbnail(deps, s);
    expect(r).toMatchObject({
      kind: 'thumbnail',
      studyUid: s.studyUid,
      seriesUid: s.seriesUid,
      rendered: true,
    });
    const key = thumbnailKey(s.seriesUid, deps.size);
    expect(r.objectKey).toBe(key);
    const st = await deps.s3.statObject(deps.bucket, key);
    expect(st.metaData[RENDERED_BY_META]).toBe('thumbnails-worker');
    const chunks: Buffer[] = [];
    for await (const c of await deps.s3.getObject(deps.bucket, key)) chunks.push(c as Buffer);
    const byWorker = Buffer.concat(chunks);

    // The gateway serves the worker's object as is...
    const hit = await t.app.inject({
      method: 'GET',
      url: thumbUrl(s),
      headers: { ...bearer(token), accept: 'image/jpeg' },
    });
    expect(hit.statusCode).toBe(200);
    expect(hit.headers['x-radlink-cache']).toBe('hit');
    expect(hit.rawPayload.equals(byWorker)).toBe(true);

    // ...and renders the very same bytes itself when nothing is cached (shared rendering code).
    await deps.s3.removeObject(deps.bucket, key);
    const miss = await t.app.inject({
      method: 'GET',
      url: thumbUrl(s),
      headers: { ...bearer(token), accept: 'image/jpeg' },
    });
    expect(miss.statusCode).toBe(200);
    expect(miss.headers['x-radlink-cache']).toBe('miss');
    expect(miss.rawPayload.equals(byWorker)).toBe(true);
    expect((await deps.s3.statObject(deps.bucket, key)).metaData[RENDERED_BY_META]).toBe('gateway');

    // The drawn instance is the middle one in InstanceNumber order, whatever the arrival order.
    const frameThumb = await t.app.inject({
      method: 'GET',
      url: `/dicom-web/studies/${s.studyUid}/series/${s.seriesUid}/instances/${s.middleSop}/thumbnail`,
      headers: { ...bearer(token), accept: 'image/jpeg' },
    });
    expect(frameThumb.rawPayload.equals(byWorker)).toBe(true);
  });

  it('leaves an existing thumbnail untouched (immutable ETag) and reports it', async () => {
    const s = await storeSeries();
    const first = await t.app.inject({
      method: 'GET',
      url: thumbUrl(s),
      headers: { ...bearer(token), accept: 'image/jpeg' },
    });
    expect(first.headers['x-radlink-cache']).toBe('miss');
    const before = await deps.s3.statObject(deps.bucket, thumbnailKey(s.seriesUid, deps.size));
    const r = await renderSeriesThumbnail(deps, s);
    expect(r.rendered).toBe(false);
    const after = await deps.s3.statObject(deps.bucket, thumbnailKey(s.seriesUid, deps.size));
    expect(after.etag).toBe(before.etag);
    expect(after.metaData[RENDERED_BY_META]).toBe('gateway');
  });

  it('gives up for good on a series Orthanc does not hold, and on one with nothing to draw', async () => {
    await expect(
      renderSeriesThumbnail(deps, { studyUid: newUid(), seriesUid: newUid() }),
    ).rejects.toBeInstanceOf(UnrecoverableError);
    // A series of the wrong study is not drawn either.
    const s = await storeSeries();
    await expect(
      renderSeriesThumbnail(deps, { studyUid: newUid(), seriesUid: s.seriesUid }),
    ).rejects.toBeInstanceOf(UnrecoverableError);
    const noPixels = keyObjectSelection();
    const res = await stow(t, token, [noPixels.bytes]);
    expect(res.statusCode, res.body).toBe(200);
    await expect(
      renderSeriesThumbnail(deps, { studyUid: noPixels.studyUid, seriesUid: noPixels.seriesUid }),
    ).rejects.toBeInstanceOf(UnrecoverableError);
  });
});
