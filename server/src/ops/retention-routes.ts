/**
 * Retention administration: a facility's policy, legal holds, and a run on demand; plus the
 * scheduled run (every RADLINK_RETENTION_INTERVAL_HOURS; retention-runner.ts). Facility
 * admins act on their own facility only (others answer 404); system admins on any.
 */
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { canAccessStudy } from '../access/study-access.js';
import type { Principal } from '../identity/principal.js';
import { AppError } from '../plugins/errors.js';
import { loadPolicies } from './retention.js';
import { RetentionRunner } from './retention-runner.js';
import { FacilityParams, StudyParams, Timestamp } from './schemas.js';

const Years = Type.Integer({ minimum: 1, maximum: 200 });
const modalityYears = Type.Record(Type.String({ pattern: '^[A-Z]{2,4}$' }), Years);
const archiveCopy = Type.Union([Type.Literal('keep'), Type.Literal('delete')]);
/** Request body: no defaultYears means no overall limit. (Not a union with null: Ajv's type
 * coercion would turn a mistaken 0 into null, i.e. "keep forever", instead of refusing it.) */
const PolicyBody = Type.Object(
  { defaultYears: Type.Optional(Years), modalityYears, archiveCopy },
  { additionalProperties: false },
);
const Policy = Type.Object(
  {
    defaultYears: Type.Union([Years, Type.Null()]),
    modalityYears: Type.Record(Type.String({ pattern: '^[A-Z]{2,4}$' }), Years),
    archiveCopy: Type.Union([Type.Literal('keep'), Type.Literal('delete')]),
  },
  { additionalProperties: false },
);
const Report = Type.Object({
  dryRun: Type.Boolean(),
  examined: Type.Integer(),
  deleted: Type.Array(
    Type.Object({
      studyUid: Type.String(),
      facilityId: Type.String(),
      instances: Type.Integer(),
      archive: Type.String(),
    }),
  ),
  skipped: Type.Array(Type.Object({ studyUid: Type.String(), reason: Type.String() })),
  failed: Type.Array(Type.Object({ studyUid: Type.String(), error: Type.String() })),
});

function assertFacility(p: Principal, facilityId: string): void {
  if (p.role === 'system_admin') return;
  if (p.facilityId !== facilityId) throw new AppError('RADLINK_NOT_FOUND', 'No such facility.');
}

