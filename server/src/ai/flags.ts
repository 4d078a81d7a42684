/**
 * A study's AI flag is derived, never set by hand: it is true while at least one completed,
 * visible run (not shadow, not withdrawn) fired its model's alert rule. Recomputed for the
 * studies a change touches (a run's results, a withdrawal), inside the caller's transaction.
 * A study no model has run on keeps NULL ("not assessed"), distinct from false.
 */
import type { Queryable } from '../db/client.js';

export async function recomputeFlags(q: Queryable, studyUids: readonly string[]): Promise<void> {
  if (studyUids.length === 0) return;
  await q.query(
    `UPDATE studies s SET ai_flag = EXISTS (
         SELECT 1 FROM ai_runs r
          WHERE r.study_uid = s.study_uid AND r.status = 'completed' AND r.flagged
            AND NOT r.shadow AND r.withdrawn_at IS NULL), updated_at = now()
      WHERE s.study_uid = ANY ($1::text[])
        AND (s.ai_flag IS NOT NULL OR EXISTS (SELECT 1 FROM ai_runs r WHERE r.study_uid = s.study_uid AND r.status = 'completed'))`,
    [studyUids],
  );
}
