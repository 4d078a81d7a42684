/**
 * Break-glass: a radiologist or doctor may open one study outside their grants in an emergency,
 * only by stating why. The grant is theirs alone, expires after RADLINK_BREAK_GLASS_MINUTES, is
 * written to the audit trail flagged `breakGlass` with the reason, and waits in the admins' review
 * list until someone reviews it. Without it the study stays invisible (404), as every
 * out-of-scope study is. The grants model (access/study-access.ts) reads the table.
 *
 * Who reviews: system admins see every event; a facility admin sees events by their own staff
 * and events on studies their facility owns.
 */
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { canAccessStudy } from '../access/study-access.js';
import type { Principal } from '../identity/principal.js';
import { AppError } from '../plugins/errors.js';
import { StudyParams, Timestamp, Uuid } from './schemas.js';

const Grant = Type.Object({
  id: Uuid,
  userId: Uuid,
  username: Type.String(),
  facilityId: Type.Union([Type.String(), Type.Null()]),
  studyUid: Type.String(),
  reason: Type.String(),
  createdAt: Timestamp,
  expiresAt: Timestamp,
  active: Type.Boolean(),
  reviewedAt: Type.Union([Timestamp, Type.Null()]),
  reviewedBy: Type.Union([Uuid, Type.Null()]),
  reviewNote: Type.Union([Type.String(), Type.Null()]),
});

interface GrantRow {
  id: string;
  user_id: string;
  username: string;
  facility_id: string | null;
  study_uid: string;
  reason: string;
  created_at: string;
  expires_at: string;
  active: boolean;
  reviewed_at: string | null;
  reviewed_by: string | null;
  review_note: string | null;
}

const COLUMNS = `b.id, b.user_id, b.username, b.facility_id, b.study_uid, b.reason,
  to_char(b.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS created_at,
  to_char(b.expires_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS expires_at,
  (b.expires_at > now()) AS active,
  to_char(b.reviewed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS reviewed_at,
  b.reviewed_by, b.review_note`;

const toPublic = (r: GrantRow) => ({
  id: r.id,
  userId: r.user_id,
  username: r.username,
  facilityId: r.facility_id,
  studyUid: r.study_uid,
  reason: r.reason,
  createdAt: r.created_at,
  expiresAt: r.expires_at,
  active: r.active,
  reviewedAt: r.reviewed_at,
  reviewedBy: r.reviewed_by,
  reviewNote: r.review_note,
});

/** The review scope of an admin as SQL over `break_glass_grants b`, parameter `$n`. */
function reviewScope(p: Principal, n: number): { sql: string; params: unknown[] } {
  if (p.role === 'system_admin') return { sql: 'TRUE', params: [] };
  return {
    sql: `(b.facility_id = $${n} OR b.study_uid IN (SELECT study_uid FROM studies WHERE facility_id = $${n}))`,
    params: [p.facilityId],
  };
}

export default async function breakGlassRoutes(app: FastifyInstance, opts: { minutes: number }) {
  app.post(
    '/api/studies/:studyUid/break-glass',
    {
      schema: {
        tags: ['access'],
        summary: 'Emergency access to a study outside my grants, with a stated reason (audited, reviewed).',
        params: StudyParams,
        body: Type.Object(
          { reason: Type.String({ minLength: 10, maxLength: 1000 }) },
          { additionalProperties: false },
        ),
        response: {
          201: Type.Object({ grantId: Uuid, studyUid: Type.String(), expiresAt: Timestamp }),
        },
      },
    },
    async (request, reply) => {
      const p = request.principal!;
      const { studyUid } = request.params as { studyUid: string };
      const reason = (request.body as { reason: string }).reason.trim();
      if (reason.length < 10)
        throw new AppError('RADLINK_VALIDATION', 'State the reason (at least 10 characters).');
      const [study] = await app.db.query('SELECT 1 FROM studies WHERE study_uid = $1', [studyUid]);
      if (!study) throw new AppError('RADLINK_NOT_FOUND', 'No such study.');
      if (await canAccessStudy(app.db, p, studyUid))
        throw new AppError('RADLINK_CONFLICT', 'You can already open this study; break-glass is not needed.');
      const [row] = await app.db.query<{ id: string; expires_at: string }>(
        `INSERT INTO break_glass_grants (user_id, username, facility_id, study_uid, reason, client_ip, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, now() + make_interval(mins => $7::int))
         RETURNING id, to_char(expires_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS expires_at`,
        [p.userId, p.username, p.facilityId, studyUid, reason, request.ip, opts.minutes],
      );
      request.auditDetail = { breakGlass: true, grantId: row!.id, reason, expiresAt: row!.expires_at };
      return reply.code(201).send({ grantId: row!.id, studyUid, expiresAt: row!.expires_at });
    },
  );

  app.get(
    '/api/break-glass',
    {
      schema: {
        tags: ['access'],
        summary: 'Break-glass events to review (newest first).',
        querystring: Type.Object(
          {
            unreviewed: Type.Optional(Type.Boolean()),
            limit: Type.Integer({ minimum: 1, maximum: 500, default: 100 }),
          },
          { additionalProperties: false },
        ),
        response: { 200: Type.Array(Grant) },
      },
    },
    async (request) => {
      const q = request.query as { unreviewed?: boolean; limit: number };
      const scope = reviewScope(request.principal!, 2);
      const rows = await app.db.query<GrantRow>(
        `SELECT ${COLUMNS} FROM break_glass_grants b
          WHERE ${scope.sql} ${q.unreviewed ? 'AND b.reviewed_at IS NULL' : ''}
          ORDER BY b.created_at DESC LIMIT $1`,
        [q.limit, ...scope.params],
      );
      return rows.map(toPublic);
    },
  );

  app.post(
    '/api/break-glass/:grantId/review',
    {
      schema: {
        tags: ['access'],
        summary: 'Record the review of a break-glass event; optionally end the grant now.',
        params: Type.Object({ grantId: Uuid }, { additionalProperties: false }),
        body: Type.Object(
          { note: Type.String({ minLength: 1, maxLength: 1000 }), revoke: Type.Optional(Type.Boolean()) },
          { additionalProperties: false },
        ),
        response: { 200: Grant },
      },
    },
    async (request) => {
      const p = request.principal!;
      const { grantId } = request.params as { grantId: string };
      const { note, revoke } = request.body as { note: string; revoke?: boolean };
      const scope = reviewScope(p, 5);
      const [row] = await app.db.query<GrantRow>(
        `UPDATE break_glass_grants b SET reviewed_at = now(), reviewed_by = $2, review_note = $3,
                expires_at = CASE WHEN $4::boolean THEN LEAST(b.expires_at, now()) ELSE b.expires_at END
          WHERE b.id = $1 AND ${scope.sql}
          RETURNING ${COLUMNS}`,
        [grantId, p.userId, note, revoke === true, ...scope.params],
      );
      if (!row) throw new AppError('RADLINK_NOT_FOUND', 'No such break-glass event.');
      request.auditStudyUid = row.study_uid;
      request.auditDetail = { breakGlass: true, grantId, reviewed: true, revoked: revoke === true };
      return toPublic(row);
    },
  );
}
