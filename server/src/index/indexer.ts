/**
 * The study index's single writer of new instances: reads an instance from Orthanc and upserts
 * its study, series and instance rows in one transaction. Called by STOW-RS right after Orthanc
 * stores an instance, and by the change feed for everything else (DIMSE C-STORE, REST uploads).
 *
 * Invariants:
 *  - Idempotent: indexing an instance that is already indexed writes nothing (the archive job is
 *    re-offered while the instance is not archived, so a lost enqueue heals on the next call).
 *  - Counts are exact under concurrent indexing: rows are inserted with ON CONFLICT DO NOTHING
 *    and counters incremented in place (`n = n + 1` re-reads a concurrently committed row), so
 *    writers of one study only wait for each other on the last statement (see write()). An
 *    instance into a series already indexed takes one statement (writeIntoKnownSeries).
 *  - Study- and patient-level attributes come from the first indexed instance; later instances
 *    only fill what was empty. The owning facility is set once (a study never changes owner here).
 *  - Text is stored in NFC; names also folded (name-folding.ts) and split into words for search.
 *  - Nothing here logs patient data: log lines carry Orthanc ids only.
 */
import { createHash } from 'node:crypto';
import type { FastifyBaseLogger } from 'fastify';
import type { Db, Queryable } from '../db/client.js';
import { retryOnConflict } from '../db/retry.js';
import { AppError } from '../plugins/errors.js';
import type { OrthancClient } from '../plugins/orthanc.js';
import type { Queues } from '../queues/queues.js';
import {
  type DicomJson,
  int,
  normaliseDate,
  normaliseDicomJson,
  normaliseTime,
  splitByLevel,
  str,
} from './dicom-json.js';
import { foldForSearch } from './name-folding.js';

declare module 'fastify' {
  interface FastifyInstance {
    indexer: Indexer;
  }
}

export type InstanceSource = 'stow' | 'dimse' | 'rest' | 'derived';

export interface Attribution {
  facilityId: string | null;
  source: InstanceSource;
  sourceAet?: string | null;
  sha256?: string | null;
  sizeBytes?: number | null;
  /**
   * The stored transfer syntax (file meta group 0002,0010), which Orthanc's tag list omits; the
   * caller knows it (STOW parsed the part, the change feed has the instance's Orthanc metadata),
   * and WADO negotiation needs it on every retrieval.
   */
  transferSyntaxUid?: string | null;
}

/**
 * What the caller already read from the object itself (STOW parsed the part): the UIDs and the
 * PatientID, which spare the `tags` round trip to Orthanc. Trusted only when they hash to the
 * Orthanc instance id Orthanc reported (Orthanc's id is SHA-1 of exactly these values), so a
 * PatientID that Orthanc decoded differently falls back to asking Orthanc.
 */
export interface KnownIdentity {
  studyUid: string;
  seriesUid: string;
  sopInstanceUid: string;
  patientId: string;
  /**
   * The instance's DICOM JSON from the caller's own parse (dicomweb/own-dicom-json.ts), when
   * that decode is certain to equal Orthanc's: spares reading the stored object back. Used under
   * the same condition as the identity (the ids hash to Orthanc's instance id).
   */
  dicomJson?: DicomJson;
}

/** What is already recorded of an indexed instance: decides whether an attribution adds anything. */
interface IndexedState {
  study_uid: string;
  series_uid: string;
  sop_instance_uid: string;
  archived: boolean;
  source: InstanceSource;
  has_sha: boolean;
  has_size: boolean;
  has_aet: boolean;
  has_ts: boolean;
  has_facility: boolean;
}

const INDEXED_STATE = `SELECT i.study_uid, i.series_uid, i.sop_instance_uid, i.archived_at IS NOT NULL AS archived, i.source,
       i.sha256 IS NOT NULL AS has_sha, i.size_bytes IS NOT NULL AS has_size, i.source_aet IS NOT NULL AS has_aet,
       i.transfer_syntax_uid IS NOT NULL AS has_ts, s.facility_id IS NOT NULL AS has_facility
  FROM instances i JOIN studies s ON s.study_uid = i.study_uid`;

