/**
 * AI results for people: a study's results and findings (scoped by the study-access rules, 404
 * out of scope; shadow results for system admins only; withdrawn results for nobody), feedback
 * on a finding, a run's progress stage by stage, re-running a run, the list of runs for model
 * managers, and the flagged studies of a facility that have no read request yet.
 */
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { NOT_FOR_CLINICAL_USE_LABEL } from '../../../contracts/model-manifest.js';
import { canAccessStudy } from '../access/study-access.js';
import type { Principal } from '../identity/principal.js';
import { AppError } from '../plugins/errors.js';
import type { AiFlow } from './flow.js';
import {
  Feedback,
  FeedbackBody,
  FindingId,
  FlaggedStudy,
  ModelId,
  Run,
  RunId,
  RunStatus,
  RunWithStages,
  StudyAiResults,
  Uid,
} from './schemas.js';
import type { AiTrigger } from './trigger.js';

const NO_STUDY = () => new AppError('RADLINK_NOT_FOUND', 'No such study.');
const NO_RUN = () => new AppError('RADLINK_NOT_FOUND', 'No such AI run.');
const NO_FINDING = () => new AppError('RADLINK_NOT_FOUND', 'No such AI finding.');

/** Shadow results are for system admins (and model managers through the stats): never clinicians. */
const seesShadow = (p: Principal) => p.role === 'system_admin';

const iso = (d: Date | string | null) => (d ? new Date(d).toISOString() : null);

interface RunDbRow {
  id: string;
  study_uid: string;
  series_uid: string;
  model_id: string;
  model_version: string;
  model_name: string;
  label: string | null;
  status: 'queued' | 'running' | 'completed' | 'failed' | 'skipped';
  shadow: boolean;
  attempt: number;
  failed_stage: string | null;
  reason: string | null;
  flagged: boolean;
  seg_series_uid: string | null;
  seg_sop_instance_uid: string | null;
  sr_sop_instance_uid: string | null;
  queued_at: Date;
  started_at: Date | null;
  finished_at: Date | null;
  inference_ms: number | null;
  queue_wait_ms: number | null;
  total_ms: number | null;
  timings: Record<string, { waitMs: number; runMs: number }> | null;
  withdrawn_at: Date | null;
}

const RUN_SELECT = `SELECT r.id, r.study_uid, r.series_uid, r.model_id, r.model_version, m.name AS model_name,
    m.manifest->>'label' AS label, r.status, r.shadow, r.attempt, r.failed_stage, r.reason, r.flagged,
    r.seg_series_uid, r.seg_sop_instance_uid, r.sr_sop_instance_uid, r.queued_at, r.started_at, r.finished_at,
    r.inference_ms, r.queue_wait_ms, r.total_ms, r.timings, r.withdrawn_at
  FROM ai_runs r JOIN ai_models m ON m.model_id = r.model_id AND m.version = r.model_version`;

function runApi(r: RunDbRow) {
  return {
    resultId: r.id,
    studyUid: r.study_uid,
    seriesUid: r.series_uid,
    model: { id: r.model_id, version: r.model_version },
    status: r.status,
    shadow: r.shadow,
    attempt: r.attempt,
    failedStage: r.failed_stage,
    reason: r.reason,
    flagged: r.flagged && !r.shadow,
    queuedAt: iso(r.queued_at)!,
    startedAt: iso(r.started_at),
    finishedAt: iso(r.finished_at),
    inferenceMs: r.inference_ms,
    queueWaitMs: r.queue_wait_ms,
    totalMs: r.total_ms,
    timings: r.timings,
  };
}

