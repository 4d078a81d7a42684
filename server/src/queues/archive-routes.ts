/** `GET /api/archive/status` (system admins): the archive backlog and lag, for operators. */
import type { FastifyInstance } from 'fastify';
import type { Queryable } from '../db/client.js';
import { archiveBacklog } from './results-consumer.js';

export default async function archiveRoutes(app: FastifyInstance, opts: { db: Queryable }) {
  app.get(
    '/api/archive/status',
    {
      schema: {
        tags: ['admin'],
        summary: 'Archive backlog: instances not yet copied to S3, the oldest one, and totals.',
        response: {
          200: {
            type: 'object',
            properties: {
              unarchived: { type: 'integer' },
              oldestUnarchivedAgeSeconds: { type: ['number', 'null'] },
              archived: { type: 'integer' },
              lastArchivedAt: { type: ['string', 'null'] },
              maxLagSecondsLastHour: { type: ['number', 'null'] },
            },
            required: [
              'unarchived',
              'oldestUnarchivedAgeSeconds',
              'archived',
              'lastArchivedAt',
              'maxLagSecondsLastHour',
            ],
          },
        },
      },
    },
    async () => {
      const backlog = await archiveBacklog(opts.db);
      const [row] = await opts.db.query<{ archived: number; last: string | null; max_lag: number | null }>(
        `SELECT count(*)::int AS archived, max(archived_at)::text AS last,
                max(EXTRACT(EPOCH FROM (archived_at - received_at))) FILTER (WHERE archived_at > now() - interval '1 hour')::float8 AS max_lag
           FROM instances WHERE archived_at IS NOT NULL`,
      );
      return {
        ...backlog,
        archived: row?.archived ?? 0,
        lastArchivedAt: row?.last ?? null,
        maxLagSecondsLastHour:
          row?.max_lag === null || row?.max_lag === undefined ? null : Number(row.max_lag),
      };
    },
  );
}