/** True when completeAttribution would change something for this row. */
function addsAttribution(row: IndexedState, a: Attribution): boolean {
  return (
    (!!a.facilityId && !row.has_facility) ||
    (row.source === 'rest' && a.source !== 'rest') ||
    (!!a.sha256 && !row.has_sha) ||
    (a.sizeBytes != null && !row.has_size) ||
    (!!a.sourceAet && !row.has_aet) ||
    (!!a.transferSyntaxUid && !row.has_ts)
  );
}

export interface IndexedInstance {
  studyUid: string;
  seriesUid: string;
  sopInstanceUid: string;
  /** False when the instance was already indexed (nothing written). */
  created: boolean;
}

const UID_RE = /^[0-9]+(\.[0-9]+)*$/;
const MAX_UID = 64;

function requireUid(v: string | null, what: string, orthancId: string): string {
  if (!v || v.length > MAX_UID || !UID_RE.test(v)) {
    throw new AppError('RADLINK_BAD_REQUEST', `Orthanc instance ${orthancId} has no valid ${what}.`);
  }
  return v;
}

/** The words of a folded name, unique (the search table's rows). */
export function nameWords(folded: string | null): string[] {
  return folded ? [...new Set(folded.split(' ').filter((w) => w.length > 0))] : [];
}

interface OtherId {
  id: string;
  issuer: string | null;
  type: string | null;
}

function otherPatientIds(ds: DicomJson): OtherId[] | null {
  const items = ds['00101002']?.Value;
  if (!items || items.length === 0) return null;
  const out: OtherId[] = [];
  for (const item of items) {
    if (item === null || typeof item !== 'object') continue;
    const it = item as DicomJson;
    const id = str(it, '00100020');
    if (id) out.push({ id, issuer: str(it, '00100021'), type: str(it, '00100022') });
  }
  return out.length > 0 ? out : null;
}

/**
 * Orthanc's public ids of a study and a series: SHA-1 of `PatientID|StudyUID[|SeriesUID]` in five
 * groups of 8 hex digits (Orthanc's DicomInstanceHasher). Computed here instead of asked for, to
 * save two round trips per instance; used to map the change feed's events back to UIDs.
 */
const orthancHash = (s: string) =>
  (createHash('sha1').update(s).digest('hex').match(/.{8}/g) ?? []).join('-');

export function orthancIdsOf(
  patientId: string,
  studyUid: string,
  seriesUid: string,
): { study: string; series: string } {
  return {
    study: orthancHash(`${patientId}|${studyUid}`),
    series: orthancHash(`${patientId}|${studyUid}|${seriesUid}`),
  };
}

/** Orthanc's public id of an instance (same scheme as orthancIdsOf). */
export function orthancInstanceIdOf(k: KnownIdentity): string {
  return orthancHash(`${k.patientId}|${k.studyUid}|${k.seriesUid}|${k.sopInstanceUid}`);
}

/**
 * How long, and for how many instances, the indexer remembers that it queued an archive copy.
 * The change feed reports every instance STOW stored moments after STOW indexed it; within this
 * window it need not read the instance from Orthanc again or queue its copy a second time.
 */
const ARCHIVE_QUEUED_MEMORY_MS = 10 * 60_000;
const ARCHIVE_QUEUED_MEMORY_MAX = 50_000;

export class Indexer {
  /** Called after an instance is newly indexed (the AI trigger: server/src/ai/trigger.ts); never throws. */
  onNewInstance: ((ids: { studyUid: string; seriesUid: string }) => void) | undefined;

  constructor(
    private readonly db: Db,
    private readonly orthanc: OrthancClient,
    private readonly queues: Queues,
    private readonly log: FastifyBaseLogger,
    /**
     * Orthanc id → when this process queued its archive copy (insertion order = age; bounded).
     * Shared by the indexers of one process (withOrthanc): STOW's writes it, the feed's reads it.
     */
    private readonly archiveQueued = new Map<string, number>(),
  ) {}

