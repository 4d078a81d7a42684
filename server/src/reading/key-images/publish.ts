/**
 * Publishes a study's key images into the study as a Key Object Selection (kos.ts), after every
 * change to the list, so that other DICOM viewers see them. The list in the database stays the
 * source of truth: publication runs after the user's PUT/DELETE has answered, and a failure is
 * logged and recorded (key_image_kos.last_error, migration 045) and retried by the next change.
 *
 * Invariants:
 *  - Exactly one current RadLink KOS per study (none when the list is empty). Orthanc keeps the
 *    first object stored under a UID (OverwriteInstances=false), so each publication takes a new
 *    revision first and its KOS gets a UID derived from (study, revision), never reused, even
 *    after a crash between storing and recording. The publication records itself only if its
 *    revision is still the study's latest (a later one, on this gateway or another, read a newer
 *    list and wins); a loser removes its own KOS. The KOS it replaces is then removed from
 *    Orthanc and the index; a removal that fails is kept in `superseded` and retried next time.
 *  - In one gateway, changes to a study are gathered for a moment (batchMs) and published by one
 *    run; publications of one study run one at a time, and changes that arrive during a run are
 *    coalesced into one more run, which reads the list as it then is. Fewer superseded objects
 *    means less churn in Orthanc and fewer archive jobs for objects that are gone by the time
 *    the archive worker gets to them.
 *  - Unchanged content (same references, notes and observer) is not published again.
 *  - Log lines carry the study UID only as far as other gateway logs do: no patient data.
 */
import { createHash } from 'node:crypto';
import type { FastifyBaseLogger } from 'fastify';
import type { Db } from '../../db/client.js';
import type { Indexer } from '../../index/indexer.js';
import type { OrthancClient } from '../../plugins/orthanc.js';
import {
  type IndexedStudyAttributes,
  removeDerivedInstance,
  storeDerivedInstance,
  studyAttributesForDerived,
} from '../delivery/derived-store.js';
import { derivedUid } from '../delivery/uids.js';
import { buildKeyObjectSelection, type KosReference } from './kos.js';
import type { KosPublication } from './schemas.js';

export const kosSeriesUid = (studyUid: string) => derivedUid('key-images-kos-series', studyUid);
export const kosInstanceUid = (studyUid: string, revision: number) =>
  derivedUid('key-images-kos', studyUid, String(revision));

export interface KosPublisherDeps {
  db: Db;
  orthanc: OrthancClient;
  indexer: Indexer;
  log: FastifyBaseLogger;
}

interface StateRow {
  revision: number;
  sop_instance_uid: string | null;
  content_sha256: string | null;
  published_at: Date | string | null;
  superseded: string[];
  last_error: string | null;
  failed_at: Date | string | null;
}

interface RefRow {
  series_uid: string;
  sop_instance_uid: string;
  frame: number;
  note: string | null;
  sop_class_uid: string | null;
  number_of_frames: number | null;
  instance_number: number | null;
  series_number: number | null;
}

interface StudyRow extends IndexedStudyAttributes {
  facility_id: string | null;
}

/** A study's pending publication: a batching timer, then one run at a time. */
interface Slot {
  /** The radiologist of the latest change (the KOS's observer). */
  actor: string;
  /** A change not yet covered by a publication that started after it. */
  dirty: boolean;
  timer: NodeJS.Timeout | null;
  run: Promise<void> | null;
}

export class KosPublisher {
  private readonly slots = new Map<string, Slot>();
  /** How long changes are gathered before a publication starts (a burst of marks gives one KOS). */
  private readonly batchMs: number;

  constructor(
    private readonly d: KosPublisherDeps,
    opts: { batchMs?: number } = {},
  ) {
    this.batchMs = opts.batchMs ?? 1000;
  }

  /**
   * Publishes the study's list at most `batchMs` after this change (later while a publication of
   * the study is running: right after it); never throws, never waits for the publication.
   * `actorUserId` is the radiologist whose change this is.
   */
  schedule(studyUid: string, actorUserId: string): void {
    let slot = this.slots.get(studyUid);
    if (!slot) {
      slot = { actor: actorUserId, dirty: false, timer: null, run: null };
      this.slots.set(studyUid, slot);
    }
    slot.actor = actorUserId;
    slot.dirty = true;
    if (slot.timer || slot.run) return;
    const armed = slot;
    armed.timer = setTimeout(() => this.start(studyUid, armed), this.batchMs);
    armed.timer.unref();
  }

