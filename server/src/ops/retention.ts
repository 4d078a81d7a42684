/**
 * Retention: each facility keeps its studies for N years (overall, or per modality), then the
 * images are removed from Orthanc and the index, and the S3 archive copy is kept or deleted as the
 * facility's policy says. Every removal is audited (`retention.delete`, one row per study).
 *
 * Never removed: a study without a study date (its age is unknown), a study under legal hold, a
 * study with an open read request (requested, claimed or reported, not yet signed or cancelled).
 * A study with several modalities is kept for the longest period that applies; a modality with
 * no period of its own falls back to the overall period, and with no overall period it is kept.
 *
 * Order of removal, chosen so that a crash at any point loses nothing that should stay and leaves
 * only drift the reconciler already repairs: Orthanc first (the index then still knows the
 * archive keys), then the index, then the archive copies (only those no other instance uses; a
 * kept copy is recorded in `retained_archive` so it can still be restored), then cached thumbnails.
 * Rows that other records need (a signed report's read request refers to its study) keep the
 * study row, marked `images_expired_at`, without series or instances.
 */
import type { FastifyBaseLogger } from 'fastify';
import type { AuditWriter } from '../audit/audit.js';
import type { Db } from '../db/client.js';
import type { Principal } from '../identity/principal.js';
import type { OrthancClient } from '../plugins/orthanc.js';
import type { ObjectStore } from '../plugins/s3.js';

export interface RetentionPolicy {
  facilityId: string;
  defaultYears: number | null;
  modalityYears: Record<string, number>;
  archiveCopy: 'keep' | 'delete';
}

/** Years a study with these modalities is kept; null: kept forever. */
export function keepYearsFor(policy: RetentionPolicy, modalities: readonly string[]): number | null {
  const periods = (modalities.length > 0 ? modalities : ['']).map(
    (m) => policy.modalityYears[m.toUpperCase()] ?? policy.defaultYears,
  );
  if (periods.some((p) => p === null || p === undefined)) return null;
  return Math.max(...(periods as number[]));
}

/** Studies dated before this (YYYYMMDD) have outlived `years`, counted from `today` (UTC). */
export function cutoffDate(years: number, today: Date): string {
  const d = new Date(Date.UTC(today.getUTCFullYear() - years, today.getUTCMonth(), today.getUTCDate()));
  return d.toISOString().slice(0, 10).replace(/-/g, '');
}

export interface RetentionDeps {
  db: Db;
  orthanc: OrthancClient;
  s3: ObjectStore;
  audit: AuditWriter;
  log: FastifyBaseLogger;
}

export interface RetentionRunOptions {
  /** Only this facility; default: every facility with a policy. */
  facilityId?: string;
  trigger: 'schedule' | 'admin';
  actor?: Principal;
  /** Report what would be removed; remove nothing. */
  dryRun?: boolean;
  now?: Date;
}

export interface RetentionReport {
  dryRun: boolean;
  examined: number;
  deleted: { studyUid: string; facilityId: string; instances: number; archive: 'kept' | 'deleted' }[];
  skipped: { studyUid: string; reason: 'legal-hold' | 'open-read-request' }[];
  failed: { studyUid: string; error: string }[];
}

interface Candidate {
  study_uid: string;
  facility_id: string;
  orthanc_id: string | null;
  study_date: string;
  modalities: string[];
}

export async function loadPolicies(db: Db, facilityId?: string): Promise<RetentionPolicy[]> {
  const rows = await db.query<{
    facility_id: string;
    default_years: number | null;
    modality_years: Record<string, number>;
    archive_copy: 'keep' | 'delete';
  }>(
    `SELECT facility_id, default_years, modality_years, archive_copy FROM retention_policies
      ${facilityId ? 'WHERE facility_id = $1' : ''} ORDER BY facility_id`,
    facilityId ? [facilityId] : [],
  );
  return rows.map((r) => ({
    facilityId: r.facility_id,
    defaultYears: r.default_years,
    modalityYears: r.modality_years ?? {},
    archiveCopy: r.archive_copy,
  }));
}