export default async function retentionRoutes(app: FastifyInstance, opts: { intervalHours: number }) {
  const runner = new RetentionRunner({
    db: app.db,
    orthanc: app.orthanc,
    s3: app.s3,
    audit: app.audit,
    log: app.log,
  });
  if (opts.intervalHours > 0)
    app.addHook('onReady', async () => runner.schedule(opts.intervalHours * 3_600_000));
  app.addHook('preClose', async () => runner.stop());

  app.get(
    '/api/facilities/:facilityId/retention',
    {
      schema: {
        tags: ['admin'],
        summary: "A facility's retention policy (no policy: studies are kept).",
        params: FacilityParams,
        response: { 200: Policy },
      },
    },
    async (request) => {
      const { facilityId } = request.params as { facilityId: string };
      assertFacility(request.principal!, facilityId);
      const [p] = await loadPolicies(app.db, facilityId);
      return p
        ? { defaultYears: p.defaultYears, modalityYears: p.modalityYears, archiveCopy: p.archiveCopy }
        : { defaultYears: null, modalityYears: {}, archiveCopy: 'keep' };
    },
  );

  app.put(
    '/api/facilities/:facilityId/retention',
    {
      schema: {
        tags: ['admin'],
        summary:
          "Set a facility's retention policy: years overall and per modality; keep or delete the archive copy.",
        params: FacilityParams,
        body: PolicyBody,
        response: { 200: Policy },
      },
    },
    async (request) => {
      const p = request.principal!;
      const { facilityId } = request.params as { facilityId: string };
      assertFacility(p, facilityId);
      const body = request.body as {
        defaultYears?: number;
        modalityYears: Record<string, number>;
        archiveCopy: string;
      };
      const [f] = await app.db.query('SELECT 1 FROM facilities WHERE id = $1', [facilityId]);
      if (!f) throw new AppError('RADLINK_NOT_FOUND', 'No such facility.');
      await app.db.query(
        `INSERT INTO retention_policies (facility_id, default_years, modality_years, archive_copy, updated_by)
         VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (facility_id) DO UPDATE SET default_years = EXCLUDED.default_years,
           modality_years = EXCLUDED.modality_years, archive_copy = EXCLUDED.archive_copy,
           updated_by = EXCLUDED.updated_by, updated_at = now()`,
        [
          facilityId,
          body.defaultYears ?? null,
          JSON.stringify(body.modalityYears),
          body.archiveCopy,
          p.userId,
        ],
      );
      const saved = {
        defaultYears: body.defaultYears ?? null,
        modalityYears: body.modalityYears,
        archiveCopy: body.archiveCopy,
      };
      request.auditDetail = { facilityId, ...saved };
      return saved;
    },
  );

  app.post(
    '/api/retention/run',
    {
      schema: {
        tags: ['admin'],
        summary:
          'Run retention now (a facility admin: their facility only); dryRun reports without removing.',
        body: Type.Object(
          {
            facilityId: Type.Optional(Type.String({ pattern: '^[a-z0-9][a-z0-9-]{1,62}$' })),
            dryRun: Type.Optional(Type.Boolean()),
          },
          { additionalProperties: false },
        ),
        response: { 200: Report },
      },
    },
    async (request) => {
      const p = request.principal!;
      const body = (request.body ?? {}) as { facilityId?: string; dryRun?: boolean };
      const facilityId = p.role === 'system_admin' ? body.facilityId : p.facilityId!;
      if (body.facilityId && facilityId !== body.facilityId)
        throw new AppError('RADLINK_NOT_FOUND', 'No such facility.');
      const report = await runner.run({
        trigger: 'admin',
        actor: p,
        ...(facilityId ? { facilityId } : {}),
        ...(body.dryRun ? { dryRun: true } : {}),
      });
      request.auditDetail = {
        facilityId: facilityId ?? null,
        dryRun: report.dryRun,
        deleted: report.deleted.length,
        skipped: report.skipped.length,
        failed: report.failed.length,
      };
      return report;
    },
  );

  const holdSchema = Type.Object({ studyUid: Type.String(), reason: Type.String(), placedAt: Timestamp });
  app.put(
    '/api/studies/:studyUid/legal-hold',
    {
      schema: {
        tags: ['admin'],
        summary: 'Place a legal hold: retention never removes the study while it holds.',
        params: StudyParams,
        body: Type.Object(
          { reason: Type.String({ minLength: 3, maxLength: 500 }) },
          { additionalProperties: false },
        ),
        response: { 200: holdSchema },
      },
    },
    async (request) => {
      const p = request.principal!;
      const { studyUid } = request.params as { studyUid: string };
      if (!(await canAccessStudy(app.db, p, studyUid)))
        throw new AppError('RADLINK_NOT_FOUND', 'No such study.');
      const { reason } = request.body as { reason: string };
      const [row] = await app.db.query<{ placed_at: string }>(
        `INSERT INTO legal_holds (study_uid, reason, placed_by) VALUES ($1, $2, $3)
         ON CONFLICT (study_uid) DO UPDATE SET reason = EXCLUDED.reason
         RETURNING to_char(placed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS placed_at`,
        [studyUid, reason, p.userId],
      );
      request.auditDetail = { reason };
      return { studyUid, reason, placedAt: row!.placed_at };
    },
  );

  app.delete(
    '/api/studies/:studyUid/legal-hold',
    {
      schema: {
        tags: ['admin'],
        summary: 'Release a legal hold.',
        params: StudyParams,
        response: { 204: Type.Null() },
      },
    },
    async (request, reply) => {
      const p = request.principal!;
      const { studyUid } = request.params as { studyUid: string };
      if (!(await canAccessStudy(app.db, p, studyUid)))
        throw new AppError('RADLINK_NOT_FOUND', 'No such study.');
      const rows = await app.db.query('DELETE FROM legal_holds WHERE study_uid = $1 RETURNING 1', [studyUid]);
      if (rows.length === 0) throw new AppError('RADLINK_NOT_FOUND', 'The study has no legal hold.');
      return reply.code(204).send();
    },
  );
}
