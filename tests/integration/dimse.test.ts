/**
 * The modality path with real DCMTK tools against Orthanc's DIMSE port: a C-STORE from a
 * facility's AE title is indexed (attributed to that facility), archived to S3 with a verified
 * checksum and thumbnailed by the thumbnails worker within 10 s; C-FIND is refused (Orthanc's own index is not scoped
 * by facility, so modalities must not query it); and when Orthanc dies the gateway answers 503
 * with a reason and recovers by itself once the supervisor has restarted it.
 */
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RENDERED_BY_META, thumbnailKey } from '../../imaging/thumbnail.js';
import { loadWorkersConfig } from '../../workers/src/config.js';
import { type RunningWorkers, startWorkers } from '../../workers/src/main.js';
import { bearer, buildTestApp, feedCaughtUp, stack, type TestApp, workersEnv } from '../helpers/app.js';
import { makeInstance } from '../helpers/dicom.js';
import { facilityUser } from '../helpers/dicomweb.js';

const prefix = `rl-dimse-${randomBytes(4).toString('hex')}`;
const AET = `DIMSE${randomBytes(3).toString('hex').toUpperCase()}`;
const FACILITY = 'dimse-huyen';
let t: TestApp;
let doctor: string;
let workers: RunningWorkers;
const dir = mkdtempSync(join(tmpdir(), 'radlink-dimse-'));

async function waitFor<T>(fn: () => Promise<T | undefined>, ms: number): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    const v = await fn().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > until) throw new Error(`timed out after ${ms} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

beforeAll(async () => {
  t = await buildTestApp({ name: 'dimse', env: { RADLINK_QUEUE_PREFIX: prefix } });
  doctor = await facilityUser(t, FACILITY, 'dimse.doctor', 'referring_doctor');
  const admin = await t.adminToken();
  const res = await t.app.inject({
    method: 'PUT',
    url: `/api/facilities/${FACILITY}/ae-titles`,
    headers: bearer(admin),
    payload: [{ aeTitle: AET, host: '127.0.0.1', port: null }],
  });
  expect(res.statusCode, res.body).toBe(200);
  const log = pino(
    { level: 'info' },
    pino.destination({ dest: join(stack().logDir, 'workers-dimse-test.log'), mkdir: true, sync: true }),
  );
  workers = await startWorkers(
    loadWorkersConfig(
      workersEnv(stack(), { RADLINK_QUEUE_PREFIX: prefix, RADLINK_WORKERS: 'archive,thumbnails' }),
    ),
    log,
  );
});
afterAll(async () => {
  await workers?.close();
  await t?.close();
});

const dcmtk = (tool: string, args: string[]) => spawnSync(tool, args, { encoding: 'utf8', timeout: 30_000 });

describe('DIMSE modality path', () => {
  const inst = makeInstance({ patientName: 'Hoàng^Văn Thái', rows: 64, columns: 64 });
  const file = join(dir, 'ct.dcm');

  it('a C-STORE from the facility AE title is indexed, archived and thumbnailed within 10 s', async () => {
    writeFileSync(file, inst.bytes);
    await feedCaughtUp(t);
    const t0 = Date.now();
    const store = dcmtk('storescu', [
      '-aet',
      AET,
      '-aec',
      stack().orthanc.aet,
      '127.0.0.1',
      String(stack().orthanc.dicomPort),
      file,
    ]);
    expect(store.status, store.stderr).toBe(0);

    const indexed = await waitFor(async () => {
      const rows = await t.db.query<{ facility_id: string; source: string; source_aet: string }>(
        `SELECT s.facility_id, i.source, i.source_aet FROM instances i JOIN studies s USING (study_uid)
          WHERE i.sop_instance_uid = $1`,
        [inst.sopInstanceUid],
      );
      return rows[0];
    }, 10_000);
    expect(indexed).toEqual({ facility_id: FACILITY, source: 'dimse', source_aet: AET });

    const archived = await waitFor(
      async () => {
        const rows = await t.db.query<{ archive_key: string; sha256: string }>(
          'SELECT archive_key, sha256 FROM instances WHERE sop_instance_uid = $1 AND archived_at IS NOT NULL',
          [inst.sopInstanceUid],
        );
        return rows[0];
      },
      10_000 - (Date.now() - t0),
    );
    expect(archived.archive_key).toBe(`dicom-${archived.sha256}`);
    // The archive holds Orthanc's stored file (Orthanc writes its own file meta header), byte for byte.
    const orthancId = (
      await t.db.query<{ orthanc_id: string }>(
        'SELECT orthanc_id FROM instances WHERE sop_instance_uid = $1',
        [inst.sopInstanceUid],
      )
    )[0]!.orthanc_id;
    const stored = Buffer.from(
      await (await t.app.orthanc.request('GET', `/instances/${orthancId}/file`)).body.arrayBuffer(),
    );
    expect(createHash('sha256').update(stored).digest('hex')).toBe(archived.sha256);
    const stat = await t.app.s3.client.statObject(t.app.s3.bucket, archived.archive_key);
    expect(stat.size).toBe(stored.length);
    expect(stored.includes(inst.pixels.subarray(0, 256))).toBe(true);

    // The thumbnail is pre-rendered by the thumbnails worker (StableSeries → job), not by the
    // gateway on request: the object appears in S3 before anyone asked for it, marked by its
    // renderer, and the gateway's first answer is a cache hit with those very bytes.
    const key = thumbnailKey(inst.seriesUid, t.config.RADLINK_THUMBNAIL_SIZE);
    const cached = await waitFor(
      async () => t.app.s3.client.statObject(t.app.s3.bucket, key),
      10_000 - (Date.now() - t0),
    );
    expect(cached.metaData[RENDERED_BY_META]).toBe('thumbnails-worker');
    const thumb = await t.app.inject({
      method: 'GET',
      url: `/dicom-web/studies/${inst.studyUid}/series/${inst.seriesUid}/thumbnail`,
      headers: { ...bearer(doctor), accept: 'image/jpeg' },
    });
    expect(thumb.statusCode, thumb.body).toBe(200);
    expect(thumb.headers['x-radlink-cache']).toBe('hit');
    expect(thumb.headers.etag).toBe(`"${cached.etag.replace(/"/g, '')}"`);
    expect(createHash('md5').update(thumb.rawPayload).digest('hex')).toBe(cached.etag.replace(/"/g, ''));
    const meta = await sharp(thumb.rawPayload).metadata();
    expect(meta.format).toBe('jpeg');
    expect(Math.max(meta.width ?? 0, meta.height ?? 0)).toBe(t.config.RADLINK_THUMBNAIL_SIZE);
    expect(Date.now() - t0).toBeLessThan(10_000);
  });

  it("refuses C-FIND from a modality: Orthanc's own index is not scoped by facility", () => {
    const find = dcmtk('findscu', [
      '-S',
      '-aet',
      AET,
      '-aec',
      stack().orthanc.aet,
      '127.0.0.1',
      String(stack().orthanc.dicomPort),
      '-k',
      'QueryRetrieveLevel=STUDY',
      '-k',
      'PatientName=*',
      '-k',
      `StudyInstanceUID=${inst.studyUid}`,
    ]);
    const out = `${find.stdout}${find.stderr}`;
    // findscu echoes the query keys it sent; what must not appear is anything Orthanc answered.
    expect(out).not.toContain('Thái');
    expect(out).not.toMatch(/Find Response: \d+ \(Pending\)/);
    expect(find.status !== 0 || /Refused|Failed|rejected|aborted/i.test(out), out).toBe(true);
  });
});

