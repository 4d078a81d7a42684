/**
 * The study index kept in step with Orthanc: the change feed indexes what modalities send by
 * DIMSE C-STORE (DCMTK storescu from an AE title registered through the gateway API), attributed
 * to the AE title's facility within 10 s; REST uploads straight into Orthanc (no facility);
 * StableSeries → thumbnail job; deletions; the archive job; the lag metric. The indexer itself:
 * idempotent, and exact counts under concurrent indexing on PostgreSQL. Only one gateway per
 * PostgreSQL database consumes the feed (advisory lock).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jobId } from '../../contracts/jobs.js';
import { basicAuth } from '../../scripts/services/orthanc.js';
import { createDatabase, dropDatabase } from '../../scripts/services/postgres.js';
import { FacilityRepo } from '../../server/src/identity/facilities.js';
import { ChangeFeed } from '../../server/src/index/change-feed.js';
import { bearer, buildTestApp, feedCaughtUp, stack, type TestApp } from '../helpers/app.js';
import { freshUid, tinyDicom } from '../helpers/tiny-dicom.js';

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const scratch = mkdtempSync(join(tmpdir(), 'radlink-feed-'));
const tag = Math.random().toString(36).slice(2, 8);
const FACILITY = `bv-feed-${tag}`;
const AET = `FEED${tag.toUpperCase()}`.slice(0, 16);

let t: TestApp; // PGlite
let tp: TestApp; // PostgreSQL
let pgUrl: string;
let admin: string;
let doctor: string;

function orthanc(path: string, init: RequestInit = {}): Promise<Response> {
  const s = stack();
  return fetch(`${s.orthanc.url}${path}`, {
    ...init,
    headers: { authorization: basicAuth(s.orthanc.username, s.orthanc.password), ...init.headers },
  });
}

async function postToOrthanc(bytes: Buffer): Promise<string> {
  const res = await orthanc('/instances', {
    method: 'POST',
    body: bytes,
    headers: { 'content-type': 'application/dicom' },
  });
  expect(res.status).toBe(200);
  return ((await res.json()) as { ID: string }).ID;
}

async function waitFor<T>(
  what: string,
  fn: () => Promise<T | undefined | null | false>,
  timeoutMs = 10_000,
): Promise<T> {
  const t0 = Date.now();
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(100);
  }
}

const instanceRow = (app: TestApp, sop: string) =>
  app.db
    .query<{ source: string; source_aet: string | null; facility_id: string | null; study_uid: string }>(
      `SELECT i.source, i.source_aet, s.facility_id, s.study_uid FROM instances i JOIN studies s ON s.study_uid = i.study_uid
        WHERE i.sop_instance_uid = $1`,
      [sop],
    )
    .then((r) => r[0]);

beforeAll(async () => {
  pgUrl = await createDatabase(stack().postgresUrl);
  t = await buildTestApp({ name: 'change-feed' });
  tp = await buildTestApp({ name: 'change-feed-pg', databaseUrl: pgUrl });
  admin = await t.adminToken();
  // Both apps are ready before the AE title is registered: each pushes its own AE list to the
  // shared Orthanc when it starts, which would remove titles only the other database knows.
  const res = await t.app.inject({
    method: 'POST',
    url: '/api/facilities',
    headers: bearer(admin),
    payload: { id: FACILITY, name: 'Trung tâm Y tế huyện', tier: 'district', parentId: null },
  });
  expect(res.statusCode, res.body).toBe(201);
  const ae = await t.app.inject({
    method: 'PUT',
    url: `/api/facilities/${FACILITY}/ae-titles`,
    headers: bearer(admin),
    payload: [{ aeTitle: AET, host: '127.0.0.1', port: 104 }],
  });
  expect(ae.statusCode, ae.body).toBe(200);
  const user = await t.app.inject({
    method: 'POST',
    url: '/api/users',
    headers: bearer(admin),
    payload: {
      username: `feed.doctor.${tag}`,
      displayName: 'Bác sĩ',
      role: 'referring_doctor',
      facilityId: FACILITY,
      password: 'correct horse battery',
    },
  });
  expect(user.statusCode, user.body).toBe(201);
  doctor = await t.login(`feed.doctor.${tag}`, 'correct horse battery');
});

afterAll(async () => {
  await t?.app.inject({
    method: 'PUT',
    url: `/api/facilities/${FACILITY}/ae-titles`,
    headers: bearer(admin),
    payload: [],
  });
  await Promise.allSettled([t?.close(), tp?.close()]);
  await dropDatabase(pgUrl);
  rmSync(scratch, { recursive: true, force: true });
});

describe('change feed', () => {
  it('indexes a DIMSE C-STORE within 10 s, attributed to the facility of the AE title, and queues its archive copy', async () => {
    const f = tinyDicom({ patientName: 'Võ^Thị Sáu', modality: 'CT' });
    const file = join(scratch, 'dimse.dcm');
    writeFileSync(file, f.bytes);
    await feedCaughtUp(t);
    const sent = Date.now();
    const r = spawnSync(
      'storescu',
      ['-aet', AET, '-aec', stack().orthanc.aet, '127.0.0.1', String(stack().orthanc.dicomPort), file],
      {
        encoding: 'utf8',
        timeout: 30_000,
      },
    );
    expect(r.status, r.stderr).toBe(0);
    const row = await waitFor('the C-STOREd instance in the index', () => instanceRow(t, f.sopInstanceUid));
    const elapsed = Date.now() - sent;
    expect(elapsed).toBeLessThan(10_000);
    expect(row).toEqual({ source: 'dimse', source_aet: AET, facility_id: FACILITY, study_uid: f.studyUid });

    // The facility's doctor finds it by a diacritic-free search.
    const res = await t.app.inject({
      method: 'GET',
      url: '/dicom-web/studies?PatientName=vo%20thi%20sau',
      headers: bearer(doctor),
    });
    expect(res.statusCode).toBe(200);
    expect((res.json() as unknown[]).length).toBe(1);

    const job = await t.app.queues.archive.getJob(jobId('archive', f.sopInstanceUid));
    expect(job?.data).toMatchObject({
      studyUid: f.studyUid,
      seriesUid: f.seriesUid,
      sopInstanceUid: f.sopInstanceUid,
    });

    // Lag is exposed in /metrics.
    const metrics = await t.app.inject({ method: 'GET', url: '/metrics', headers: bearer(admin) });
    const count = /radlink_index_lag_seconds_count (\d+)/.exec(metrics.body);
    expect(Number(count?.[1])).toBeGreaterThanOrEqual(1);
  });

  it('indexes REST uploads made straight to Orthanc without a facility (admins only see them)', async () => {
    const f = tinyDicom({ patientName: 'Lý^Không Chủ' });
    await postToOrthanc(f.bytes);
    const row = await waitFor('the REST upload in the index', () => instanceRow(t, f.sopInstanceUid));
    expect(row).toMatchObject({ source: 'rest', facility_id: null });
    const asDoctor = await t.app.inject({
      method: 'GET',
      url: `/dicom-web/studies?StudyInstanceUID=${f.studyUid}`,
      headers: bearer(doctor),
    });
    expect(asDoctor.json()).toEqual([]);
    const asAdmin = await t.app.inject({
      method: 'GET',
      url: `/dicom-web/studies?StudyInstanceUID=${f.studyUid}`,
      headers: bearer(admin),
    });
    expect((asAdmin.json() as unknown[]).length).toBe(1);
    // STOW's attribution, arriving after the feed indexed the instance, still sets the owner.
    const id = await postToOrthanc(f.bytes);
    await t.app.indexer.indexOrthancInstance(id, {
      facilityId: FACILITY,
      source: 'stow',
      sha256: 'ab'.repeat(32),
      sizeBytes: f.bytes.length,
    });
    expect(await instanceRow(t, f.sopInstanceUid)).toMatchObject({ source: 'stow', facility_id: FACILITY });
  });

  it('queues a thumbnail when Orthanc declares the series stable', async () => {
    const f = tinyDicom({ patientName: 'Bùi^Ổn Định' });
    await postToOrthanc(f.bytes);
    const job = await waitFor(
      'the thumbnail job',
      () => t.app.queues.thumbnails.getJob(jobId('thumb', f.seriesUid)),
      20_000, // StableAge (3 s in the test configuration) + polling
    );
    expect(job.data).toEqual({ studyUid: f.studyUid, seriesUid: f.seriesUid });
  });

  it('removes studies deleted directly in Orthanc (which logs no change for them) by reconciliation', async () => {
    const studyUid = freshUid();
    const seriesUid = freshUid();
    const a = tinyDicom({ studyUid, seriesUid, patientName: 'Đỗ^Xóa', instanceNumber: 1 });
    const b = tinyDicom({ studyUid, seriesUid, patientName: 'Đỗ^Xóa', instanceNumber: 2 });
    await postToOrthanc(a.bytes);
    await postToOrthanc(b.bytes);
    await waitFor(
      'both instances',
      async () => (await instanceRow(t, a.sopInstanceUid)) && instanceRow(t, b.sopInstanceUid),
    );
    const [study] = await t.db.query<{ num_instances: number; orthanc_id: string }>(
      'SELECT num_instances, orthanc_id FROM studies WHERE study_uid = $1',
      [studyUid],
    );
    expect(study?.num_instances).toBe(2);
    // The app's own feed reconciles every 60 s; paused here so the pass below is the one that
    // finds the deletion (otherwise a background pass in between makes the count 0).
    await t.app.changeFeed.stop();
    // The index's Orthanc id is Orthanc's own (computed, not asked for).
    expect((await orthanc(`/studies/${study!.orthanc_id}`, { method: 'DELETE' })).status).toBe(200);
    const feed = new ChangeFeed({
      db: t.db,
      orthanc: t.app.orthanc,
      indexer: t.app.indexer,
      facilities: new FacilityRepo(t.db),
      queues: t.app.queues,
      log: t.app.log,
      registry: new Registry(),
    });
    expect(await feed.reconcile()).toEqual({ removedStudies: 1 });
    expect(await t.db.query('SELECT 1 FROM studies WHERE study_uid = $1', [studyUid])).toEqual([]);
    expect(await t.db.query('SELECT 1 FROM instances WHERE study_uid = $1', [studyUid])).toEqual([]);
    t.app.changeFeed.start();
  });

  it('on PostgreSQL, stays passive while another gateway holds the consumer lock', async () => {
    const feed = new ChangeFeed({
      db: tp.db,
      orthanc: tp.app.orthanc,
      indexer: tp.app.indexer,
      facilities: new FacilityRepo(tp.db),
      queues: tp.app.queues,
      log: tp.app.log,
      registry: new Registry(),
    });
    const other = new pg.Client(pgUrl);
    await other.connect();
    try {
      await other.query('SELECT pg_advisory_lock(727002)');
      const before = await tp.db.query('SELECT last_seq FROM feed_cursors');
      await postToOrthanc(tinyDicom().bytes);
      expect(await feed.step()).toBe(false);
      expect(await tp.db.query('SELECT last_seq FROM feed_cursors')).toEqual(before);
    } finally {
      await other.query('SELECT pg_advisory_unlock(727002)');
      await other.end();
    }
    // Released: this gateway's own feed catches up.
    const last = ((await (await orthanc('/changes?last')).json()) as { Last: number }).Last;
    await waitFor('the PostgreSQL feed to catch up', async () => {
      const [row] = await tp.db.query<{ last_seq: string }>('SELECT last_seq FROM feed_cursors');
      return row && Number(row.last_seq) >= last;
    });
  });
});

describe('indexer', () => {
  it('does not read again what STOW just indexed and queued, unless its row is gone', async () => {
    // The feed is paused so that both instances are indexed (as STOW does) before it sees them.
    await t.app.changeFeed.stop();
    const skippedBefore = (await t.app.changeFeed.alreadyIndexed.get()).values[0]?.value ?? 0;
    const kept = tinyDicom({ patientName: 'Lê^Đã Lưu' });
    const undone = tinyDicom({ patientName: 'Lê^Hoàn Tác' });
    for (const f of [kept, undone]) {
      const id = await postToOrthanc(f.bytes);
      const r = await t.app.indexer.indexOrthancInstance(id, { facilityId: FACILITY, source: 'stow' });
      expect(r.created).toBe(true);
    }
    // An index write undone after its archive copy was queued: the feed must index it afresh.
    await t.db.query('DELETE FROM instances WHERE sop_instance_uid = $1', [undone.sopInstanceUid]);
    t.app.changeFeed.start();
    await feedCaughtUp(t);
    const skipped = (await t.app.changeFeed.alreadyIndexed.get()).values[0]?.value ?? 0;
    expect(skipped - skippedBefore).toBe(1);
    expect(await instanceRow(t, kept.sopInstanceUid)).toMatchObject({
      source: 'stow',
      facility_id: FACILITY,
    });
    expect(await instanceRow(t, undone.sopInstanceUid)).toMatchObject({ source: 'rest' });
  });

  it('is idempotent: indexing the same instance again writes nothing', async () => {
    const f = tinyDicom({ patientName: 'Hồ^Lặp Lại' });
    const id = await postToOrthanc(f.bytes);
    await t.app.indexer.indexOrthancInstance(id, { facilityId: FACILITY, source: 'stow' });
    const snapshot = () =>
      t.db.query(
        'SELECT s.*, i.received_at FROM studies s JOIN instances i USING (study_uid) WHERE s.study_uid = $1',
        [f.studyUid],
      );
    const before = await snapshot();
    const again = await t.app.indexer.indexOrthancInstance(id, { facilityId: FACILITY, source: 'stow' });
    expect(again).toEqual({
      studyUid: f.studyUid,
      seriesUid: f.seriesUid,
      sopInstanceUid: f.sopInstanceUid,
      created: false,
    });
    expect(await snapshot()).toEqual(before);
  });

  it('keeps counts and modalities exact under concurrent indexing (PostgreSQL)', async () => {
    const studyUid = freshUid();
    const series = [
      { uid: freshUid(), modality: 'CT' },
      { uid: freshUid(), modality: 'MR' },
      { uid: freshUid(), modality: 'CT' },
    ];
    const ids: string[] = [];
    for (const s of series) {
      for (let n = 1; n <= 5; n++) {
        ids.push(
          await postToOrthanc(
            tinyDicom({
              studyUid,
              seriesUid: s.uid,
              modality: s.modality,
              patientName: 'Song^Song',
              patientId: `CC-${tag}`,
              instanceNumber: n,
            }).bytes,
          ),
        );
      }
    }
    const results = await Promise.all(
      ids.map((id) => tp.app.indexer.indexOrthancInstance(id, { facilityId: null, source: 'stow' })),
    );
    // The feed may have indexed some first: then those calls report created: false.
    expect(results.every((r) => r.studyUid === studyUid)).toBe(true);
    const [study] = await tp.db.query<{ num_instances: number; num_series: number; modalities: string[] }>(
      'SELECT num_instances, num_series, modalities FROM studies WHERE study_uid = $1',
      [studyUid],
    );
    expect(study).toEqual({ num_instances: 15, num_series: 3, modalities: ['CT', 'MR'] });
    const perSeries = await tp.db.query<{ num_instances: number }>(
      'SELECT num_instances FROM series WHERE study_uid = $1',
      [studyUid],
    );
    expect(perSeries.map((s) => s.num_instances)).toEqual([5, 5, 5]);
  });
});
