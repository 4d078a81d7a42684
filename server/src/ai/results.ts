/**
 * Applies the workers' AI results messages (the gateway is the only database writer):
 *  - `ai-started`: the run is running;
 *  - `ai-findings`: findings stored (upserted by index, so a replayed message changes nothing
 *    and feedback on a finding survives), the run completed (or skipped, with the series-rule
 *    reasons), the study's flag recomputed, figures counted;
 *  - `ai-failed`: the run failed at a stage, with the reason the API shows;
 *  - `ai-model-available`: a worker validated a bundled model; its manifest is read from S3 and
 *    registered.
 * A message of an older attempt than the run's current one is ignored.
 */
import type { FastifyBaseLogger } from 'fastify';
import type { ResultMessage } from '../../../contracts/jobs.js';
import type { ModelManifest } from '../../../contracts/model-manifest.js';
import type { Db } from '../db/client.js';
import type { ObjectStore } from '../plugins/s3.js';
import { recomputeFlags } from './flags.js';
import type { AiMetrics } from './metrics.js';
import type { ModelRegistry } from './registry.js';
import type { AiTrigger } from './trigger.js';

/** A model registered at start also reads the series of the last day (see AiTrigger.backfill). */
const BACKFILL_HOURS = 24;

type AiMessage = Extract<ResultMessage, { kind: `ai-${string}` }>;

export const isAiMessage = (m: ResultMessage): m is AiMessage => m.kind.startsWith('ai-');

interface RunRow {
  study_uid: string;
  model_id: string;
  model_version: string;
  facility_id: string | null;
  attempt: number;
  queued_at: Date;
}

export class AiResults {
  constructor(
    private readonly o: {
      db: Db;
      s3: ObjectStore;
      registry: ModelRegistry;
      trigger: AiTrigger;
      metrics: AiMetrics;
      log: FastifyBaseLogger;
    },
  ) {}

  async apply(msg: AiMessage): Promise<void> {
    const { db } = this.o;
    switch (msg.kind) {
      case 'ai-started':
        await db.query(
          `UPDATE ai_runs SET status = 'running', started_at = $3 WHERE id = $1 AND attempt = $2 AND status = 'queued'`,
          [msg.runId, msg.attempt, msg.startedAt],
        );
        return;
      case 'ai-failed': {
        const [run] = await db.query<RunRow>(
          `UPDATE ai_runs SET status = 'failed', failed_stage = $3, reason = $4, finished_at = $5
            WHERE id = $1 AND attempt = $2 AND status IN ('queued', 'running')
            RETURNING model_id, model_version, facility_id`,
          [msg.runId, msg.attempt, msg.stage, msg.reason, msg.failedAt],
        );
        if (run)
          this.o.metrics.runs.inc({
            model: run.model_id,
            version: run.model_version,
            facility: run.facility_id ?? '',
            outcome: 'failed',
          });
        return;
      }
      case 'ai-findings':
        await this.findings(msg);
        return;
      case 'ai-model-available':
        await this.modelAvailable(msg);
        return;
    }
  }

  private async findings(msg: Extract<AiMessage, { kind: 'ai-findings' }>): Promise<void> {
    const queueWaitMs = Object.values(msg.timings).reduce((s, t) => s + t.waitMs, 0);
    const run = await this.o.db.tx(async (q) => {
      const [r] = await q.query<RunRow>(
        `SELECT study_uid, model_id, model_version, facility_id, attempt, queued_at FROM ai_runs WHERE id = $1 FOR UPDATE`,
        [msg.runId],
      );
      if (!r || r.attempt !== msg.attempt) return null;
      for (const f of msg.findings)
        await q.query(
          `INSERT INTO ai_findings (run_id, finding_index, segment_number, label, centroid_lps, referenced_sop_instance_uid,
                                    longest_diameter_mm, axial_longest_diameter_mm, volume_ml, mean_intensity, confidence)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
           ON CONFLICT (run_id, finding_index) DO UPDATE SET
             segment_number = EXCLUDED.segment_number, label = EXCLUDED.label, centroid_lps = EXCLUDED.centroid_lps,
             referenced_sop_instance_uid = EXCLUDED.referenced_sop_instance_uid,
             longest_diameter_mm = EXCLUDED.longest_diameter_mm, axial_longest_diameter_mm = EXCLUDED.axial_longest_diameter_mm,
             volume_ml = EXCLUDED.volume_ml, mean_intensity = EXCLUDED.mean_intensity, confidence = EXCLUDED.confidence`,
          [
            msg.runId,
            f.index,
            f.segmentNumber,
            f.label,
            f.centroidLps,
            f.referencedSopInstanceUid,
            f.longestDiameterMm,
            f.axialLongestDiameterMm,
            f.volumeMl,
            f.meanIntensity,
            f.confidence,
          ],
        );
      await q.query('DELETE FROM ai_findings WHERE run_id = $1 AND finding_index > $2', [
        msg.runId,
        msg.findings.length,
      ]);
      await q.query(
        `UPDATE ai_runs SET status = $2, reason = $3, flagged = $4, alert_reason = $5, seg_series_uid = $6,
                seg_sop_instance_uid = $7, sr_series_uid = $8, sr_sop_instance_uid = $9, inference_ms = $10,
                queue_wait_ms = $11, timings = $12, finished_at = $13,
                total_ms = EXTRACT(EPOCH FROM ($13::timestamptz - queued_at)) * 1000,
                started_at = COALESCE(started_at, queued_at), failed_stage = NULL
          WHERE id = $1`,
        [
          msg.runId,
          msg.selected ? 'completed' : 'skipped',
          msg.selected ? null : msg.notSelectedReasons.join('; ').slice(0, 1000),
          msg.flagged,
          msg.alertReason,
          msg.segSeriesUid,
          msg.segSopInstanceUid,
          msg.srSeriesUid,
          msg.srSopInstanceUid,
          msg.inferenceMs,
          queueWaitMs,
          JSON.stringify(msg.timings),
          msg.finishedAt,
        ],
      );
      await recomputeFlags(q, [r.study_uid]);
      return r;
    });
    if (!run) return;
    const labels = { model: run.model_id, version: run.model_version };
    this.o.metrics.runs.inc({
      ...labels,
      facility: run.facility_id ?? '',
      outcome: msg.selected ? 'completed' : 'skipped',
    });
    if (msg.selected) this.o.metrics.inference.observe(labels, msg.inferenceMs / 1000);
    this.o.metrics.queueWait.observe(labels, queueWaitMs / 1000);
  }

  private async modelAvailable(msg: Extract<AiMessage, { kind: 'ai-model-available' }>): Promise<void> {
    const stream = await this.o.s3.client.getObject(this.o.s3.bucket, msg.manifestKey);
    const chunks: Buffer[] = [];
    for await (const c of stream) chunks.push(c as Buffer);
    const manifest = JSON.parse(Buffer.concat(chunks).toString('utf8')) as ModelManifest;
    if (manifest.id !== msg.modelId || manifest.version !== msg.version || manifest.sha256 !== msg.sha256) {
      this.o.log.error(
        { modelId: msg.modelId, version: msg.version },
        'announced model does not match its manifest',
      );
      return;
    }
    const { newlyEnabled } = await this.o.registry.registerBundled(manifest);
    if (newlyEnabled) {
      const started = await this.o.trigger.backfill(BACKFILL_HOURS);
      if (started)
        this.o.log.info({ modelId: msg.modelId, runs: started }, 'AI model registered; recent series queued');
    }
  }
}
