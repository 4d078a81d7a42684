/**
 * The archive path end to end, with the real workers code in-process against the real stack:
 * STOW → index → archive job → worker copies Orthanc's file to S3 under dicom-<sha256> and
 * verifies it → result on the results queue → the gateway records archived_at, the lag metric
 * and the backlog. A job for an instance Orthanc no longer has fails for good (no retries) and
 * is reported as archive-failed. Finally the real workers process starts and stops on SIGTERM.
 */
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jobId } from '../../contracts/jobs.js';
import { archiveOne } from '../../workers/src/archive/processor.js';
import { loadWorkersConfig } from '../../workers/src/config.js';
import { type RunningWorkers, startWorkers } from '../../workers/src/main.js';
import { OrthancReader } from '../../workers/src/orthanc.js';
import { bearer, buildTestApp, stack, type TestApp, workersEnv } from '../helpers/app.js';
import { makeInstance } from '../helpers/dicom.js';
import { facilityUser, stow } from '../helpers/dicomweb.js';

const prefix = `rl-archive-${randomBytes(4).toString('hex')}`;
let t: TestApp;
let tok: string;
let workers: RunningWorkers;

const workersEnvFor = (extra: Record<string, string> = {}) =>
  workersEnv(stack(), { RADLINK_QUEUE_PREFIX: prefix, ...extra });

beforeAll(async () => {
  t = await buildTestApp({ name: 'archive', env: { RADLINK_QUEUE_PREFIX: prefix } });
  tok = await facilityUser(t, 'bv-archive', 'archive.a');
  const log = pino(
    { level: 'info' },
    pino.destination({ dest: join(stack().logDir, 'workers-archive-test.log'), mkdir: true, sync: true }),
  );
  workers = await startWorkers(loadWorkersConfig(workersEnvFor()), log);
});
afterAll(async () => {
  await workers?.close();
  await t?.close();
});

