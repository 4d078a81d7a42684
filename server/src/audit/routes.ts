/** Reading the audit trail: system admins see all, facility admins their facility's users' events. */
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { Queryable } from '../db/client.js';

const Event = Type.Object({
  id: Type.String(),
  at: Type.String(),
  userId: Type.Union([Type.String(), Type.Null()]),
  username: Type.Union([Type.String(), Type.Null()]),
  role: Type.Union([Type.String(), Type.Null()]),
  facilityId: Type.Union([Type.String(), Type.Null()]),
  action: Type.String(),
  studyUid: Type.Union([Type.String(), Type.Null()]),
  resource: Type.Union([Type.String(), Type.Null()]),
  clientIp: Type.Union([Type.String(), Type.Null()]),
  outcome: Type.String(),
  statusCode: Type.Union([Type.Integer(), Type.Null()]),
});

export default async function auditRoutes(app: FastifyInstance, opts: { db: Queryable }) {
  app.get(
    '/api/audit',
    {
      schema: {
        tags: ['admin'],
        summary: 'Audit events, newest first.',
        querystring: Type.Object(
          {
            studyUid: Type.Optional(Type.String({ pattern: '^[0-9.]{1,64}$' })),
            userId: Type.Optional(Type.String({ pattern: '^[0-9a-f-]{36}$' })),
            action: Type.Optional(Type.String({ pattern: '^[a-z.-]{1,64}$' })),
            since: Type.Optional(Type.String({ format: 'date-time' })),
            limit: Type.Integer({ minimum: 1, maximum: 1000, default: 100 }),
            beforeId: Type.Optional(
              Type.String({ pattern: '^[0-9]{1,18}$', description: 'Page: events older than this id' }),
            ),
          },
          { additionalProperties: false },
        ),
        response: { 200: Type.Array(Event) },
      },
    },
    async (request) => {
      const p = request.principal!;
      const q = request.query as {
        studyUid?: string;
        userId?: string;
        action?: string;
        since?: string;
        limit: number;
        beforeId?: string;
      };
      const where: string[] = [];
      const params: unknown[] = [];
      const add = (sql: string, v: unknown) => {
        params.push(v);
        where.push(sql.replace('?', `$${params.length}`));
      };
      if (p.role !== 'system_admin') add('facility_id = ?', p.facilityId);
      if (q.studyUid) add('study_uid = ?', q.studyUid);
      if (q.userId) add('user_id = ?', q.userId);
      if (q.action) add('action = ?', q.action);
      if (q.since) add('at >= ?', q.since);
      if (q.beforeId) add('id < ?', q.beforeId);
      params.push(q.limit);
      const rows = await opts.db.query<Record<string, unknown>>(
        `SELECT id::text AS id, at, user_id::text AS "userId", username, role, facility_id AS "facilityId", action,
                study_uid AS "studyUid", resource, client_ip AS "clientIp", outcome, status_code AS "statusCode"
           FROM audit_events ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
          ORDER BY id DESC LIMIT $${params.length}`,
        params,
      );
      return rows.map((r) => ({ ...r, at: new Date(r.at as string).toISOString() }));
    },
  );
}
