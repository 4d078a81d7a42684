/** Key-image rows (migration 042) and the instance facts a mark is checked against. */
import type { Queryable } from '../../db/client.js';
import type { KeyImage } from './schemas.js';

interface Row {
  sop_instance_uid: string;
  series_uid: string;
  frame: number;
  note: string | null;
  marked_by: string | null;
  display_name: string | null;
  marked_at: Date | string;
}

const toApi = (r: Row): KeyImage => ({
  sopInstanceUid: r.sop_instance_uid,
  seriesUid: r.series_uid,
  frame: r.frame,
  note: r.note,
  markedBy: { userId: r.marked_by, name: r.display_name ?? '' },
  markedAt: new Date(r.marked_at).toISOString(),
});

const SELECT = `SELECT k.sop_instance_uid, k.series_uid, k.frame, k.note, k.marked_by, u.display_name, k.marked_at
  FROM key_images k LEFT JOIN users u ON u.id = k.marked_by`;

export class KeyImagesRepo {
  constructor(private readonly db: Queryable) {}

  /** In reading order: series number, instance number, frame (unindexed instances last). */
  async list(studyUid: string): Promise<KeyImage[]> {
    const rows = await this.db.query<Row>(
      `${SELECT}
         LEFT JOIN instances i ON i.sop_instance_uid = k.sop_instance_uid
         LEFT JOIN series s ON s.series_uid = k.series_uid
        WHERE k.study_uid = $1
        ORDER BY s.series_number NULLS LAST, k.series_uid, i.instance_number NULLS LAST, k.sop_instance_uid, k.frame`,
      [studyUid],
    );
    return rows.map(toApi);
  }

  /** The instance's series and frame count, when it belongs to the study. */
  async instance(
    studyUid: string,
    sopInstanceUid: string,
  ): Promise<{ seriesUid: string; frames: number } | null> {
    const [r] = await this.db.query<{ series_uid: string; number_of_frames: number | null }>(
      'SELECT series_uid, number_of_frames FROM instances WHERE sop_instance_uid = $1 AND study_uid = $2',
      [sopInstanceUid, studyUid],
    );
    return r ? { seriesUid: r.series_uid, frames: Math.max(1, r.number_of_frames ?? 1) } : null;
  }

  async upsert(k: {
    studyUid: string;
    seriesUid: string;
    sopInstanceUid: string;
    frame: number;
    note: string | null;
    userId: string;
  }): Promise<{ entry: KeyImage; created: boolean }> {
    // xmax = 0 only for a freshly inserted row (PostgreSQL and PGlite): tells create from update.
    const [r] = await this.db.query<Row & { created: boolean }>(
      `WITH up AS (
         INSERT INTO key_images (study_uid, sop_instance_uid, frame, series_uid, note, marked_by)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (study_uid, sop_instance_uid, frame)
           DO UPDATE SET note = EXCLUDED.note, marked_by = EXCLUDED.marked_by, marked_at = now()
         RETURNING *, (xmax = 0) AS created)
       SELECT up.sop_instance_uid, up.series_uid, up.frame, up.note, up.marked_by, u.display_name, up.marked_at, up.created
         FROM up LEFT JOIN users u ON u.id = up.marked_by`,
      [k.studyUid, k.sopInstanceUid, k.frame, k.seriesUid, k.note, k.userId],
    );
    return { entry: toApi(r!), created: r!.created };
  }

  async remove(studyUid: string, sopInstanceUid: string, frame: number): Promise<boolean> {
    const rows = await this.db.query(
      'DELETE FROM key_images WHERE study_uid = $1 AND sop_instance_uid = $2 AND frame = $3 RETURNING 1',
      [studyUid, sopInstanceUid, frame],
    );
    return rows.length > 0;
  }
}
