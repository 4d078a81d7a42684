/**
 * `GET /api/ai/stats`: per model version and per facility — runs, completed, failed, skipped,
 * flagged, findings, accepted/rejected and the acceptance rate, mean and 95th-percentile
 * inference time, mean queue wait and end-to-end time. For model managers and system admins:
 * figures only, no patient data.
 */
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { AiStats } from './schemas.js';

interface StatsDbRow {
  key1: string | null;
  key2: string | null;
  runs: number;
  completed: number;
  failed: number;
  skipped: number;
  flagged: number;
  findings: number;
  accepted: number;
  rejected: number;
  mean_inference: number | null;
  p95_inference: number | null;
  mean_wait: number | null;
  mean_total: number | null;
}

function statsSql(keys: string): string {
  return `WITH runs AS (SELECT * FROM ai_runs WHERE ($1::timestamptz IS NULL OR queued_at >= $1)),
      fb AS (SELECT f.run_id, count(*) FILTER (WHERE b.verdict = 'accepted')::int AS accepted,
                    count(*) FILTER (WHERE b.verdict = 'rejected')::int AS rejected, count(f.id)::int AS findings
               FROM ai_findings f LEFT JOIN ai_feedback b ON b.finding_id = f.id GROUP BY f.run_id)
    SELECT ${keys}, count(*)::int AS runs,
           count(*) FILTER (WHERE r.status = 'completed')::int AS completed,
           count(*) FILTER (WHERE r.status = 'failed')::int AS failed,
           count(*) FILTER (WHERE r.status = 'skipped')::int AS skipped,
           count(*) FILTER (WHERE r.status = 'completed' AND r.flagged)::int AS flagged,
           COALESCE(sum(fb.findings), 0)::int AS findings,
           COALESCE(sum(fb.accepted), 0)::int AS accepted, COALESCE(sum(fb.rejected), 0)::int AS rejected,
           avg(r.inference_ms)::float8 AS mean_inference,
           percentile_cont(0.95) WITHIN GROUP (ORDER BY r.inference_ms)::float8 AS p95_inference,
           avg(r.queue_wait_ms)::float8 AS mean_wait, avg(r.total_ms)::float8 AS mean_total
      FROM runs r LEFT JOIN fb ON fb.run_id = r.id
     GROUP BY 1, 2 ORDER BY 1, 2`;
}

function figures(r: StatsDbRow) {
  const reviewed = r.accepted + r.rejected;
  const n = (x: number | null) => (x === null ? null : Number(x));
  return {
    runs: r.runs,
    completed: r.completed,
    failed: r.failed,
    skipped: r.skipped,
    flagged: r.flagged,
    findings: r.findings,
    accepted: r.accepted,
    rejected: r.rejected,
    acceptanceRate: reviewed ? r.accepted / reviewed : null,
    meanInferenceMs: n(r.mean_inference),
    p95InferenceMs: n(r.p95_inference),
    meanQueueWaitMs: n(r.mean_wait),
    meanTotalMs: n(r.mean_total),
  };
}

export default async function aiStatsRoutes(fastify: FastifyInstance) {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  app.get(
    '/api/ai/stats',
    {
      schema: {
        tags: ['ai'],
        summary:
          'AI figures per model version and per facility: runs, failures, inference time, queue wait, acceptance.',
        querystring: Type.Object(
          { since: Type.Optional(Type.String({ format: 'date-time' })) },
          { additionalProperties: false },
        ),
        response: { 200: AiStats },
      },
    },
    async (request) => {
      const since = request.query.since ?? null;
      const models = await app.db.query<StatsDbRow>(statsSql('r.model_id AS key1, r.model_version AS key2'), [
        since,
      ]);
      const facilities = await app.db.query<StatsDbRow>(
        statsSql('r.facility_id AS key1, NULL::text AS key2'),
        [since],
      );
      return {
        since,
        models: models.map((r) => ({ modelId: r.key1!, version: r.key2!, ...figures(r) })),
        facilities: facilities.map((r) => ({ facilityId: r.key1, ...figures(r) })),
      };
    },
  );
}
