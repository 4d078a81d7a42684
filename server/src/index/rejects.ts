/**
 * Instances in Orthanc that can never be indexed (see migration 041). Recording one is idempotent;
 * the change feed and the repair command both record, so neither retries a deterministic failure
 * forever and the drift count can tell "unindexable" apart from "not indexed yet".
 */
import type { Queryable } from '../db/client.js';
import { AppError } from '../plugins/errors.js';

/** True for the failures that retrying cannot fix: the object itself lacks what the index needs. */
export function isUnindexable(err: unknown): err is AppError {
  return err instanceof AppError && err.code === 'RADLINK_BAD_REQUEST';
}

export async function recordUnindexable(db: Queryable, orthancId: string, reason: string): Promise<void> {
  await db.query(
    `INSERT INTO index_rejects (orthanc_id, reason) VALUES ($1, $2)
     ON CONFLICT (orthanc_id) DO UPDATE SET reason = EXCLUDED.reason`,
    [orthancId, reason.slice(0, 500)],
  );
}

export async function unindexableIds(db: Queryable): Promise<Set<string>> {
  const rows = await db.query<{ orthanc_id: string }>('SELECT orthanc_id FROM index_rejects');
  return new Set(rows.map((r) => r.orthanc_id));
}