  /** An indexer reading Orthanc through another client, sharing this one's memory of queued copies. */
  withOrthanc(orthanc: OrthancClient): Indexer {
    return new Indexer(this.db, orthanc, this.queues, this.log, this.archiveQueued);
  }

  async indexOrthancInstance(
    orthancInstanceId: string,
    attribution: Attribution,
    known?: KnownIdentity,
  ): Promise<IndexedInstance> {
    if (!/^[0-9a-f-]{8,64}$/.test(orthancInstanceId)) {
      throw new AppError('RADLINK_BAD_REQUEST', 'Not an Orthanc instance id.');
    }
    const trusted = known && orthancInstanceIdOf(known) === orthancInstanceId ? known : undefined;
    // STOW looked the UID up in the index (under its per-UID lock) just before Orthanc stored the
    // object, so the row is normally absent: write first, and read the existing row only when the
    // write found one (the change feed indexed the instance meanwhile).
    if (trusted) {
      const indexed = await this.insertNew(orthancInstanceId, trusted, attribution);
      if (indexed.created) return indexed;
    }
    // Without the caller's identity (the change feed), an instance indexed already (normally by
    // STOW, just before the feed reports it) is recognised by its Orthanc id, without asking
    // Orthanc for its tags.
    let identity = trusted;
    let [existing] = identity
      ? await this.db.query<IndexedState>(`${INDEXED_STATE} WHERE i.sop_instance_uid = $1`, [
          identity.sopInstanceUid,
        ])
      : await this.db.query<IndexedState>(`${INDEXED_STATE} WHERE i.orthanc_id = $1`, [orthancInstanceId]);
    if (!identity && !existing) {
      identity = await this.identityFromOrthanc(orthancInstanceId);
      // The SOP Instance UID may be indexed under another Orthanc id (a second holder of the UID).
      [existing] = await this.db.query<IndexedState>(`${INDEXED_STATE} WHERE i.sop_instance_uid = $1`, [
        identity.sopInstanceUid,
      ]);
    }
    if (existing) {
      const ids = identity
        ? {
            studyUid: identity.studyUid,
            seriesUid: identity.seriesUid,
            sopInstanceUid: identity.sopInstanceUid,
          }
        : {
            studyUid: existing.study_uid,
            seriesUid: existing.series_uid,
            sopInstanceUid: existing.sop_instance_uid,
          };
      if (addsAttribution(existing, attribution)) await this.completeAttribution(ids, attribution);
      if (!existing.archived) await this.offerArchive({ ...ids, orthancId: orthancInstanceId });
      return { ...ids, created: false };
    }
    // (Always set by now: trusted, or read from Orthanc when no row matched.)
    identity ??= await this.identityFromOrthanc(orthancInstanceId);
    return this.insertNew(orthancInstanceId, identity, attribution);
  }

  /** Writes the rows of an instance the index does not hold; `created` false when it held it after all. */
  private async insertNew(
    orthancInstanceId: string,
    identity: KnownIdentity,
    attribution: Attribution,
  ): Promise<IndexedInstance> {
    const { patientId: patientIdRaw, dicomJson: ownJson, ...ids } = identity;
    const { studyUid, seriesUid, sopInstanceUid } = ids;

    let source = ownJson;
    if (!source) {
      const metadata = await this.orthanc.json<DicomJson[]>(
        'GET',
        `/dicom-web/studies/${studyUid}/series/${seriesUid}/instances/${sopInstanceUid}/metadata`,
      );
      if (!Array.isArray(metadata) || !metadata[0]) {
        throw new AppError('RADLINK_NOT_FOUND', `Orthanc has no metadata for instance ${orthancInstanceId}.`);
      }
      source = metadata[0];
    }
    const ds = normaliseDicomJson(source);
    const orthancIds = { instance: orthancInstanceId, ...orthancIdsOf(patientIdRaw, studyUid, seriesUid) };
    // Into a study and series already indexed (every instance of a series but its first): one
    // statement. Otherwise (or when they vanished meanwhile) the transaction that creates them.
    // Either write is atomic, so one PostgreSQL aborted to break a deadlock is simply run again.
    let created = await retryOnConflict(() => this.writeIntoKnownSeries(ds, ids, orthancIds, attribution));
    created ??= await retryOnConflict(() =>
      this.db.tx((q) => this.write(q, ds, ids, orthancIds, attribution)),
    );
    if (created) await this.offerArchive({ ...ids, orthancId: orthancInstanceId });
    if (created) this.onNewInstance?.(ids);
    return { ...ids, created };
  }