export async function runRetention(deps: RetentionDeps, opts: RetentionRunOptions): Promise<RetentionReport> {
  const now = opts.now ?? new Date();
  const report: RetentionReport = {
    dryRun: opts.dryRun === true,
    examined: 0,
    deleted: [],
    skipped: [],
    failed: [],
  };
  for (const policy of await loadPolicies(deps.db, opts.facilityId)) {
    const periods = [policy.defaultYears, ...Object.values(policy.modalityYears)].filter(
      (y): y is number => typeof y === 'number',
    );
    if (periods.length === 0) continue;
    // Pre-filter in SQL with the shortest period; the exact period per study is decided below.
    const candidates = await deps.db.query<Candidate>(
      `SELECT study_uid, facility_id, orthanc_id, study_date, modalities FROM studies
        WHERE facility_id = $1 AND images_expired_at IS NULL
          AND study_date ~ '^[0-9]{8}$' AND study_date < $2
        ORDER BY study_date, study_uid`,
      [policy.facilityId, cutoffDate(Math.min(...periods), now)],
    );
    for (const c of candidates) {
      const years = keepYearsFor(policy, c.modalities ?? []);
      if (years === null || c.study_date >= cutoffDate(years, now)) continue;
      report.examined++;
      const [hold] = await deps.db.query('SELECT 1 FROM legal_holds WHERE study_uid = $1', [c.study_uid]);
      if (hold) {
        report.skipped.push({ studyUid: c.study_uid, reason: 'legal-hold' });
        continue;
      }
      const [open] = await deps.db.query(
        `SELECT 1 FROM read_requests WHERE study_uid = $1 AND status IN ('requested', 'claimed', 'reported') LIMIT 1`,
        [c.study_uid],
      );
      if (open) {
        report.skipped.push({ studyUid: c.study_uid, reason: 'open-read-request' });
        continue;
      }
      if (opts.dryRun) {
        report.deleted.push({
          studyUid: c.study_uid,
          facilityId: c.facility_id,
          instances: 0,
          archive: policy.archiveCopy === 'keep' ? 'kept' : 'deleted',
        });
        continue;
      }
      try {
        const done = await removeStudy(deps, c, policy);
        report.deleted.push(done);
        await deps.audit.write(
          auditEvent(opts, c, 'success', {
            ...done,
            keepYears: years,
            studyDate: c.study_date,
            modalities: c.modalities,
          }),
        );
      } catch (err) {
        const error = (err as Error).message.slice(0, 200);
        report.failed.push({ studyUid: c.study_uid, error });
        deps.log.error({ err, studyUid: c.study_uid }, 'retention: could not remove a study');
        await deps.audit
          .write(auditEvent(opts, c, 'error', { error, keepYears: years }))
          .catch((e) => deps.log.error({ err: e }, 'retention: audit write failed'));
      }
    }
  }
  return report;
}

function auditEvent(
  opts: RetentionRunOptions,
  c: Candidate,
  outcome: 'success' | 'error',
  detail: Record<string, unknown>,
) {
  return {
    action: 'retention.delete',
    outcome,
    userId: opts.actor?.userId ?? null,
    username: opts.actor?.username ?? 'retention-schedule',
    role: opts.actor?.role ?? null,
    facilityId: c.facility_id,
    studyUid: c.study_uid,
    resource: `retention ${opts.trigger}`,
    detail: { trigger: opts.trigger, ...detail },
  };
}

async function orthancStudyIds(orthanc: OrthancClient, c: Candidate): Promise<string[]> {
  const res = await orthanc.request('POST', '/tools/lookup', { body: c.study_uid });
  const text = await res.body.text();
  if (res.statusCode !== 200) throw new Error(`Orthanc answered ${res.statusCode} to a lookup`);
  const found = (JSON.parse(text) as { Type: string; ID: string }[])
    .filter((r) => r.Type === 'Study')
    .map((r) => r.ID);
  return [...new Set([...(c.orthanc_id ? [c.orthanc_id] : []), ...found])];
}