  private start(studyUid: string, slot: Slot): void {
    if (slot.timer) clearTimeout(slot.timer);
    slot.timer = null;
    slot.run = (async () => {
      try {
        // A change during a run sets `dirty` again; no await separates the last check from the
        // slot's removal, so none is lost.
        while (slot.dirty) {
          slot.dirty = false;
          await this.publishLogged(studyUid, slot.actor);
        }
      } finally {
        slot.run = null;
        this.slots.delete(studyUid);
      }
    })();
  }

  /** Starts what is waiting and resolves when nothing is left (the app waits for this before closing). */
  async drain(): Promise<void> {
    while (this.slots.size > 0) {
      for (const [studyUid, slot] of this.slots) if (!slot.run) this.start(studyUid, slot);
      await Promise.all([...this.slots.values()].map((s) => s.run));
    }
  }

  /** The study's publication state for the GET response, or null when nothing was ever published. */
  async state(studyUid: string): Promise<KosPublication | null> {
    const [r] = await this.d.db.query<StateRow>('SELECT * FROM key_image_kos WHERE study_uid = $1', [
      studyUid,
    ]);
    if (!r) return null;
    const iso = (v: Date | string | null) => (v === null ? null : new Date(v).toISOString());
    return {
      sopInstanceUid: r.sop_instance_uid,
      revision: r.revision,
      publishedAt: iso(r.published_at),
      pending: this.slots.has(studyUid),
      lastError: r.last_error ? { reason: r.last_error, at: iso(r.failed_at)! } : null,
    };
  }

  private async publishLogged(studyUid: string, actorUserId: string): Promise<void> {
    try {
      await this.publish(studyUid, actorUserId);
    } catch (err) {
      const reason = (err as Error).message.slice(0, 300);
      this.d.log.warn({ err: reason, studyUid }, 'key images: Key Object Selection not published');
      await this.d.db
        .query(
          `INSERT INTO key_image_kos (study_uid, last_error, failed_at) VALUES ($1, $2, now())
           ON CONFLICT (study_uid) DO UPDATE SET last_error = EXCLUDED.last_error, failed_at = now()`,
          [studyUid, reason],
        )
        .catch(() => undefined);
    }
  }