  /** The UIDs and PatientID as Orthanc read them (`?short`: one small call). */
  private async identityFromOrthanc(orthancInstanceId: string): Promise<KnownIdentity> {
    const tags = await this.orthanc.json<Record<string, unknown>>(
      'GET',
      `/instances/${orthancInstanceId}/tags?short`,
    );
    const uidOf = (t: string) =>
      typeof tags[t] === 'string' ? (tags[t] as string).trim().replace(/\0+$/, '') : null;
    return {
      studyUid: requireUid(uidOf('0020,000d'), 'StudyInstanceUID', orthancInstanceId),
      seriesUid: requireUid(uidOf('0020,000e'), 'SeriesInstanceUID', orthancInstanceId),
      sopInstanceUid: requireUid(uidOf('0008,0018'), 'SOPInstanceUID', orthancInstanceId),
      patientId: typeof tags['0010,0020'] === 'string' ? (tags['0010,0020'] as string).trim() : '',
    };
  }

  /**
   * The change feed and STOW race for a new instance: the feed may index it first, as a REST
   * upload without a facility. The better attribution fills what is missing, never overwrites
   * (a study keeps its owner; the rows' WHERE clauses make a repeat call write nothing).
   */
  private async completeAttribution(
    ids: { studyUid: string; sopInstanceUid: string },
    a: Attribution,
  ): Promise<void> {
    if (a.source === 'rest' && !a.facilityId && !a.sha256 && a.sizeBytes == null && !a.transferSyntaxUid)
      return;
    await this.db.tx(async (q) => {
      if (a.facilityId) {
        await q.query(
          'UPDATE studies SET facility_id = $2, updated_at = now() WHERE study_uid = $1 AND facility_id IS NULL',
          [ids.studyUid, a.facilityId],
        );
      }
      await q.query(
        `UPDATE instances SET source = CASE WHEN source = 'rest' THEN $2 ELSE source END,
                sha256 = COALESCE(sha256, $3), size_bytes = COALESCE(size_bytes, $4), source_aet = COALESCE(source_aet, $5),
                transfer_syntax_uid = COALESCE(transfer_syntax_uid, $6)
          WHERE sop_instance_uid = $1
            AND ((source = 'rest' AND $2 <> 'rest') OR (sha256 IS NULL AND $3::text IS NOT NULL)
                 OR (size_bytes IS NULL AND $4::bigint IS NOT NULL) OR (source_aet IS NULL AND $5::text IS NOT NULL)
                 OR (transfer_syntax_uid IS NULL AND $6::text IS NOT NULL))`,
        [
          ids.sopInstanceUid,
          a.source,
          a.sha256 ?? null,
          a.sizeBytes ?? null,
          a.sourceAet ?? null,
          a.transferSyntaxUid ?? null,
        ],
      );
    });
  }

  /** After commit: the archive copy is asynchronous. A failed enqueue is healed by re-indexing. */
  /**
   * True once, for an instance whose archive copy this process queued within
   * ARCHIVE_QUEUED_MEMORY_MS (the entry is consumed: a later change for the same Orthanc id, e.g.
   * after a deletion and a new upload, is handled in full).
   */
  takeArchiveQueued(orthancInstanceId: string): boolean {
    const at = this.archiveQueued.get(orthancInstanceId);
    if (at === undefined) return false;
    this.archiveQueued.delete(orthancInstanceId);
    return Date.now() - at < ARCHIVE_QUEUED_MEMORY_MS;
  }

