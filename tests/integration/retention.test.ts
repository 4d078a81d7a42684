/**
 * Retention per facility with backdated studies, the real archive worker, Orthanc and S3:
 *  - a facility keeps everything 20 years, CT 5 years, US 3 years, and deletes the archive copy;
 *    another keeps 2 years and keeps the archive copy;
 *  - a dry run removes nothing; the run removes exactly the expired studies from Orthanc, the
 *    index and (per policy) S3, never one under legal hold or with an open read request, keeps the
 *    index row of a study a signed read request refers to, and audits every removal;
 *  - a facility admin acts on their own facility only; other roles may not.
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { thumbnailKey } from '../../server/src/dicomweb/thumbnails.js';
import { RetentionRunner } from '../../server/src/ops/retention-runner.js';
import { loadWorkersConfig } from '../../workers/src/config.js';
import { type RunningWorkers, startWorkers } from '../../workers/src/main.js';
import { bearer, buildTestApp, stack, type TestApp, workersEnv } from '../helpers/app.js';
import type { MadeInstance } from '../helpers/dicom.js';
import { facilityUser, stow } from '../helpers/dicomweb.js';
import { datedInstance, orthancHas, yearsAgo } from './ops-helpers.js';

const sfx = randomBytes(3).toString('hex');
const prefix = `rl-retention-${sfx}`;
const F1 = `bv-ret1-${sfx}`;
const F2 = `bv-ret2-${sfx}`;
let t: TestApp;
let workers: RunningWorkers;
let rad1: string;
let rad2: string;
let admin1: string;
let doctor1: string;

beforeAll(async () => {
  t = await buildTestApp({ name: 'retention', env: { RADLINK_QUEUE_PREFIX: prefix } });
  rad1 = await facilityUser(t, F1, `ret.rad1.${sfx}`);
  rad2 = await facilityUser(t, F2, `ret.rad2.${sfx}`);
  admin1 = await facilityUser(t, F1, `ret.adm1.${sfx}`, 'facility_admin');
  doctor1 = await facilityUser(t, F1, `ret.doc1.${sfx}`, 'referring_doctor');
  const log = pino(
    { level: 'info' },
    pino.destination({ dest: join(stack().logDir, 'workers-retention-test.log'), mkdir: true, sync: true }),
  );
  workers = await startWorkers(loadWorkersConfig(workersEnv(stack(), { RADLINK_QUEUE_PREFIX: prefix })), log);
});
afterAll(async () => {
  await workers?.close();
  await t?.close();
});

async function archivedKeys(m: MadeInstance): Promise<string> {
  for (let i = 0; i < 200; i++) {
    const [r] = await t.db.query<{ archive_key: string | null }>(
      'SELECT archive_key FROM instances WHERE sop_instance_uid = $1',
      [m.sopInstanceUid],
    );
    if (r?.archive_key) return r.archive_key;
    await new Promise((res) => setTimeout(res, 100));
  }
  throw new Error('not archived in time');
}

async function inS3(key: string): Promise<boolean> {
  try {
    await t.app.s3.client.statObject(t.app.s3.bucket, key);
    return true;
  } catch {
    return false;
  }
}

describe('retention', () => {
  it('removes expired studies per facility policy, never held or open ones, and audits each', async () => {
    const mk = (o: { date: string; modality: string }) =>
      datedInstance({ studyDate: o.date, modality: o.modality, patientName: 'Đỗ^Văn Lưu Trữ' });
    const s = {
      ctOld: mk({ date: yearsAgo(6), modality: 'CT' }), // CT 5 y → expired
      ctHeld: mk({ date: yearsAgo(10), modality: 'CT' }), // expired, legal hold
      ctOpen: mk({ date: yearsAgo(8), modality: 'CT' }), // expired, open read request
      ctSigned: mk({ date: yearsAgo(7), modality: 'CT' }), // expired, signed read request (row kept)
      ctYoung: mk({ date: yearsAgo(4, -1), modality: 'CT' }), // 4 years: kept
      mrOld: mk({ date: yearsAgo(15), modality: 'MR' }), // overall 20 y: kept
      usOld: mk({ date: yearsAgo(3, -2), modality: 'US' }), // US 3 y → expired
      f2Old: mk({ date: yearsAgo(3), modality: 'CT' }), // facility 2: 2 y, archive kept
    };
    for (const [k, m] of Object.entries(s))
      expect((await stow(t, k === 'f2Old' ? rad2 : rad1, [m.bytes])).statusCode, k).toBe(200);
    const keys = Object.fromEntries(
      await Promise.all(Object.entries(s).map(async ([k, m]) => [k, await archivedKeys(m)] as const)),
    );

    const put = (tok: string, f: string, body: Record<string, unknown>) =>
      t.app.inject({
        method: 'PUT',
        url: `/api/facilities/${f}/retention`,
        headers: bearer(tok),
        payload: body,
      });
    expect(
      (await put(admin1, F1, { defaultYears: 20, modalityYears: { CT: 5, US: 3 }, archiveCopy: 'delete' }))
        .statusCode,
    ).toBe(200);
    // A facility admin may not set another facility's policy; a system admin may.
    expect(
      (await put(admin1, F2, { defaultYears: 2, modalityYears: {}, archiveCopy: 'keep' })).statusCode,
    ).toBe(404);
    expect(
      (await put(await t.adminToken(), F2, { defaultYears: 2, modalityYears: {}, archiveCopy: 'keep' }))
        .statusCode,
    ).toBe(200);
    expect(
      (await put(admin1, F1, { defaultYears: 0, modalityYears: {}, archiveCopy: 'keep' })).statusCode,
    ).toBe(400);
    const got = await t.app.inject({
      method: 'GET',
      url: `/api/facilities/${F1}/retention`,
      headers: bearer(admin1),
    });
    expect(got.json()).toEqual({ defaultYears: 20, modalityYears: { CT: 5, US: 3 }, archiveCopy: 'delete' });

    // Legal hold (admins only) and read requests (one open, one signed).
    const hold = await t.app.inject({
      method: 'PUT',
      url: `/api/studies/${s.ctHeld.studyUid}/legal-hold`,
      headers: bearer(admin1),
      payload: { reason: 'Hồ sơ tranh chấp pháp lý' },
    });
    expect(hold.statusCode, hold.body).toBe(200);
    expect(
      (
        await t.app.inject({
          method: 'PUT',
          url: `/api/studies/${s.ctHeld.studyUid}/legal-hold`,
          headers: bearer(rad2),
          payload: { reason: 'x'.repeat(10) },
        })
      ).statusCode,
    ).toBe(403);
    const [me] = await t.db.query<{ id: string }>('SELECT id FROM users WHERE username = $1', [
      `ret.rad1.${sfx}`,
    ]);
    for (const [study, status] of [
      [s.ctOpen.studyUid, 'requested'],
      [s.ctSigned.studyUid, 'signed'],
    ] as const) {
      await t.db.query(
        `INSERT INTO read_requests (study_uid, requesting_facility_id, requester_id, target_facility_id, priority,
                                    clinical_info, question, accession_number, status, due_at)
         VALUES ($1, $2, $3, $4, 'routine', 'Đau bụng', 'U gan?', $5, $6, now() + interval '1 day')`,
        [study, F1, me!.id, F2, `RL${randomBytes(3).toString('hex')}`, status],
      );
    }

    const run = (tok: string, body: Record<string, unknown>) =>
      t.app.inject({ method: 'POST', url: '/api/retention/run', headers: bearer(tok), payload: body });
    expect((await run(doctor1, {})).statusCode).toBe(403);
    expect((await run(admin1, { facilityId: F2 })).statusCode).toBe(404);
    // Dry run: reports, removes nothing.
    const dry = await run(admin1, { dryRun: true });
    expect(dry.statusCode, dry.body).toBe(200);
    const dryUids = (dry.json().deleted as { studyUid: string }[]).map((d) => d.studyUid).sort();
    expect(dryUids).toEqual([s.ctOld.studyUid, s.ctSigned.studyUid, s.usOld.studyUid].sort());
    expect(await orthancHas(t.app.orthanc, s.ctOld.sopInstanceUid)).toBe(true);

    const t0 = Date.now();
    const res = await run(await t.adminToken(), {});
    expect(res.statusCode, res.body).toBe(200);
    const report = res.json() as {
      deleted: { studyUid: string; archive: string; instances: number }[];
      skipped: { studyUid: string; reason: string }[];
      failed: unknown[];
    };
    console.log(
      `retention run: ${report.deleted.length} studies removed, ${report.skipped.length} skipped, ${report.failed.length} failed in ${Date.now() - t0} ms`,
    );
    const mine = new Set(Object.values(s).map((m) => m.studyUid));
    const deleted = report.deleted.filter((d) => mine.has(d.studyUid));
    expect(deleted.map((d) => d.studyUid).sort()).toEqual(
      [s.ctOld.studyUid, s.ctSigned.studyUid, s.usOld.studyUid, s.f2Old.studyUid].sort(),
    );
    expect(report.failed).toEqual([]);
    expect(report.skipped.filter((k) => mine.has(k.studyUid))).toEqual(
      expect.arrayContaining([
        { studyUid: s.ctHeld.studyUid, reason: 'legal-hold' },
        { studyUid: s.ctOpen.studyUid, reason: 'open-read-request' },
      ]),
    );

    const indexed = async (m: MadeInstance) =>
      (await t.db.query('SELECT 1 FROM instances WHERE sop_instance_uid = $1', [m.sopInstanceUid])).length >
      0;
    for (const k of ['ctOld', 'ctSigned', 'usOld', 'f2Old'] as const) {
      expect(await orthancHas(t.app.orthanc, s[k].sopInstanceUid), k).toBe(false);
      expect(await indexed(s[k]), k).toBe(false);
    }
    for (const k of ['ctHeld', 'ctOpen', 'ctYoung', 'mrOld'] as const) {
      expect(await orthancHas(t.app.orthanc, s[k].sopInstanceUid), k).toBe(true);
      expect(await indexed(s[k]), k).toBe(true);
      expect(await inS3(keys[k]!), k).toBe(true);
    }
    // Facility 1 deletes archive copies; facility 2 keeps them and records where they are.
    for (const k of ['ctOld', 'ctSigned', 'usOld'] as const) expect(await inS3(keys[k]!), k).toBe(false);
    expect(await inS3(keys.f2Old!)).toBe(true);
    const retained = await t.db.query<{ archive_key: string }>(
      'SELECT archive_key FROM retained_archive WHERE study_uid = $1',
      [s.f2Old.studyUid],
    );
    expect(retained).toEqual([{ archive_key: keys.f2Old }]);
    // QIDO no longer finds removed studies; the signed request's study keeps its row, marked.
    const gone = await t.db.query<{
      study_uid: string;
      images_expired_at: string | null;
      num_instances: number;
    }>('SELECT study_uid, images_expired_at::text, num_instances FROM studies WHERE study_uid = ANY($1)', [
      [s.ctOld.studyUid, s.ctSigned.studyUid, s.usOld.studyUid, s.f2Old.studyUid],
    ]);
    expect(gone).toHaveLength(1);
    expect(gone[0]).toMatchObject({ study_uid: s.ctSigned.studyUid, num_instances: 0 });
    expect(gone[0]!.images_expired_at).toBeTruthy();
    // Every removal is audited.
    const audits = await t.db.query<{
      study_uid: string;
      outcome: string;
      detail: { archive: string; trigger: string };
    }>(
      "SELECT study_uid, outcome, detail FROM audit_events WHERE action = 'retention.delete' AND study_uid = ANY($1)",
      [[...mine]],
    );
    expect(audits.map((a) => a.study_uid).sort()).toEqual(deleted.map((d) => d.studyUid).sort());
    expect(audits.every((a) => a.outcome === 'success' && a.detail.trigger === 'admin')).toBe(true);
    expect(audits.find((a) => a.study_uid === s.f2Old.studyUid)?.detail.archive).toBe('kept');

    // A second run finds nothing more; releasing the hold makes that study eligible.
    const again = await run(await t.adminToken(), { facilityId: F1 });
    expect((again.json().deleted as { studyUid: string }[]).filter((d) => mine.has(d.studyUid))).toEqual([]);
    const release = await t.app.inject({
      method: 'DELETE',
      url: `/api/studies/${s.ctHeld.studyUid}/legal-hold`,
      headers: bearer(admin1),
    });
    expect(release.statusCode).toBe(204);
    const third = await run(admin1, {});
    expect((third.json().deleted as { studyUid: string }[]).map((d) => d.studyUid)).toContain(
      s.ctHeld.studyUid,
    );
    expect(await orthancHas(t.app.orthanc, s.ctHeld.sopInstanceUid)).toBe(false);
  });

  it('runs on a schedule, audited as such, and removes cached thumbnails with the study', async () => {
    const m = datedInstance({ studyDate: yearsAgo(9), modality: 'CT', patientName: 'Lý^Thị Lịch' });
    expect((await stow(t, rad1, [m.bytes])).statusCode).toBe(200);
    const key = await archivedKeys(m);
    const thumb = await t.app.inject({
      method: 'GET',
      url: `/dicom-web/studies/${m.studyUid}/thumbnail`,
      headers: { ...bearer(rad1), accept: 'image/jpeg' },
    });
    expect(thumb.statusCode, thumb.body).toBe(200);
    const thumbKey = thumbnailKey(m.studyUid, t.config.RADLINK_THUMBNAIL_SIZE);
    expect(await inS3(thumbKey)).toBe(true);

    const runner = new RetentionRunner({
      db: t.db,
      orthanc: t.app.orthanc,
      s3: t.app.s3,
      audit: t.app.audit,
      log: t.app.log,
    });
    runner.schedule(300);
    try {
      let audit: { detail: { trigger: string } } | undefined;
      for (let i = 0; i < 100 && !audit; i++) {
        await new Promise((r) => setTimeout(r, 150));
        [audit] = await t.db.query<{ detail: { trigger: string } }>(
          "SELECT detail FROM audit_events WHERE action = 'retention.delete' AND study_uid = $1",
          [m.studyUid],
        );
      }
      expect(audit?.detail.trigger).toBe('schedule');
    } finally {
      await runner.stop();
    }
    expect(await orthancHas(t.app.orthanc, m.sopInstanceUid)).toBe(false);
    expect(await inS3(key)).toBe(false);
    expect(await inS3(thumbKey)).toBe(false);
  });
});