  /** One publication of the study's list as it is now. */
  private async publish(studyUid: string, actorUserId: string): Promise<void> {
    const { db } = this.d;
    const [study] = await db.query<StudyRow>(
      `SELECT facility_id, patient_id, issuer_of_patient_id, patient_name, patient_sex, patient_birth_date,
              study_date, study_time, accession_number, study_id, study_description, referring_physician_name
         FROM studies WHERE study_uid = $1`,
      [studyUid],
    );
    if (!study) return; // The study left the index (its key images and record went with it).
    const [prior] = await db.query<StateRow>('SELECT * FROM key_image_kos WHERE study_uid = $1', [studyUid]);
    const refs = await this.references(studyUid);
    const observer = await this.observerName(actorUserId);
    const content = refs.length === 0 ? null : contentHash(refs, observer);
    if (
      prior &&
      prior.content_sha256 === content &&
      (content === null) === (prior.sop_instance_uid === null) &&
      prior.superseded.length === 0 &&
      !prior.last_error
    )
      return;

    // Take the next revision before building: its UID is ours alone. The list is read again
    // after it, so the latest revision always holds the latest list.
    const [{ revision } = { revision: 0 }] = await db.query<{ revision: number }>(
      `INSERT INTO key_image_kos (study_uid, revision) VALUES ($1, 1)
       ON CONFLICT (study_uid) DO UPDATE SET revision = key_image_kos.revision + 1
       RETURNING revision`,
      [studyUid],
    );
    const current = await this.references(studyUid);
    const currentContent = current.length === 0 ? null : contentHash(current, observer);

    let stored: { sopInstanceUid: string; seriesUid: string } | null = null;
    if (current.length > 0) {
      const seriesUid = kosSeriesUid(studyUid);
      const sopInstanceUid = kosInstanceUid(studyUid, revision);
      // Listed for removal until recorded as current: a run that dies between storing and
      // recording leaves no KOS behind that nothing knows of (the next run removes it).
      await db.query(
        'UPDATE key_image_kos SET superseded = array_append(superseded, $2) WHERE study_uid = $1',
        [studyUid, sopInstanceUid],
      );
      const file = buildKeyObjectSelection({
        studyUid,
        seriesUid,
        sopInstanceUid,
        instanceNumber: revision,
        patientStudy: await studyAttributesForDerived(this.d.orthanc, studyUid, study),
        observerName: observer,
        createdAt: new Date(),
        seriesDescription: 'Key images',
        references: current,
      });
      await storeDerivedInstance(this.d, file, study.facility_id, 'key object selection');
      stored = { sopInstanceUid, seriesUid };
    }

    // Record it, only if no later publication has started meanwhile.
    const outcome = await db.tx(async (q) => {
      const [row] = await q.query<StateRow>('SELECT * FROM key_image_kos WHERE study_uid = $1 FOR UPDATE', [
        studyUid,
      ]);
      if (!row || row.revision !== revision) return { won: false, remove: [] as string[] };
      const remove = row.superseded.filter((u) => u !== stored?.sopInstanceUid);
      if (row.sop_instance_uid && row.sop_instance_uid !== stored?.sopInstanceUid)
        remove.push(row.sop_instance_uid);
      await q.query(
        `UPDATE key_image_kos SET sop_instance_uid = $2, series_uid = $3, content_sha256 = $4,
                published_at = now(), superseded = $5, last_error = NULL, failed_at = NULL
          WHERE study_uid = $1`,
        [studyUid, stored?.sopInstanceUid ?? null, stored?.seriesUid ?? null, currentContent, remove],
      );
      return { won: true, remove };
    });
    if (!outcome.won) {
      // A later run is current (or will be); ours stays listed in `superseded` until removed.
      if (stored) {
        await removeDerivedInstance({ ...this.d, db }, stored.sopInstanceUid);
        await db.query(
          'UPDATE key_image_kos SET superseded = array_remove(superseded, $2) WHERE study_uid = $1',
          [studyUid, stored.sopInstanceUid],
        );
      }
      return;
    }
    for (const uid of outcome.remove) {
      await removeDerivedInstance({ ...this.d, db }, uid);
      await db.query(
        'UPDATE key_image_kos SET superseded = array_remove(superseded, $2) WHERE study_uid = $1',
        [studyUid, uid],
      );
    }
  }

  /** The marked images in reading order, with what the KOS states about each (from the index). */
  private async references(studyUid: string): Promise<KosReference[]> {
    const rows = await this.d.db.query<RefRow>(
      `SELECT k.series_uid, k.sop_instance_uid, k.frame, k.note, i.sop_class_uid, i.number_of_frames,
              i.instance_number, s.series_number
         FROM key_images k
         JOIN instances i ON i.sop_instance_uid = k.sop_instance_uid AND i.study_uid = k.study_uid
         LEFT JOIN series s ON s.series_uid = k.series_uid
        WHERE k.study_uid = $1 AND i.sop_class_uid IS NOT NULL
        ORDER BY s.series_number NULLS LAST, k.series_uid, i.instance_number NULLS LAST, k.sop_instance_uid, k.frame`,
      [studyUid],
    );
    // An image no longer indexed (deleted from the study) cannot be referenced: it is left out.
    return rows.map((r) => ({
      seriesUid: r.series_uid,
      sopClassUid: r.sop_class_uid!,
      sopInstanceUid: r.sop_instance_uid,
      frame: r.frame,
      multiFrame: (r.number_of_frames ?? 1) > 1,
      seriesNumber: r.series_number,
      instanceNumber: r.instance_number,
      note: r.note,
    }));
  }

  private async observerName(userId: string): Promise<string> {
    const [u] = await this.d.db.query<{ display_name: string }>(
      'SELECT display_name FROM users WHERE id = $1',
      [userId],
    );
    return u?.display_name ?? '';
  }
}

/** What a KOS states, hashed: an unchanged list is not published again. */
function contentHash(refs: KosReference[], observer: string): string {
  return createHash('sha256')
    .update(JSON.stringify([observer, refs]))
    .digest('hex');
}
