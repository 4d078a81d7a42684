/**
 * The common front of every WADO route: UID parameters are checked (digits and dots only: they go
 * into Orthanc URLs and SQL), the study must be in the caller's scope (404 otherwise — its
 * existence is not revealed), the audit trail learns the study, and the instances come from the
 * gateway's index (which maps UIDs to Orthanc ids), in series and instance order.
 */
import type { FastifyRequest } from 'fastify';
import { canAccessStudy, grantRevocationEpoch } from '../access/study-access.js';
import { AppError } from '../plugins/errors.js';
import { isSafeUid } from './media-types.js';
import { AccessDecisions, SeriesInstances } from './wado-cache.js';

export interface WadoParams {
  studyUid: string;
  seriesUid?: string;
  sopInstanceUid?: string;
}

export interface IndexedInstanceRow {
  sopInstanceUid: string;
  seriesUid: string;
  studyUid: string;
  orthancId: string;
  sopClassUid: string | null;
  transferSyntaxUid: string | null;
  numberOfFrames: number;
  instanceNumber: number | null;
}

export const uidParamsSchema = (...names: (keyof WadoParams)[]) => ({
  type: 'object',
  properties: Object.fromEntries(names.map((n) => [n, { type: 'string', maxLength: 64 }])),
  required: names,
});

export function checkUids(p: Partial<WadoParams>): void {
  for (const name of ['studyUid', 'seriesUid', 'sopInstanceUid'] as const) {
    const v = p[name];
    if (v !== undefined && !isSafeUid(v))
      throw new AppError('RADLINK_BAD_REQUEST', `${name} is not a valid UID.`);
  }
}

/** Checks UIDs and access; throws 400/404. */
export async function authorizeStudy(
  request: FastifyRequest,
  p: Partial<WadoParams> & { studyUid: string },
): Promise<void> {
  checkUids(p);
  request.auditStudyUid = p.studyUid;
  const principal = request.principal;
  if (!principal || !(await canAccessStudy(request.server.db, principal, p.studyUid))) {
    throw new AppError('RADLINK_NOT_FOUND', 'No such study.');
  }
}

/** Instances of a study / series / one instance, in order; 404 when none. Call authorizeStudy first. */
export async function indexedInstances(
  request: FastifyRequest,
  p: WadoParams,
): Promise<IndexedInstanceRow[]> {
  const params: unknown[] = [p.studyUid];
  let where = 'i.study_uid = $1 AND i.orthanc_id IS NOT NULL';
  if (p.seriesUid) {
    params.push(p.seriesUid);
    where += ` AND i.series_uid = $${params.length}`;
  }
  if (p.sopInstanceUid) {
    params.push(p.sopInstanceUid);
    where += ` AND i.sop_instance_uid = $${params.length}`;
  }
  const rows = await request.server.db.query<IndexedInstanceRow>(
    `SELECT i.sop_instance_uid AS "sopInstanceUid", i.series_uid AS "seriesUid", i.study_uid AS "studyUid",
            i.orthanc_id AS "orthancId", i.sop_class_uid AS "sopClassUid", i.transfer_syntax_uid AS "transferSyntaxUid",
            COALESCE(i.number_of_frames, 1) AS "numberOfFrames", i.instance_number AS "instanceNumber"
       FROM instances i JOIN series s ON s.series_uid = i.series_uid
      WHERE ${where}
      ORDER BY s.series_number NULLS LAST, s.series_uid, i.instance_number NULLS LAST, i.sop_instance_uid`,
    params,
  );
  if (rows.length === 0)
    throw new AppError('RADLINK_NOT_FOUND', p.sopInstanceUid ? 'No such instance.' : 'No such series.');
  const out = rows.map((r) => ({ ...r, numberOfFrames: Number(r.numberOfFrames) || 1 }));
  for (const r of out)
    if (r.transferSyntaxUid === null) r.transferSyntaxUid = await backfillTransferSyntax(request, r);
  return out;
}

/**
 * The stored transfer syntax decides whether stored bytes can be served as negotiated. The
 * indexer records it (from STOW's parse or Orthanc's instance metadata); a row that still lacks
 * it (Orthanc had no TransferSyntax metadata) learns it here once, and the row is completed.
 */