async function waitFor<T>(fn: () => Promise<T | undefined>, ms = 15_000): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > until) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('archive', () => {
  it('copies stored instances to S3 under dicom-<sha256>, verified, and the gateway records archived_at and the lag', async () => {
    const a = makeInstance({ patientName: 'Lê^Thị Hồng' });
    const b = makeInstance({
      studyUid: a.studyUid,
      seriesUid: a.seriesUid,
      rows: 64,
      columns: 64,
      frames: 4,
    });
    const t0 = Date.now();
    expect((await stow(t, tok, [a.bytes, b.bytes])).statusCode).toBe(200);
    for (const m of [a, b]) {
      const sha = createHash('sha256').update(m.bytes).digest('hex');
      const row = await waitFor(async () => {
        const [r] = await t.db.query<{
          archive_key: string | null;
          archived_at: string | null;
          sha256: string;
        }>('SELECT archive_key, archived_at::text, sha256 FROM instances WHERE sop_instance_uid = $1', [
          m.sopInstanceUid,
        ]);
        return r?.archived_at ? r : undefined;
      });
      expect(row.archive_key).toBe(`dicom-${sha}`);
      expect(row.sha256).toBe(sha);
      // The copy in S3 is the stored object, byte for byte.
      const chunks: Buffer[] = [];
      for await (const c of await t.app.s3.client.getObject(t.app.s3.bucket, `dicom-${sha}`))
        chunks.push(c as Buffer);
      expect(Buffer.concat(chunks).equals(m.bytes)).toBe(true);
    }
    const elapsed = (Date.now() - t0) / 1000;
    expect(elapsed).toBeLessThan(10); // the target: archive lag p99 < 10 s
    // This app's change feed also indexes (and so archives) what other test files left in the
    // shared Orthanc; wait until the backlog is empty, then check our two are among the observed.
    const metrics = await waitFor(async () => {
      const m = await t.app.inject({ method: 'GET', url: '/metrics', headers: bearer(await t.adminToken()) });
      return /radlink_archive_backlog_instances 0\b/.test(m.body) ? m : undefined;
    });
    expect(Number(/radlink_archive_lag_seconds_count (\d+)/.exec(metrics.body)?.[1])).toBeGreaterThanOrEqual(
      2,
    );
    const status = await t.app.inject({
      method: 'GET',
      url: '/api/archive/status',
      headers: bearer(await t.adminToken()),
    });
    expect(status.statusCode, status.body).toBe(200);
    expect(status.json().unarchived).toBe(0);
    expect(status.json().archived).toBeGreaterThanOrEqual(2);
    expect(status.json().maxLagSecondsLastHour).toBeLessThan(10);
    // Facility staff may not read the operators' view.
    expect(
      (await t.app.inject({ method: 'GET', url: '/api/archive/status', headers: bearer(tok) })).statusCode,
    ).toBe(403);
  });

  it('copies in memory or through a scratch file alike: the same key, bytes and checksums, nothing left behind', async () => {
    const m = makeInstance({ patientName: 'Vũ^Văn Lớn', rows: 128, columns: 128, frames: 6 });
    expect((await stow(t, tok, [m.bytes])).statusCode).toBe(200);
    const [row] = await t.db.query<{ orthanc_id: string }>(
      'SELECT orthanc_id FROM instances WHERE sop_instance_uid = $1',
      [m.sopInstanceUid],
    );
    const s = stack();
    const scratchDir = join(s.dataDir, `archive-scratch-${randomBytes(4).toString('hex')}`);
    const deps = {
      orthanc: new OrthancReader(s.orthanc.url, s.orthanc.username, s.orthanc.password),
      s3: t.app.s3.client,
      bucket: t.app.s3.bucket,
      scratchDir,
    };
    const job = {
      studyUid: m.studyUid,
      seriesUid: m.seriesUid,
      sopInstanceUid: m.sopInstanceUid,
      orthancId: row!.orthanc_id,
    };
    const sha = createHash('sha256').update(m.bytes).digest('hex');
    for (const inMemoryMaxBytes of [undefined, 1024]) {
      // Remove any copy first, so each path uploads and verifies its own.
      await t.app.s3.client.removeObject(t.app.s3.bucket, `dicom-${sha}`);
      const done = await archiveOne({ ...deps, inMemoryMaxBytes }, job);
      expect(done).toMatchObject({ archiveKey: `dicom-${sha}`, sha256: sha, sizeBytes: m.bytes.length });
      const chunks: Buffer[] = [];
      for await (const c of await t.app.s3.client.getObject(t.app.s3.bucket, `dicom-${sha}`))
        chunks.push(c as Buffer);
      expect(Buffer.concat(chunks).equals(m.bytes), `inMemoryMaxBytes ${inMemoryMaxBytes}`).toBe(true);
    }
    expect(m.bytes.length).toBeGreaterThan(1024);
    // The scratch file of the second copy is gone.
    expect(readdirSync(scratchDir)).toEqual([]);
  });

  it('reports archive-failed at once (no retries) when an indexed instance is gone from Orthanc; an instance removed from the index is no failure', async () => {
    const metrics = async () =>
      (await t.app.inject({ method: 'GET', url: '/metrics', headers: bearer(await t.adminToken()) })).body;
    const count = (body: string) => Number(/radlink_archive_failures_total (\d+)/.exec(body)?.[1] ?? 0);
    const before = count(await metrics());
    const failed = (sop: string) =>
      waitFor(async () =>
        (await t.app.queues.archive.getJobState(jobId('archive', sop))) === 'failed' ? true : undefined,
      );
    // Removed from the index and Orthanc meanwhile (e.g. a replaced key-object document): its
    // job fails in the worker, and the gateway does not count it.
    const gone = `2.25.${Date.now()}`;
    await t.app.queues.enqueueArchive({
      studyUid: '1.2.3',
      seriesUid: '1.2.3.4',
      sopInstanceUid: gone,
      orthancId: '00000000-00000000-00000000-00000000-00000000',
    });
    // Indexed, archived, then lost by Orthanc behind the gateway's back: that is a failure.
    const m = makeInstance({ patientName: 'Phan^Văn Lợi' });
    expect((await stow(t, tok, [m.bytes])).statusCode).toBe(200);
    const row = await waitFor(async () => {
      const [r] = await t.db.query<{ orthanc_id: string; archived_at: string | null }>(
        'SELECT orthanc_id, archived_at::text FROM instances WHERE sop_instance_uid = $1',
        [m.sopInstanceUid],
      );
      return r?.archived_at ? r : undefined;
    });
    await failed(gone);
    (await t.app.orthanc.request('DELETE', `/instances/${row.orthanc_id}`)).body.resume();
    await t.app.queues.enqueueArchive({
      studyUid: m.studyUid,
      seriesUid: m.seriesUid,
      sopInstanceUid: m.sopInstanceUid,
      orthancId: row.orthanc_id,
    });
    await waitFor(async () => (count(await metrics()) > before ? true : undefined));
    // One message per failed job, applied in order: only the indexed instance counted.
    await new Promise((r) => setTimeout(r, 500));
    expect(count(await metrics())).toBe(before + 1);
  });

  it('the workers process starts from its environment and stops cleanly on SIGTERM', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'workers/src/main.ts'], {
      env: { ...process.env, ...workersEnvFor({ RADLINK_QUEUE_PREFIX: `${prefix}-proc` }) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d) => (out += String(d)));
    child.stderr.on('data', (d) => (out += String(d)));
    await waitFor(async () => (out.includes('RadLink workers ready') ? true : undefined), 20_000);
    const exit = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    child.kill('SIGTERM');
    expect(await exit).toBe(0);
    expect(out).toContain('stopped');
    // A bad configuration exits 78 naming the key.
    const bad = spawn(process.execPath, ['--import', 'tsx', 'workers/src/main.ts'], {
      env: { ...process.env, ...workersEnvFor({ REDIS_URL: 'not-a-url' }) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let err = '';
    bad.stderr.on('data', (d) => (err += String(d)));
    expect(await new Promise((r) => bad.on('exit', r))).toBe(78);
    expect(err).toContain('REDIS_URL');
  });
});