async function removeStudy(
  deps: RetentionDeps,
  c: Candidate,
  policy: RetentionPolicy,
): Promise<RetentionReport['deleted'][number]> {
  const { db, orthanc, s3 } = deps;
  const instances = await db.query<{
    sop_instance_uid: string;
    series_uid: string;
    archive_key: string | null;
    sha256: string | null;
  }>('SELECT sop_instance_uid, series_uid, archive_key, sha256 FROM instances WHERE study_uid = $1', [
    c.study_uid,
  ]);
  const series = await db.query<{ series_uid: string }>(
    'SELECT series_uid FROM series WHERE study_uid = $1',
    [c.study_uid],
  );

  // 1. Orthanc. Its study id is in the index (or found by UID: Orthanc keys a study by patient
  // and study UID, so one UID may be several Orthanc studies); one Orthanc no longer has is gone.
  for (const id of await orthancStudyIds(orthanc, c)) {
    const res = await orthanc.request('DELETE', `/studies/${id}`);
    await res.body.text();
    if (res.statusCode !== 200 && res.statusCode !== 404)
      throw new Error(`Orthanc answered ${res.statusCode} to the deletion`);
  }

  // 2. The index (and the record of kept archive copies, in the same transaction).
  const keep = policy.archiveCopy === 'keep';
  await db.tx(async (q) => {
    if (keep) {
      for (const i of instances) {
        if (!i.archive_key) continue;
        await q.query(
          `INSERT INTO retained_archive (sop_instance_uid, study_uid, series_uid, facility_id, archive_key, sha256)
           VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (sop_instance_uid) DO NOTHING`,
          [i.sop_instance_uid, c.study_uid, i.series_uid, c.facility_id, i.archive_key, i.sha256],
        );
      }
    }
    await q.query('DELETE FROM instances WHERE study_uid = $1', [c.study_uid]);
    await q.query('DELETE FROM series WHERE study_uid = $1', [c.study_uid]);
  });
  try {
    await db.query('DELETE FROM studies WHERE study_uid = $1', [c.study_uid]);
  } catch (err) {
    // 23503: another record (a read request, a share link…) still refers to the study.
    if ((err as { code?: string }).code !== '23503') throw err;
    await db.query(
      `UPDATE studies SET images_expired_at = now(), orthanc_id = NULL, num_series = 0, num_instances = 0,
              updated_at = now() WHERE study_uid = $1`,
      [c.study_uid],
    );
  }

  // 3. Archive copies, unless kept or still used by an instance of another study.
  if (!keep) {
    for (const key of new Set(instances.flatMap((i) => (i.archive_key ? [i.archive_key] : [])))) {
      const [used] = await db.query(
        `SELECT 1 FROM instances WHERE archive_key = $1 UNION ALL SELECT 1 FROM retained_archive WHERE archive_key = $1 LIMIT 1`,
        [key],
      );
      if (!used) await s3.client.removeObject(s3.bucket, key);
    }
  }

  // 4. Cached thumbnails of the study, its series and instances (derived images: always removed).
  const uids = [c.study_uid, ...series.map((s) => s.series_uid), ...instances.map((i) => i.sop_instance_uid)];
  for (const uid of uids) {
    const keys: string[] = [];
    for await (const o of s3.client.listObjectsV2(s3.bucket, `thumb-${uid}-`, false) as AsyncIterable<{
      name?: string;
    }>)
      if (o.name) keys.push(o.name);
    if (keys.length > 0) await s3.client.removeObjects(s3.bucket, keys);
  }
  return {
    studyUid: c.study_uid,
    facilityId: c.facility_id,
    instances: instances.length,
    archive: keep ? 'kept' : 'deleted',
  };
}
