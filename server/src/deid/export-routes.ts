/**
 * De-identified exports for research and AI training (facility and system admins):
 *   POST /api/exports {studyUids, purpose}   → 202 {id, status}; the zip is built in the background
 *   GET  /api/exports/:exportId              → status, counts, downloadUrl when done
 *   GET  /api/exports/:exportId/download     → the zip (application/zip)
 * Every study must be in the caller's scope (the grants model; otherwise 404, naming its position
 * in the list only). Creation, completion and every download are audited, with the purpose.
 * An export is visible to the admin who made it, to system admins, and to the admins of the
 * facility it was made in.
 */
import type { Readable } from 'node:stream';
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { canAccessStudy } from '../access/study-access.js';
import type { Principal } from '../identity/principal.js';
import { AppError } from '../plugins/errors.js';
import { buildExport } from './export-job.js';

const Uid = Type.String({ pattern: '^[0-9]+(\\.[0-9]+)*$', maxLength: 64 });
const ExportParams = Type.Object(
  { exportId: Type.String({ format: 'uuid' }) },
  { additionalProperties: false },
);
const ExportStatus = Type.Object({
  id: Type.String(),
  status: Type.Union([Type.Literal('running'), Type.Literal('done'), Type.Literal('failed')]),
  purpose: Type.String(),
  studies: Type.Integer(),
  instances: Type.Integer(),
  refused: Type.Integer(),
  flagged: Type.Integer(),
  sizeBytes: Type.Union([Type.Integer(), Type.Null()]),
  error: Type.Union([Type.String(), Type.Null()]),
  createdAt: Type.String(),
  finishedAt: Type.Union([Type.String(), Type.Null()]),
  downloadUrl: Type.Union([Type.String(), Type.Null()]),
});

interface ExportRow {
  id: string;
  requested_by: string;
  facility_id: string | null;
  purpose: string;
  study_uids: string[];
  status: 'running' | 'done' | 'failed';
  s3_key: string | null;
  instances: number;
  refused: number;
  flagged: number;
  size_bytes: string | null;
  error: string | null;
  created_at: string;
  finished_at: string | null;
}