  private async offerArchive(job: {
    studyUid: string;
    seriesUid: string;
    sopInstanceUid: string;
    orthancId: string;
  }) {
    try {
      await this.queues.enqueueArchive(job);
      if (this.archiveQueued.size >= ARCHIVE_QUEUED_MEMORY_MAX) {
        const oldest = this.archiveQueued.keys().next().value;
        if (oldest !== undefined) this.archiveQueued.delete(oldest);
      }
      this.archiveQueued.delete(job.orthancId);
      this.archiveQueued.set(job.orthancId, Date.now());
    } catch (err) {
      this.log.warn(
        { err: (err as Error).message, orthancId: job.orthancId },
        'archive job not enqueued; will retry on re-index',
      );
    }
  }

  /** The instance row's columns ($1 onwards, in this order), shared by both write paths. */
  private instanceValues(
    ds: DicomJson,
    instanceJson: DicomJson,
    ids: { studyUid: string; seriesUid: string; sopInstanceUid: string },
    orthancInstanceId: string,
    a: Attribution,
  ): unknown[] {
    return [
      ids.sopInstanceUid,
      ids.seriesUid,
      ids.studyUid,
      orthancInstanceId,
      str(ds, '00080016'),
      int(ds, '00200013'),
      a.transferSyntaxUid ?? null,
      int(ds, '00280008') ?? 1,
      int(ds, '00280010'),
      int(ds, '00280011'),
      a.sizeBytes ?? null,
      a.sha256 ?? null,
      a.source,
      a.sourceAet ?? null,
      JSON.stringify(instanceJson),
    ];
  }

  /**
   * The instance row and the counters in one statement (an implicit transaction), for an
   * instance whose study and series rows exist: true when inserted, false when the instance was
   * indexed already, null when the study or series row is not there (write() then creates them).
   * Exact under concurrency because both rows are visible to this statement's snapshot: each
   * `UPDATE ... + 1` waits for a concurrent writer of the same row and re-reads it (READ
   * COMMITTED). Deadlock-free: like write(), the series row is locked before the study row (the
   * study's UPDATE depends on the series' through `se`, so it runs after it), and no row is locked
   * and then updated in one statement: a `SELECT ... FOR NO KEY UPDATE` of the study followed by
   * its UPDATE here made PostgreSQL pick one of two concurrent writers into one series as a
   * deadlock victim (seen under the DICOMweb benchmark, 7 times in 240 instances). The instance's
   * foreign keys hold the study and series rows (KEY SHARE) while the statement runs.
   */
  private async writeIntoKnownSeries(
    ds: DicomJson,
    ids: { studyUid: string; seriesUid: string; sopInstanceUid: string },
    orthanc: { instance: string; series: string; study: string },
    a: Attribution,
  ): Promise<boolean | null> {
    const [r] = await this.db.query<{ known: number; inserted: number }>(
      `WITH known AS (
         SELECT 1 FROM series WHERE series_uid = $2 AND study_uid = $3),
       ins AS (
         INSERT INTO instances (sop_instance_uid, series_uid, study_uid, orthanc_id, sop_class_uid, instance_number,
                                transfer_syntax_uid, number_of_frames, rows, columns, size_bytes, sha256, source,
                                source_aet, dicom_json)
         SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15 FROM known
         ON CONFLICT (sop_instance_uid) DO NOTHING RETURNING 1),
       se AS (
         UPDATE series SET num_instances = num_instances + 1, updated_at = now()
          WHERE series_uid = $2 AND EXISTS (SELECT 1 FROM ins) RETURNING 1),
       st AS (
         UPDATE studies SET
           num_instances = num_instances + 1,
           modalities = CASE WHEN $16::text IS NULL OR $16 = ANY (modalities) THEN modalities
                             ELSE ARRAY(SELECT m FROM unnest(array_append(modalities, $16::text)) AS m ORDER BY m) END,
           facility_id = COALESCE(facility_id, $17),
           orthanc_id = COALESCE(orthanc_id, $18),
           updated_at = now()
          WHERE study_uid = $3 AND EXISTS (SELECT 1 FROM se) RETURNING 1)
       SELECT (SELECT count(*) FROM known)::int AS known, (SELECT count(*) FROM st)::int AS inserted`,
      [
        ...this.instanceValues(ds, splitByLevel(ds).instance, ids, orthanc.instance, a),
        str(ds, '00080060'),
        a.facilityId,
        orthanc.study,
      ],
    );
    if (!r || r.known === 0) return null;
    return r.inserted > 0;
  }