export default async function aiResultsRoutes(
  fastify: FastifyInstance,
  opts: { flow: AiFlow; trigger: AiTrigger },
) {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();

  app.get(
    '/api/studies/:studyUid/ai-results',
    {
      schema: {
        tags: ['ai'],
        summary: 'AI results of a study: runs per series and model, findings with measurements and feedback.',
        params: Type.Object({ studyUid: Uid }),
        response: { 200: StudyAiResults },
      },
    },
    async (request) => {
      const p = request.principal!;
      const { studyUid } = request.params;
      if (!(await canAccessStudy(app.db, p, studyUid))) throw NO_STUDY();
      const runs = await app.db.query<RunDbRow>(
        `${RUN_SELECT} WHERE r.study_uid = $1 AND r.withdrawn_at IS NULL ${seesShadow(p) ? '' : 'AND NOT r.shadow'}
          ORDER BY r.queued_at, r.id`,
        [studyUid],
      );
      const findings = await app.db.query<{
        id: string;
        run_id: string;
        label: string;
        segment_number: number;
        centroid_lps: number[];
        referenced_sop_instance_uid: string;
        longest_diameter_mm: number;
        volume_ml: number;
        mean_intensity: number;
        confidence: number;
        verdict: 'accepted' | 'rejected' | null;
        comment: string | null;
        fb_user: string | null;
        fb_name: string | null;
        fb_at: Date | null;
      }>(
        `SELECT f.id, f.run_id, f.label, f.segment_number, f.centroid_lps, f.referenced_sop_instance_uid,
                f.longest_diameter_mm, f.volume_ml, f.mean_intensity, f.confidence,
                fb.verdict, fb.comment, fb.user_id AS fb_user, u.display_name AS fb_name, fb.at AS fb_at
           FROM ai_findings f LEFT JOIN ai_feedback fb ON fb.finding_id = f.id LEFT JOIN users u ON u.id = fb.user_id
          WHERE f.run_id = ANY ($1::text[]) ORDER BY f.finding_index`,
        [runs.map((r) => r.id)],
      );
      request.auditDetail = { results: runs.length };
      return {
        results: runs.map((r) => ({
          resultId: r.id,
          seriesUid: r.series_uid,
          model: { id: r.model_id, version: r.model_version, name: r.model_name },
          status: r.status,
          shadow: r.shadow,
          segSeriesUid: r.seg_series_uid,
          segSopInstanceUid: r.seg_sop_instance_uid,
          srSopInstanceUid: r.sr_sop_instance_uid,
          flagged: r.flagged && !r.shadow,
          failureReason: r.status === 'failed' || r.status === 'skipped' ? r.reason : null,
          label: r.label ?? NOT_FOR_CLINICAL_USE_LABEL,
          findings:
            r.status === 'completed'
              ? findings
                  .filter((f) => f.run_id === r.id)
                  .map((f) => ({
                    findingId: f.id,
                    label: f.label,
                    segmentNumber: f.segment_number,
                    centroidLps: f.centroid_lps.map(Number) as [number, number, number],
                    referencedSopInstanceUid: f.referenced_sop_instance_uid,
                    longestDiameterMm: Number(f.longest_diameter_mm),
                    volumeMl: Number(f.volume_ml),
                    meanIntensity: Number(f.mean_intensity),
                    confidence: Number(f.confidence),
                    feedback: f.verdict
                      ? {
                          verdict: f.verdict,
                          by: f.fb_name ?? '',
                          byUserId: f.fb_user!,
                          at: iso(f.fb_at)!,
                          comment: f.comment,
                        }
                      : null,
                  }))
              : [],
        })),
      };
    },
  );

  app.post(
    '/api/ai/findings/:findingId/feedback',
    {
      schema: {
        tags: ['ai'],
        summary: 'Accept or reject an AI finding (the latest verdict wins; every verdict is audited).',
        params: Type.Object({ findingId: FindingId }),
        body: FeedbackBody,
        response: { 200: Type.Object({ findingId: Type.String(), feedback: Feedback }) },
      },
    },
    async (request) => {
      const p = request.principal!;
      const [f] = await app.db.query<{ study_uid: string }>(
        `SELECT r.study_uid FROM ai_findings f JOIN ai_runs r ON r.id = f.run_id
          WHERE f.id = $1 AND r.status = 'completed' AND r.withdrawn_at IS NULL AND NOT r.shadow`,
        [request.params.findingId],
      );
      if (!f || !(await canAccessStudy(app.db, p, f.study_uid))) throw NO_FINDING();
      request.auditStudyUid = f.study_uid;
      const comment = request.body.comment?.normalize('NFC').trim() || null;
      const [row] = await app.db.query<{
        verdict: 'accepted' | 'rejected';
        at: Date;
        comment: string | null;
      }>(
        `INSERT INTO ai_feedback (finding_id, verdict, comment, user_id) VALUES ($1, $2, $3, $4)
         ON CONFLICT (finding_id) DO UPDATE SET verdict = EXCLUDED.verdict, comment = EXCLUDED.comment,
                user_id = EXCLUDED.user_id, at = now()
         RETURNING verdict, at, comment`,
        [request.params.findingId, request.body.verdict, comment, p.userId],
      );
      const [u] = await app.db.query<{ display_name: string }>(
        'SELECT display_name FROM users WHERE id = $1',
        [p.userId],
      );
      request.auditDetail = { findingId: request.params.findingId, verdict: row!.verdict };
      return {
        findingId: request.params.findingId,
        feedback: {
          verdict: row!.verdict,
          by: u?.display_name ?? p.username,
          byUserId: p.userId,
          at: iso(row!.at)!,
          comment: row!.comment,
        },
      };
    },
  );

  /** A run the caller may see: model managers and admins any; clinicians through the study. */
  async function visibleRun(p: Principal, runId: string, audit: { auditStudyUid: string | null }) {
    const [r] = await app.db.query<RunDbRow>(`${RUN_SELECT} WHERE r.id = $1`, [runId]);
    if (!r) throw NO_RUN();
    const manager = p.role === 'model_manager' || p.role === 'system_admin';
    if (!manager && (r.shadow || r.withdrawn_at || !(await canAccessStudy(app.db, p, r.study_uid))))
      throw NO_RUN();
    audit.auditStudyUid = r.study_uid;
    return r;
  }

  app.get(
    '/api/ai/runs/:runId',
    {
      schema: {
        tags: ['ai'],
        summary: 'One AI run and where each of its stages stands (state, progress, attempts, failure).',
        params: Type.Object({ runId: RunId }),
        response: { 200: RunWithStages },
      },
    },
    async (request) => {
      const r = await visibleRun(request.principal!, request.params.runId, request);
      return { run: runApi(r), stages: await opts.flow.stages(r.id, r.attempt) };
    },
  );

  app.get(
    '/api/ai/runs',
    {
      schema: {
        tags: ['ai'],
        summary: 'AI runs, newest first (model managers): by model, version and status.',
        querystring: Type.Object(
          {
            modelId: Type.Optional(ModelId),
            version: Type.Optional(Type.String({ maxLength: 64 })),
            status: Type.Optional(RunStatus),
            limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: 100 })),
          },
          { additionalProperties: false },
        ),
        response: { 200: Type.Array(Run) },
      },
    },
    async (request) => {
      const q = request.query;
      const rows = await app.db.query<RunDbRow>(
        `${RUN_SELECT} WHERE ($1::text IS NULL OR r.model_id = $1) AND ($2::text IS NULL OR r.model_version = $2)
            AND ($3::text IS NULL OR r.status = $3)
          ORDER BY r.queued_at DESC, r.id LIMIT $4`,
        [q.modelId ?? null, q.version ?? null, q.status ?? null, q.limit ?? 100],
      );
      return rows.map(runApi);
    },
  );

  app.post(
    '/api/ai/runs/:runId/rerun',
    {
      schema: {
        tags: ['ai'],
        summary: 'Run a finished AI run again (same SEG/SR UIDs: the study keeps one of each).',
        params: Type.Object({ runId: RunId }),
        response: { 202: Type.Object({ resultId: Type.String(), attempt: Type.Integer() }) },
      },
    },
    async (request, reply) => {
      const r = await visibleRun(request.principal!, request.params.runId, request);
      // A run left queued or running without any job (its enqueue was lost) may be re-run too.
      const orphaned =
        ['queued', 'running'].includes(r.status) &&
        (await opts.flow.stages(r.id, r.attempt)).every((s) => s.state === 'unknown');
      const attempt = await opts.trigger.rerun(request.params.runId, orphaned);
      return reply.code(202).send({ resultId: request.params.runId, attempt });
    },
  );

  app.get(
    '/api/ai/flagged-studies',
    {
      schema: {
        tags: ['ai'],
        summary: "My facility's studies an AI model flagged that have no read request yet.",
        querystring: Type.Object(
          { facilityId: Type.Optional(Type.String({ pattern: '^[a-z0-9][a-z0-9-]{1,62}$' })) },
          { additionalProperties: false },
        ),
        response: { 200: Type.Array(FlaggedStudy) },
      },
    },
    async (request) => {
      const p = request.principal!;
      let facilityId: string | null;
      if (p.role === 'system_admin') facilityId = request.query.facilityId ?? null;
      else {
        if (!p.facilityId) throw new AppError('RADLINK_FORBIDDEN', 'This list belongs to a facility.');
        facilityId = p.facilityId;
      }
      const rows = await app.db.query<{
        study_uid: string;
        facility_id: string;
        patient_name: string | null;
        patient_id: string | null;
        study_date: string | null;
        study_description: string | null;
        modalities: string[];
        flagged_at: Date | null;
        reasons: string[];
      }>(
        `SELECT s.study_uid, s.facility_id, s.patient_name, s.patient_id, s.study_date::text AS study_date,
                s.study_description, s.modalities,
                max(r.finished_at) AS flagged_at, array_agg(r.alert_reason ORDER BY r.finished_at) AS reasons
           FROM studies s
           JOIN ai_runs r ON r.study_uid = s.study_uid AND r.status = 'completed' AND r.flagged
                          AND NOT r.shadow AND r.withdrawn_at IS NULL
          WHERE s.ai_flag IS TRUE AND s.facility_id IS NOT NULL AND ($1::text IS NULL OR s.facility_id = $1)
            AND NOT EXISTS (SELECT 1 FROM read_requests q WHERE q.study_uid = s.study_uid AND q.status <> 'cancelled')
          GROUP BY s.study_uid
          ORDER BY flagged_at DESC NULLS LAST
          LIMIT 200`,
        [facilityId],
      );
      request.auditDetail = { count: rows.length };
      return rows.map((r) => ({
        studyUid: r.study_uid,
        facilityId: r.facility_id,
        patient: { name: r.patient_name, id: r.patient_id },
        studyDate: r.study_date,
        studyDescription: r.study_description,
        modalities: r.modalities ?? [],
        flaggedAt: iso(r.flagged_at),
        reasons: (r.reasons ?? []).filter((x): x is string => typeof x === 'string'),
        prompt:
          'An AI model flagged this study and no read has been requested yet: request a remote read (POST /api/requests).',
      }));
    },
  );
}
