/**
 * The archive side of backup and restore. The S3 archive holds every instance as stored
 * (`dicom-<sha256>`, written and verified by the archive worker); the index says which instance
 * is under which key. A backup records that map and checks each key is present; a restore
 * rebuilds an empty Orthanc from the archive, instance by instance, checking each object's
 * SHA-256 against the index before storing it, and points the index at the new Orthanc ids.
 */
import { createHash } from 'node:crypto';
import type { Queryable } from '../../server/src/db/client.js';
import type { OrthancClient } from '../../server/src/plugins/orthanc.js';
import type { ObjectStore } from '../../server/src/plugins/s3.js';
import type { ArchiveEntry } from './ops-config.js';

const CONCURRENCY = 4;

/** Runs fn over items with a few in flight (Orthanc stores in parallel; S3 reads overlap). */
export async function forEachLimited<T>(
  items: T[],
  fn: (t: T) => Promise<void>,
  limit = CONCURRENCY,
): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

export async function readArchiveIndex(db: Queryable): Promise<ArchiveEntry[]> {
  const live = await db.query<{ s: string; se: string; st: string; sha: string | null; key: string | null }>(
    `SELECT sop_instance_uid AS s, series_uid AS se, study_uid AS st, sha256 AS sha, archive_key AS key
       FROM instances ORDER BY study_uid, series_uid, sop_instance_uid`,
  );
  const retained = await db.query<{ s: string; se: string; st: string; sha: string | null; key: string }>(
    `SELECT sop_instance_uid AS s, series_uid AS se, study_uid AS st, sha256 AS sha, archive_key AS key
       FROM retained_archive ORDER BY study_uid, series_uid, sop_instance_uid`,
  );
  const entry = (kind: ArchiveEntry['kind']) => (r: (typeof live)[number]) => ({
    sopInstanceUid: r.s,
    seriesUid: r.se,
    studyUid: r.st,
    sha256: r.sha,
    archiveKey: r.key,
    kind,
  });
  return [...live.map(entry('index')), ...retained.map(entry('retained'))];
}

/** Archive keys the index names that S3 does not hold. */
export async function missingKeys(s3: ObjectStore, entries: ArchiveEntry[]): Promise<string[]> {
  const keys = [...new Set(entries.flatMap((e) => (e.archiveKey ? [e.archiveKey] : [])))];
  const missing: string[] = [];
  await forEachLimited(
    keys,
    async (key) => {
      try {
        await s3.client.statObject(s3.bucket, key);
      } catch (err) {
        const code = (err as { code?: string }).code;
        if (code === 'NotFound' || code === 'NoSuchKey') missing.push(key);
        else throw err;
      }
    },
    8,
  );
  return missing.sort();
}

async function readObject(s3: ObjectStore, key: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of await s3.client.getObject(s3.bucket, key)) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

export interface RebuildReport {
  instances: number;
  stored: number;
  alreadyPresent: number;
  /** Indexed but never archived (no key) or the key is gone from S3. */
  notInArchive: string[];
  /** The archive object's SHA-256 differs from the index: not stored. */
  corrupt: string[];
  failed: string[];
}

export async function rebuildOrthanc(
  db: Queryable,
  orthanc: OrthancClient,
  s3: ObjectStore,
): Promise<RebuildReport> {
  const rows = await db.query<{
    sop_instance_uid: string;
    series_uid: string;
    study_uid: string;
    orthanc_id: string | null;
    sha256: string | null;
    archive_key: string | null;
  }>(
    `SELECT sop_instance_uid, series_uid, study_uid, orthanc_id, sha256, archive_key FROM instances
      ORDER BY study_uid, series_uid, instance_number NULLS LAST, sop_instance_uid`,
  );
  const report: RebuildReport = {
    instances: rows.length,
    stored: 0,
    alreadyPresent: 0,
    notInArchive: [],
    corrupt: [],
    failed: [],
  };
  await forEachLimited(rows, async (r) => {
    if (r.orthanc_id) {
      const res = await orthanc.request('GET', `/instances/${r.orthanc_id}`);
      await res.body.text();
      if (res.statusCode === 200) {
        report.alreadyPresent++;
        return;
      }
    }
    if (!r.archive_key) {
      report.notInArchive.push(r.sop_instance_uid);
      return;
    }
    let bytes: Buffer;
    try {
      bytes = await readObject(s3, r.archive_key);
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code === 'NoSuchKey' || code === 'NotFound') report.notInArchive.push(r.sop_instance_uid);
      else report.failed.push(r.sop_instance_uid);
      return;
    }
    if (r.sha256 && createHash('sha256').update(bytes).digest('hex') !== r.sha256) {
      report.corrupt.push(r.sop_instance_uid);
      return;
    }
    const res = await orthanc.request('POST', '/instances', {
      body: bytes,
      headers: { 'content-type': 'application/dicom' },
    });
    const text = await res.body.text();
    if (res.statusCode !== 200) {
      report.failed.push(r.sop_instance_uid);
      return;
    }
    const a = JSON.parse(text) as { ID: string; ParentSeries: string; ParentStudy: string };
    await db.query('UPDATE instances SET orthanc_id = $2 WHERE sop_instance_uid = $1', [
      r.sop_instance_uid,
      a.ID,
    ]);
    await db.query('UPDATE series SET orthanc_id = $2 WHERE series_uid = $1', [r.series_uid, a.ParentSeries]);
    await db.query('UPDATE studies SET orthanc_id = $2 WHERE study_uid = $1', [r.study_uid, a.ParentStudy]);
    report.stored++;
  });
  return report;
}

/**
 * Points the change feed at the rebuilt Orthanc's current position: its change log starts anew,
 * and the instances just stored are already indexed.
 */
export async function resetChangeFeed(db: Queryable, orthanc: OrthancClient): Promise<number> {
  const { Last } = await orthanc.json<{ Last: number }>('GET', '/changes?last');
  await db.query(
    `INSERT INTO feed_cursors (name, last_seq) VALUES ('orthanc-changes', $1)
     ON CONFLICT (name) DO UPDATE SET last_seq = EXCLUDED.last_seq, updated_at = now()`,
    [Last],
  );
  return Last;
}