  /**
   * One instance's rows in few round trips (the instance path runs for every stored object):
   * the study, series and instance inserts are one statement, the counters another. Row-level
   * invariants: `INSERT ... ON CONFLICT DO NOTHING` lets the first writer of a study or series
   * set its attributes (a concurrent second writer waits on the unique index, then inserts
   * nothing); the counters are `UPDATE ... + 1`, which under READ COMMITTED re-reads the row a
   * concurrent writer committed, and takes the study row's lock only for the last statement.
   */
  private async write(
    q: Queryable,
    ds: DicomJson,
    ids: { studyUid: string; seriesUid: string; sopInstanceUid: string },
    orthanc: { instance: string; series: string; study: string },
    a: Attribution,
  ): Promise<boolean> {
    const parts = splitByLevel(ds);
    const patientName = str(ds, '00100010');
    const patientFolded = patientName ? foldForSearch(patientName) || null : null;
    const referring = str(ds, '00080090');
    const referringFolded = referring ? foldForSearch(referring) || null : null;
    const modality = str(ds, '00080060');

    const [inserted] = await q.query<{ study: number; series: number; instance: number }>(
      `WITH st AS (
         INSERT INTO studies (study_uid, facility_id, patient_id, issuer_of_patient_id, patient_name, patient_name_folded,
                              patient_birth_date, patient_sex, other_patient_ids, study_date, study_time, accession_number,
                              study_id, study_description, referring_physician_name, referring_physician_folded, dicom_json)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)
         ON CONFLICT (study_uid) DO NOTHING RETURNING 1),
       se AS (
         INSERT INTO series (series_uid, study_uid, orthanc_id, modality, series_number, series_description,
                             body_part_examined, series_date, series_time, dicom_json)
         VALUES ($18, $1, $19, $20, $21, $22, $23, $24, $25, $26)
         ON CONFLICT (series_uid) DO NOTHING RETURNING 1),
       ins AS (
         INSERT INTO instances (sop_instance_uid, series_uid, study_uid, orthanc_id, sop_class_uid, instance_number,
                                transfer_syntax_uid, number_of_frames, rows, columns, size_bytes, sha256, source,
                                source_aet, dicom_json)
         VALUES ($27, $28, $29, $30, $31, $32, $33, $34, $35, $36, $37, $38, $39, $40, $41)
         ON CONFLICT (sop_instance_uid) DO NOTHING RETURNING 1)
       SELECT (SELECT count(*) FROM st)::int AS study, (SELECT count(*) FROM se)::int AS series,
              (SELECT count(*) FROM ins)::int AS instance`,
      [
        ids.studyUid,
        a.facilityId,
        str(ds, '00100020'),
        str(ds, '00100021'),
        patientName,
        patientFolded,
        normaliseDate(str(ds, '00100030')),
        str(ds, '00100040'),
        JSON.stringify(otherPatientIds(ds)),
        normaliseDate(str(ds, '00080020')),
        normaliseTime(str(ds, '00080030')),
        str(ds, '00080050'),
        str(ds, '00200010'),
        str(ds, '00081030'),
        referring,
        referringFolded,
        JSON.stringify(parts.study),
        // series ($18..$26)
        ids.seriesUid,
        orthanc.series,
        modality,
        int(ds, '00200011'),
        str(ds, '0008103E'),
        str(ds, '00180015'),
        normaliseDate(str(ds, '00080021')),
        normaliseTime(str(ds, '00080031')),
        JSON.stringify(parts.series),
        // instance ($27..$41)
        ...this.instanceValues(ds, parts.instance, ids, orthanc.instance, a),
      ],
    );
    if (!inserted) throw new Error('index insert returned no row');
    const words = nameWords(patientFolded);
    if (inserted.study > 0 && words.length > 0) {
      await q.query(
        'INSERT INTO study_name_words (study_uid, word) SELECT $1, unnest($2::text[]) ON CONFLICT DO NOTHING',
        [ids.studyUid, words],
      );
    }
    if (inserted.instance === 0) return false;

    // Study attributes: fill what the first instance left empty; never overwrite. The modality
    // list stays sorted and unique. The study's UPDATE reads `se`, so the series row is locked
    // first — the order writeIntoKnownSeries takes too.
    await q.query(
      `WITH se AS (
         UPDATE series SET num_instances = num_instances + 1, updated_at = now() WHERE series_uid = $6 RETURNING 1)
       UPDATE studies SET
         num_instances = num_instances + 1,
         num_series = num_series + $2,
         modalities = CASE WHEN $3::text IS NULL OR $3 = ANY (modalities) THEN modalities
                           ELSE ARRAY(SELECT m FROM unnest(array_append(modalities, $3::text)) AS m ORDER BY m) END,
         facility_id = COALESCE(facility_id, $4),
         orthanc_id = COALESCE(orthanc_id, $5),
         updated_at = now()
       WHERE study_uid = $1 AND EXISTS (SELECT 1 FROM se)`,
      [ids.studyUid, inserted.series, modality, a.facilityId, orthanc.study, ids.seriesUid],
    );
    return true;
  }

