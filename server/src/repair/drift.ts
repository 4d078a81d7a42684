/**
 * Drift between the three copies of the archive, and its repair.
 *
 *   Orthanc   the DICOM engine: what was acknowledged to a modality or a STOW client must be here;
 *   index     the gateway's database: what QIDO finds and access is decided on;
 *   S3        the content-addressed archive copy (`dicom-<sha256>`), from which Orthanc can be rebuilt.
 *
 * `measureDrift` counts, without changing anything, what is in one and missing from another — the
 * "before any repair" count of issue 7 — and `repairDrift` brings them back in step:
 *   - in Orthanc, not indexed      → indexed (attributed as the change feed would: DIMSE by AE title);
 *   - indexed, not in Orthanc      → restored into Orthanc from the S3 copy when there is one
 *                                    (checksum verified), otherwise reported as lost;
 *   - indexed, not archived, or archived but the S3 object is gone → a fresh archive job.
 * Repairs are idempotent; a second run with nothing to do changes nothing.
 *
 * Scale: Orthanc's instance ids are paged (`/instances?since&limit`), the index is read in one
 * pass of (sop, orthanc id, archive key) and S3 is listed once with the flat `dicom-` prefix; at
 * 10^6 instances that is tens of MB of ids, acceptable for an operator's command.
 */
import { createHash } from 'node:crypto';
import type { FastifyBaseLogger } from 'fastify';
import type { Db } from '../db/client.js';
import type { Attribution, Indexer } from '../index/indexer.js';
import { isUnindexable, recordUnindexable, unindexableIds } from '../index/rejects.js';
import { AppError } from '../plugins/errors.js';
import { type OrthancClient, OrthancDroppedError } from '../plugins/orthanc.js';
import type { ObjectStore } from '../plugins/s3.js';
import type { Queues } from '../queues/queues.js';

export interface Drift {
  orthancInstances: number;
  indexedInstances: number;
  archivedObjects: number;
  /** Orthanc instance ids with no index row (excluding the unindexable ones). */
  missingFromIndex: string[];
  /** Orthanc instance ids that can never be indexed (no valid UIDs); reported, not repaired. */
  unindexable: string[];
  /** SOP Instance UIDs indexed but absent from Orthanc. */
  missingFromOrthanc: string[];
  /** SOP Instance UIDs indexed but with no verified S3 copy (not yet archived, or the object is gone). */
  missingFromArchive: string[];
}

export interface DriftDeps {
  db: Db;
  orthanc: OrthancClient;
  s3: ObjectStore;
}

const PAGE = 1000;
/** As the change feed's MAX_DROPS_PER_INSTANCE. */
const MAX_DROPS = 3;
/** How long the repair waits for a restarting Orthanc (its supervisor restarts it within seconds). */
const ORTHANC_BACK_MS = 30_000;