async function backfillTransferSyntax(
  request: FastifyRequest,
  r: IndexedInstanceRow,
): Promise<string | null> {
  const res = await request.server.orthanc.request(
    'GET',
    `/instances/${r.orthancId}/metadata/TransferSyntax`,
  );
  const ts = (await res.body.text()).trim();
  if (res.statusCode !== 200 || !isSafeUid(ts)) return null;
  await request.server.db.query(
    'UPDATE instances SET transfer_syntax_uid = $2 WHERE sop_instance_uid = $1 AND transfer_syntax_uid IS NULL',
    [r.sopInstanceUid, ts],
  );
  return ts;
}

/** Per app: the caches of the instance-level routes (wado-cache.ts). */
const caches = new WeakMap<object, { decisions: AccessDecisions; series: SeriesInstances }>();
function cachesOf(request: FastifyRequest) {
  // Keyed by the app's database client, which every encapsulated plugin context shares.
  let c = caches.get(request.server.db);
  if (!c) {
    c = { decisions: new AccessDecisions(), series: new SeriesInstances() };
    caches.set(request.server.db, c);
  }
  return c;
}

const INSTANCE_COLUMNS = `i.sop_instance_uid AS "sopInstanceUid", i.series_uid AS "seriesUid", i.study_uid AS "studyUid",
            i.orthanc_id AS "orthancId", i.sop_class_uid AS "sopClassUid", i.transfer_syntax_uid AS "transferSyntaxUid",
            COALESCE(i.number_of_frames, 1) AS "numberOfFrames", i.instance_number AS "instanceNumber"`;

/**
 * Authorize + the one instance of an instance-level route. Frames are requested by the hundred
 * per series, so this path is kept off the database when it can: the caller's access decision
 * for the study and the series' instance rows are remembered briefly (wado-cache.ts); on a miss,
 * one query checks access and another reads the whole series. Out of scope: 404 "No such study"
 * (its existence is not revealed); in scope but absent: 404 "No such instance".
 */
export async function resolveInstance(
  request: FastifyRequest,
  p: Required<WadoParams>,
): Promise<IndexedInstanceRow> {
  checkUids(p);
  request.auditStudyUid = p.studyUid;
  const principal = request.principal;
  if (!principal) throw new AppError('RADLINK_NOT_FOUND', 'No such study.');
  const { decisions, series } = cachesOf(request);
  if (!decisions.has(principal, p.studyUid)) {
    const epoch = grantRevocationEpoch();
    if (!(await canAccessStudy(request.server.db, principal, p.studyUid)))
      throw new AppError('RADLINK_NOT_FOUND', 'No such study.');
    decisions.remember(principal, p.studyUid, epoch);
  }
  const where = 'i.series_uid = $1 AND i.study_uid = $2 AND i.orthanc_id IS NOT NULL';
  const read = async (sql: string, params: unknown[]) => {
    const rows = await request.server.db.query<IndexedInstanceRow>(sql, params);
    for (const r of rows) r.numberOfFrames = Number(r.numberOfFrames) || 1;
    return rows;
  };
  const row = await series.row(
    p.studyUid,
    p.seriesUid,
    p.sopInstanceUid,
    (limit) =>
      read(`SELECT ${INSTANCE_COLUMNS} FROM instances i WHERE ${where} LIMIT $3`, [
        p.seriesUid,
        p.studyUid,
        limit,
      ]),
    async () =>
      (
        await read(`SELECT ${INSTANCE_COLUMNS} FROM instances i WHERE ${where} AND i.sop_instance_uid = $3`, [
          p.seriesUid,
          p.studyUid,
          p.sopInstanceUid,
        ])
      )[0],
  );
  if (!row) throw new AppError('RADLINK_NOT_FOUND', 'No such instance.');
  // The cached row learns a backfilled transfer syntax too (it is the stored object's, immutable).
  if (row.transferSyntaxUid === null) row.transferSyntaxUid = await backfillTransferSyntax(request, row);
  return { ...row };
}

/** Forgets the cached rows of a series whose instance Orthanc no longer has. */
export function forgetSeries(request: FastifyRequest, studyUid: string, seriesUid: string): void {
  cachesOf(request).series.drop(studyUid, seriesUid);
}