const ISO = (col: string) => `to_char(${col} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;
const SELECT = `SELECT id, requested_by, facility_id, purpose, study_uids, status, s3_key, instances, refused, flagged,
  size_bytes::text, error, ${ISO('created_at')} AS created_at, ${ISO('finished_at')} AS finished_at FROM exports`;

const toPublic = (r: ExportRow) => ({
  id: r.id,
  status: r.status,
  purpose: r.purpose,
  studies: r.study_uids.length,
  instances: r.instances,
  refused: r.refused,
  flagged: r.flagged,
  sizeBytes: r.size_bytes === null ? null : Number(r.size_bytes),
  error: r.error,
  createdAt: r.created_at,
  finishedAt: r.finished_at,
  downloadUrl: r.status === 'done' ? `/api/exports/${r.id}/download` : null,
});

function visible(p: Principal, r: ExportRow): boolean {
  return (
    p.role === 'system_admin' ||
    r.requested_by === p.userId ||
    (r.facility_id !== null && r.facility_id === p.facilityId)
  );
}

export default async function exportRoutes(app: FastifyInstance) {
  const jobs = new Set<Promise<void>>();
  app.addHook('onReady', async () => {
    await app.db.query(
      `UPDATE exports SET status = 'failed', error = 'interrupted by a gateway restart', finished_at = now()
        WHERE status = 'running'`,
    );
  });
  app.addHook('preClose', async () => {
    await Promise.allSettled([...jobs]);
  });

  async function load(p: Principal, id: string): Promise<ExportRow> {
    const [row] = await app.db.query<ExportRow>(`${SELECT} WHERE id = $1`, [id]);
    if (!row || !visible(p, row)) throw new AppError('RADLINK_NOT_FOUND', 'No such export.');
    return row;
  }

  app.post(
    '/api/exports',
    {
      schema: {
        tags: ['research'],
        summary:
          'Export studies de-identified (DICOM PS3.15 basic profile) as a zip, for research or AI training.',
        body: Type.Object(
          {
            studyUids: Type.Array(Uid, { minItems: 1, maxItems: 500, uniqueItems: true }),
            purpose: Type.String({ minLength: 3, maxLength: 500 }),
          },
          { additionalProperties: false },
        ),
        response: { 202: ExportStatus },
      },
    },
    async (request, reply) => {
      const p = request.principal!;
      const { studyUids, purpose } = request.body as { studyUids: string[]; purpose: string };
      for (const [i, uid] of studyUids.entries()) {
        if (!(await canAccessStudy(app.db, p, uid)))
          throw new AppError('RADLINK_NOT_FOUND', `Study ${i + 1} of the list was not found.`);
      }
      const [row] = await app.db.query<ExportRow>(
        `INSERT INTO exports (requested_by, facility_id, purpose, study_uids) VALUES ($1, $2, $3, $4)
         RETURNING id`,
        [p.userId, p.facilityId, purpose, studyUids],
      );
      const id = row!.id;
      request.auditDetail = { exportId: id, purpose, studyUids: studyUids.slice(0, 500) };
      const job = (async () => {
        try {
          const s = await buildExport(app, id, studyUids);
          await app.db.query(
            `UPDATE exports SET status = 'done', s3_key = $2, instances = $3, refused = $4, flagged = $5,
                    size_bytes = $6, finished_at = now() WHERE id = $1`,
            [id, `export-${id}.zip`, s.instances, s.refused, s.flagged, s.sizeBytes],
          );
          await app.audit.write({
            action: 'export.build',
            outcome: 'success',
            userId: p.userId,
            username: p.username,
            role: p.role,
            facilityId: p.facilityId,
            resource: `export ${id}`,
            detail: { exportId: id, purpose, ...s },
          });
        } catch (err) {
          app.log.error({ err, exportId: id }, 'export failed');
          await app.db
            .query(`UPDATE exports SET status = 'failed', error = $2, finished_at = now() WHERE id = $1`, [
              id,
              'the export could not be built; see the gateway log',
            ])
            .catch(() => undefined);
          await app.audit
            .write({
              action: 'export.build',
              outcome: 'error',
              userId: p.userId,
              username: p.username,
              role: p.role,
              facilityId: p.facilityId,
              resource: `export ${id}`,
              detail: { exportId: id },
            })
            .catch(() => undefined);
        }
      })();
      jobs.add(job);
      void job.finally(() => jobs.delete(job));
      return reply.code(202).send(toPublic(await load(p, id)));
    },
  );

  app.get(
    '/api/exports/:exportId',
    {
      schema: {
        tags: ['research'],
        summary: 'Status of an export.',
        params: ExportParams,
        response: { 200: ExportStatus },
      },
    },
    async (request) =>
      toPublic(await load(request.principal!, (request.params as { exportId: string }).exportId)),
  );

  app.get(
    '/api/exports/:exportId/download',
    {
      schema: {
        tags: ['research'],
        summary: 'Download a finished export (zip).',
        params: ExportParams,
        response: { 200: { type: 'string', format: 'binary' } },
      },
    },
    async (request, reply) => {
      const row = await load(request.principal!, (request.params as { exportId: string }).exportId);
      if (row.status !== 'done' || !row.s3_key)
        throw new AppError('RADLINK_CONFLICT', 'The export is not ready.');
      request.auditDetail = { exportId: row.id, purpose: row.purpose };
      const stream = (await app.s3.client.getObject(app.s3.bucket, row.s3_key)) as Readable;
      return reply
        .type('application/zip')
        .header('content-disposition', `attachment; filename="radlink-export-${row.id}.zip"`)
        .send(stream);
    },
  );
}