async function waitForOrthanc(orthanc: OrthancClient): Promise<void> {
  const deadline = Date.now() + ORTHANC_BACK_MS;
  for (;;) {
    try {
      await orthanc.ping();
      return;
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}

async function orthancInstanceIds(orthanc: OrthancClient): Promise<Set<string>> {
  const ids = new Set<string>();
  for (let since = 0; ; since += PAGE) {
    const page = await orthanc.json<string[]>('GET', `/instances?since=${since}&limit=${PAGE}`);
    for (const id of page) ids.add(id);
    if (page.length < PAGE) return ids;
  }
}

/**
 * The archive keys present in S3: one listing, or, if the store cannot list (s3rver answers 500 to
 * some listings of a few thousand keys), one HEAD per key the index expects.
 */
async function archiveKeys(s3: ObjectStore, expected: string[]): Promise<Set<string>> {
  const keys = new Set<string>();
  try {
    const stream = s3.client.listObjectsV2(s3.bucket, 'dicom-', true) as AsyncIterable<{ name?: string }>;
    for await (const o of stream) if (o.name) keys.add(o.name);
    return keys;
  } catch {
    keys.clear();
    for (const key of expected) {
      const there = await s3.client.statObject(s3.bucket, key).then(
        () => true,
        () => false,
      );
      if (there) keys.add(key);
    }
    return keys;
  }
}

interface IndexRow {
  sop_instance_uid: string;
  orthanc_id: string | null;
  archive_key: string | null;
  archived_at: string | null;
}

export async function measureDrift(deps: DriftDeps): Promise<Drift & { rows: IndexRow[] }> {
  // The index first: anything indexed was stored in Orthanc before it was indexed, so an instance
  // stored between the two reads shows as "not indexed yet", never as "missing from Orthanc".
  const rows = await deps.db.query<IndexRow>(
    'SELECT sop_instance_uid, orthanc_id, archive_key, archived_at::text FROM instances',
  );
  const expectedKeys = rows.map((r) => r.archive_key).filter((k): k is string => !!k);
  const [inOrthanc, inS3, rejected] = await Promise.all([
    orthancInstanceIds(deps.orthanc),
    archiveKeys(deps.s3, expectedKeys),
    unindexableIds(deps.db),
  ]);
  const indexedOrthancIds = new Set(rows.map((r) => r.orthanc_id).filter((x): x is string => !!x));
  return {
    orthancInstances: inOrthanc.size,
    indexedInstances: rows.length,
    archivedObjects: inS3.size,
    missingFromIndex: [...inOrthanc].filter((id) => !indexedOrthancIds.has(id) && !rejected.has(id)),
    unindexable: [...inOrthanc].filter((id) => rejected.has(id) && !indexedOrthancIds.has(id)),
    missingFromOrthanc: rows
      .filter((r) => !r.orthanc_id || !inOrthanc.has(r.orthanc_id))
      .map((r) => r.sop_instance_uid),
    missingFromArchive: rows
      .filter((r) => !r.archived_at || !r.archive_key || !inS3.has(r.archive_key))
      .map((r) => r.sop_instance_uid),
    rows,
  };
}

export interface RepairResult {
  indexed: number;
  /** Orthanc instances found to lack what the index needs (recorded; see rejects.ts). */
  unindexable: number;
  restoredToOrthanc: number;
  /** Indexed, gone from Orthanc and without an archive copy: nothing can bring these back. */
  lost: string[];
  archiveJobs: number;
}

export interface RepairDeps extends DriftDeps {
  indexer: Indexer;
  queues: Queues;
  /** How the change feed attributes an instance it did not see arrive through STOW. */
  attributionOf(orthancId: string): Promise<Attribution>;
  log: FastifyBaseLogger;
}

export async function repairDrift(deps: RepairDeps): Promise<RepairResult> {
  const drift = await measureDrift(deps);
  const result: RepairResult = {
    indexed: 0,
    unindexable: drift.unindexable.length,
    restoredToOrthanc: 0,
    lost: [],
    archiveJobs: 0,
  };

  for (const orthancId of drift.missingFromIndex) {
    for (let drops = 0; ; ) {
      try {
        const r = await deps.indexer.indexOrthancInstance(orthancId, await deps.attributionOf(orthancId));
        if (r.created) result.indexed++;
        break;
      } catch (err) {
        // One malformed object must not stop the repair of everything else.
        if (isUnindexable(err)) {
          await recordUnindexable(deps.db, orthancId, err.message);
          result.unindexable++;
          break;
        }
        if (err instanceof AppError && err.code === 'RADLINK_NOT_FOUND') break; // deleted meanwhile
        // Orthanc stopped while we read this object (or restarted for another reason): wait for
        // it and try again; an object that stops it every time is set aside, as the feed does.
        if (err instanceof OrthancDroppedError && ++drops < MAX_DROPS) {
          await waitForOrthanc(deps.orthanc);
          continue;
        }
        if (err instanceof OrthancDroppedError) {
          await recordUnindexable(
            deps.db,
            orthancId,
            `Reading Orthanc instance ${orthancId} stopped Orthanc ${drops} times; left in Orthanc for an operator.`,
          );
          result.unindexable++;
          break;
        }
        throw err;
      }
    }
  }

  const byUid = new Map(drift.rows.map((r) => [r.sop_instance_uid, r]));
  for (const uid of drift.missingFromOrthanc) {
    const row = byUid.get(uid);
    const key = row?.archived_at ? row.archive_key : null;
    const bytes = key ? await readObject(deps.s3, key) : null;
    // The key is the SHA-256 of the bytes: a copy that does not hash to its name is not restored.
    if (!bytes || !key || `dicom-${createHash('sha256').update(bytes).digest('hex')}` !== key) {
      result.lost.push(uid);
      continue;
    }
    const res = await deps.orthanc.request('POST', '/instances', {
      headers: { 'content-type': 'application/dicom' },
      body: bytes,
    });
    const answer = (await res.body.json()) as { ID?: string };
    if (res.statusCode !== 200 || !answer.ID) {
      result.lost.push(uid);
      continue;
    }
    await deps.db.query('UPDATE instances SET orthanc_id = $2 WHERE sop_instance_uid = $1', [uid, answer.ID]);
    result.restoredToOrthanc++;
  }

  // Re-measure: restored and newly indexed instances now have Orthanc ids to archive from.
  const after = await measureDrift(deps);
  const rowsAfter = new Map(after.rows.map((r) => [r.sop_instance_uid, r]));
  const now = Date.now();
  for (const uid of after.missingFromArchive) {
    const row = rowsAfter.get(uid);
    if (!row?.orthanc_id || result.lost.includes(uid)) continue;
    const [ids] = await deps.db.query<{ study_uid: string; series_uid: string }>(
      'SELECT study_uid, series_uid FROM instances WHERE sop_instance_uid = $1',
      [uid],
    );
    if (!ids) continue;
    // A repair job id of its own: the original job may still be recorded as completed in Redis,
    // which would make a re-add with the same id a no-op.
    await deps.queues.archive.add(
      'archive',
      { studyUid: ids.study_uid, seriesUid: ids.series_uid, sopInstanceUid: uid, orthancId: row.orthanc_id },
      { jobId: `repair_${uid}_${now}` },
    );
    result.archiveJobs++;
  }
  if (result.lost.length)
    deps.log.error({ lost: result.lost.length }, 'repair: instances lost from every copy');
  deps.log.info({ ...result, lost: result.lost.length }, 'repair: drift repaired');
  return result;
}

async function readObject(s3: ObjectStore, key: string): Promise<Buffer | null> {
  try {
    const stream = await s3.client.getObject(s3.bucket, key);
    const chunks: Buffer[] = [];
    for await (const c of stream) chunks.push(c as Buffer);
    return Buffer.concat(chunks);
  } catch {
    return null;
  }
}
