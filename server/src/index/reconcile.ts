/**
 * Deletions Orthanc does not announce. Orthanc 1.10 sends `Deleted` to plugins only: its
 * `/changes` log never contains them (checked here: DELETE /instances/{id} adds no change). So
 * the index learns about deletions made directly in Orthanc (an admin in Orthanc Explorer, a
 * retention script) by reconciliation: when Orthanc holds fewer instances than the index, the
 * index drops the studies Orthanc no longer has.
 *
 * Cost: one `/statistics` call and one count per run while nothing was deleted; the study list
 * (ids only) only when the counts say something was. Instance-level deletions inside a study
 * that still exists are not found this way (left for a per-study check when it is needed).
 */
import type { FastifyBaseLogger } from 'fastify';
import type { Db } from '../db/client.js';
import type { OrthancClient } from '../plugins/orthanc.js';
import type { Indexer } from './indexer.js';

export async function reconcileDeletedStudies(
  db: Db,
  orthanc: OrthancClient,
  indexer: Indexer,
  log: FastifyBaseLogger,
): Promise<{ removedStudies: number }> {
  const stats = await orthanc.json<{ CountInstances?: number }>('GET', '/statistics');
  const [row] = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM instances');
  if (stats.CountInstances === undefined || stats.CountInstances >= (row?.n ?? 0))
    return { removedStudies: 0 };
  // Index first, Orthanc second: everything indexed was stored in Orthanc before it was indexed,
  // so a study indexed meanwhile cannot be mistaken for a deleted one.
  const indexed = await db.query<{ orthanc_id: string }>(
    'SELECT orthanc_id FROM studies WHERE orthanc_id IS NOT NULL',
  );
  const present = new Set(await orthanc.json<string[]>('GET', '/studies'));
  let removedStudies = 0;
  for (const s of indexed) {
    if (present.has(s.orthanc_id)) continue;
    if (await indexer.removeOrthancResource('Study', s.orthanc_id)) removedStudies++;
  }
  if (removedStudies > 0) log.info({ removedStudies }, 'index: removed studies deleted from Orthanc');
  return { removedStudies };
}