  /**
   * Removes what Orthanc deleted (change feed `Deleted` events), by Orthanc id at any level.
   * Under the study lock, the study's counts and modalities are recomputed from what remains;
   * a study left without instances is removed (its grants with it: they shared images that no
   * longer exist). Returns false when nothing was indexed under that id.
   */
  async removeOrthancResource(level: 'Instance' | 'Series' | 'Study', orthancId: string): Promise<boolean> {
    const table = level === 'Instance' ? 'instances' : level === 'Series' ? 'series' : 'studies';
    return this.db.tx(async (q) => {
      const [row] = await q.query<{ study_uid: string }>(
        `SELECT study_uid FROM ${table} WHERE orthanc_id = $1`,
        [orthancId],
      );
      if (!row) return false;
      await q.query('SELECT 1 FROM studies WHERE study_uid = $1 FOR UPDATE', [row.study_uid]);
      await q.query(`DELETE FROM ${table} WHERE orthanc_id = $1`, [orthancId]);
      if (level === 'Study') return true;
      await q.query(
        `UPDATE series se SET num_instances = (SELECT count(*) FROM instances i WHERE i.series_uid = se.series_uid)
          WHERE se.study_uid = $1`,
        [row.study_uid],
      );
      await q.query('DELETE FROM series WHERE study_uid = $1 AND num_instances = 0', [row.study_uid]);
      await q.query(
        `UPDATE studies s SET
           num_series = (SELECT count(*) FROM series se WHERE se.study_uid = s.study_uid),
           num_instances = (SELECT count(*) FROM instances i WHERE i.study_uid = s.study_uid),
           modalities = ARRAY(SELECT DISTINCT se.modality FROM series se
                               WHERE se.study_uid = s.study_uid AND se.modality IS NOT NULL ORDER BY 1),
           updated_at = now()
         WHERE s.study_uid = $1`,
        [row.study_uid],
      );
      await q.query('DELETE FROM studies WHERE study_uid = $1 AND num_instances = 0', [row.study_uid]);
      return true;
    });
  }
}
