/**
 * Turnaround figures: for the requests created in a period, per facility and priority, how long
 * request -> first claim, first claim -> signed and request -> signed took (count, median,
 * 90th percentile, in seconds), and how many breached their turnaround target (signed late, or
 * still unsigned past it). The caller sees figures over the requests they may see (visibleSql):
 * a system admin all, reading-side staff those their facility sent or received, referring
 * doctors those their facility sent. Grouped by the reading facility, or by the requesting one.
 */
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { FacilityId } from '../identity/schemas.js';
import { AppError } from '../plugins/errors.js';
import { visibleSql } from './request-access.js';
import { Priority } from './schemas.js';
import { BREACHED_SQL, PRIORITY_RANK_SQL } from './turnaround.js';

const DAY_MS = 86_400_000;
const MAX_SPAN_DAYS = 366;

const Span = Type.Object({
  count: Type.Integer({ description: 'Requests that reached both ends' }),
  medianSeconds: Type.Union([Type.Number(), Type.Null()]),
  p90Seconds: Type.Union([Type.Number(), Type.Null()]),
});

export const FiguresSchema = Type.Object({
  from: Type.String({ format: 'date-time' }),
  to: Type.String({ format: 'date-time' }),
  groupBy: Type.Union([Type.Literal('target'), Type.Literal('requesting')]),
  rows: Type.Array(
    Type.Object({
      facilityId: Type.String(),
      priority: Priority,
      requests: Type.Integer(),
      open: Type.Integer(),
      signed: Type.Integer(),
      cancelled: Type.Integer(),
      breaches: Type.Integer({ description: 'Signed after the target, or unsigned and past it' }),
      requestToClaim: Span,
      claimToSigned: Span,
      requestToSigned: Span,
    }),
  ),
});

interface Row {
  facilityId: string;
  priority: 'stat' | 'urgent' | 'routine';
  requests: number;
  open: number;
  signed: number;
  cancelled: number;
  breaches: number;
  [k: string]: unknown;
}

const secs = (from: string, to: string) => `extract(epoch FROM (${to} - ${from}))`;
const span = (name: string, from: string, to: string) =>
  `count(${secs(from, to)})::int AS "${name}Count",
   percentile_cont(0.5) WITHIN GROUP (ORDER BY ${secs(from, to)})::float8 AS "${name}P50",
   percentile_cont(0.9) WITHIN GROUP (ORDER BY ${secs(from, to)})::float8 AS "${name}P90"`;

const round = (v: unknown) => (v === null || v === undefined ? null : Math.round(Number(v) * 10) / 10);

export default async function figuresRoutes(fastify: FastifyInstance) {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();

  app.get(
    '/api/reading/figures',
    {
      schema: {
        tags: ['reading'],
        summary: 'Turnaround figures (request → claim → signed) per facility and priority.',
        querystring: Type.Object(
          {
            from: Type.Optional(
              Type.String({ format: 'date-time', description: 'Default: 30 days before `to`' }),
            ),
            to: Type.Optional(Type.String({ format: 'date-time', description: 'Default: now' })),
            facility: Type.Optional(FacilityId),
            groupBy: Type.Union([Type.Literal('target'), Type.Literal('requesting')], { default: 'target' }),
          },
          { additionalProperties: false },
        ),
        response: { 200: FiguresSchema },
      },
    },
    async (request) => {
      const q = request.query;
      const to = q.to ? new Date(q.to) : new Date();
      const from = q.from ? new Date(q.from) : new Date(to.getTime() - 30 * DAY_MS);
      if (!(from < to)) throw new AppError('RADLINK_VALIDATION', '`from` must be before `to`.');
      if (to.getTime() - from.getTime() > MAX_SPAN_DAYS * DAY_MS)
        throw new AppError('RADLINK_VALIDATION', `The period may be at most ${MAX_SPAN_DAYS} days.`);
      const visible = visibleSql(request.principal!, 1);
      const params: unknown[] = [...visible.params, from.toISOString(), to.toISOString()];
      let where = `${visible.sql} AND r.created_at >= $${params.length - 1}::timestamptz AND r.created_at < $${params.length}::timestamptz`;
      if (q.facility) {
        params.push(q.facility);
        where += ` AND (r.target_facility_id = $${params.length} OR r.requesting_facility_id = $${params.length})`;
      }
      const group = q.groupBy === 'requesting' ? 'r.requesting_facility_id' : 'r.target_facility_id';
      const rows = await app.db.query<Row>(
        `SELECT ${group} AS "facilityId", r.priority,
                count(*)::int AS requests,
                count(*) FILTER (WHERE r.status IN ('requested', 'claimed', 'reported'))::int AS open,
                count(*) FILTER (WHERE r.status = 'signed')::int AS signed,
                count(*) FILTER (WHERE r.status = 'cancelled')::int AS cancelled,
                count(*) FILTER (WHERE ${BREACHED_SQL})::int AS breaches,
                ${span('claim', 'r.created_at', 'r.first_claimed_at')},
                ${span('work', 'r.first_claimed_at', 'r.signed_at')},
                ${span('total', 'r.created_at', 'r.signed_at')}
           FROM read_requests r
          WHERE ${where}
          GROUP BY ${group}, r.priority
          ORDER BY ${group}, ${PRIORITY_RANK_SQL}`,
        params,
      );
      const spanOf = (r: Row, name: string) => ({
        count: Number(r[`${name}Count`]),
        medianSeconds: round(r[`${name}P50`]),
        p90Seconds: round(r[`${name}P90`]),
      });
      return {
        from: from.toISOString(),
        to: to.toISOString(),
        groupBy: q.groupBy,
        rows: rows.map((r) => ({
          facilityId: r.facilityId,
          priority: r.priority,
          requests: r.requests,
          open: r.open,
          signed: r.signed,
          cancelled: r.cancelled,
          breaches: r.breaches,
          requestToClaim: spanOf(r, 'claim'),
          claimToSigned: spanOf(r, 'work'),
          requestToSigned: spanOf(r, 'total'),
        })),
      };
    },
  );
}