describe('Orthanc failure', () => {
  it('answers 503 with a reason while Orthanc is down and recovers by itself', async () => {
    const inst = makeInstance({ patientName: 'Phan^Thị Lụa' });
    const up = await t.app.inject({
      method: 'POST',
      url: '/dicom-web/studies',
      headers: {
        ...bearer(doctor),
        'content-type': 'multipart/related; type="application/dicom"; boundary=b0',
      },
      payload: Buffer.concat([
        Buffer.from('--b0\r\nContent-Type: application/dicom\r\n\r\n'),
        inst.bytes,
        Buffer.from('\r\n--b0--\r\n'),
      ]),
    });
    expect(up.statusCode, up.body).toBe(200);
    const url = `/dicom-web/studies/${inst.studyUid}/series/${inst.seriesUid}/instances/${inst.sopInstanceUid}`;
    const headers = {
      ...bearer(doctor),
      accept: 'multipart/related; type="application/dicom"; transfer-syntax=*',
    };

    const status = JSON.parse(readFileSync(stack().statusFile, 'utf8')) as {
      services: { orthanc: { pid: number; restarts: number } };
    };
    const before = status.services.orthanc.restarts;
    process.kill(status.services.orthanc.pid, 'SIGKILL');
    const down = await t.app.inject({ method: 'GET', url, headers });
    expect(down.statusCode).toBe(503);
    expect(down.json()).toMatchObject({ code: 'RADLINK_UPSTREAM_UNAVAILABLE' });
    expect(down.json().message).toMatch(/Orthanc/);

    const back = await waitFor(async () => {
      const res = await t.app.inject({ method: 'GET', url, headers });
      return res.statusCode === 200 ? res : undefined;
    }, 15_000);
    expect(back.rawPayload.includes(inst.bytes.subarray(200, 400))).toBe(true);
    const after = JSON.parse(readFileSync(stack().statusFile, 'utf8')) as {
      services: { orthanc: { restarts: number } };
    };
    expect(after.services.orthanc.restarts).toBe(before + 1);
  });
});
