/**
 * Where a new series becomes AI work. The indexer calls `onNewInstance` after committing an
 * instance; the first instance of a series is enough to decide (the flow's first stage waits for
 * the series to be stable in Orthanc before reading it). For every enabled or shadow model whose
 * rules may match, a run row is inserted (id derived from series, model and version, so a
 * second trigger inserts nothing) and its flow enqueued.
 */
import { createHash } from 'node:crypto';
import type { FastifyBaseLogger } from 'fastify';
import type { InferJobData } from '../../../contracts/jobs.js';
import type { Db } from '../db/client.js';
import { AppError } from '../plugins/errors.js';
import type { AiFlow } from './flow.js';
import type { ModelRegistry } from './registry.js';
import { mayMatch } from './series-match.js';

export const runIdOf = (seriesUid: string, modelId: string, version: string) =>
  createHash('sha256').update(`${seriesUid}\u0000${modelId}\u0000${version}`).digest('hex').slice(0, 32);

/** Series already considered by this process (bounded; the run ids dedupe across processes). */
const SEEN_MAX = 20_000;

export class AiTrigger {
  private readonly seen = new Set<string>();

  constructor(
    private readonly db: Db,
    private readonly registry: ModelRegistry,
    private readonly flow: AiFlow,
    private readonly log: FastifyBaseLogger,
  ) {}

  /** Never throws (indexing must not fail because of AI); problems are logged. */
  onNewInstance(ids: { studyUid: string; seriesUid: string }): void {
    if (this.seen.has(ids.seriesUid)) return;
    if (this.seen.size >= SEEN_MAX) this.seen.clear();
    this.seen.add(ids.seriesUid);
    this.considerSeries(ids.studyUid, ids.seriesUid).catch((err) => {
      this.seen.delete(ids.seriesUid);
      this.log.warn(
        { err: (err as Error).message, seriesUid: ids.seriesUid },
        'AI trigger failed for a series',
      );
    });
  }

  /** Enqueues the runs this series calls for; returns their ids. */
  async considerSeries(studyUid: string, seriesUid: string): Promise<string[]> {
    const [series] = await this.db.query<{
      modality: string | null;
      body_part_examined: string | null;
      series_description: string | null;
      facility_id: string | null;
    }>(
      `SELECT se.modality, se.body_part_examined, se.series_description, s.facility_id
         FROM series se JOIN studies s ON s.study_uid = se.study_uid
        WHERE se.series_uid = $1 AND se.study_uid = $2`,
      [seriesUid, studyUid],
    );
    if (!series) return [];
    const facts = {
      modality: series.modality,
      bodyPartExamined: series.body_part_examined,
      seriesDescription: series.series_description,
    };
    const started: string[] = [];
    for (const m of await this.registry.active()) {
      if (!mayMatch(facts, m.manifest.seriesSelection)) continue;
      const runId = runIdOf(seriesUid, m.modelId, m.version);
      const inserted = await this.db.query(
        `INSERT INTO ai_runs (id, study_uid, series_uid, model_id, model_version, facility_id, shadow, status)
         VALUES ($1, $2, $3, $4, $5, $6, $7, 'queued') ON CONFLICT (id) DO NOTHING RETURNING id`,
        [runId, studyUid, seriesUid, m.modelId, m.version, series.facility_id, m.status === 'shadow'],
      );
      // The row and its flow are two writes: an enqueue that failed after the insert (Redis down,
      // the gateway killed in between) left a run queued for ever that nothing would enqueue
      // again. When the series comes by again (its next instance, after a failure or a restart),
      // such a run — still queued, first attempt, no job of any stage — is enqueued now.
      if (inserted.length === 0 && !(await this.lostEnqueue(runId))) continue;
      await this.flow.enqueue(this.jobData(runId, 1, studyUid, seriesUid, m, m.status === 'shadow'));
      started.push(runId);
    }
    return started;
  }

  /** The run exists, queued at its first attempt, and BullMQ holds no job of it. */
  private async lostEnqueue(runId: string): Promise<boolean> {
    const [run] = await this.db.query<{ status: string; attempt: number }>(
      'SELECT status, attempt FROM ai_runs WHERE id = $1',
      [runId],
    );
    if (run?.status !== 'queued' || run.attempt !== 1) return false;
    return (await this.flow.stages(runId, 1)).every((s) => s.state === 'unknown');
  }

  /**
   * Series received in the last `hours` considered again (runs that exist are not repeated):
   * a model registered at start-up also reads the studies that arrived while the workers were
   * still validating it — on a first start, the demo studies.
   */
  async backfill(hours: number): Promise<number> {
    const recent = await this.db.query<{ study_uid: string; series_uid: string }>(
      `SELECT study_uid, series_uid FROM series WHERE created_at > now() - make_interval(hours => $1::int)
        ORDER BY created_at`,
      [hours],
    );
    let started = 0;
    for (const s of recent) started += (await this.considerSeries(s.study_uid, s.series_uid)).length;
    return started;
  }

  /** A new attempt of a finished run (same outputs: the SEG/SR UIDs do not depend on the attempt). */
  async rerun(runId: string, orphaned = false): Promise<number> {
    const [run] = await this.db.query<{
      study_uid: string;
      series_uid: string;
      model_id: string;
      model_version: string;
      attempt: number;
      shadow: boolean;
    }>(
      `UPDATE ai_runs SET attempt = attempt + 1, status = 'queued', failed_stage = NULL, reason = NULL,
              queued_at = now(), started_at = NULL, finished_at = NULL
        WHERE id = $1 AND (status IN ('completed', 'failed', 'skipped') OR $2::boolean)
        RETURNING study_uid, series_uid, model_id, model_version, attempt, shadow`,
      [runId, orphaned],
    );
    if (!run) throw new AppError('RADLINK_CONFLICT', 'The run is still queued or running.');
    const m = await this.registry.get(run.model_id, run.model_version);
    if (!m) throw new AppError('RADLINK_NOT_FOUND', 'The run’s model version is no longer registered.');
    await this.flow.enqueue(this.jobData(runId, run.attempt, run.study_uid, run.series_uid, m, run.shadow));
    return run.attempt;
  }

  private jobData(
    runId: string,
    attempt: number,
    studyUid: string,
    seriesUid: string,
    m: { modelId: string; version: string; sha256: string },
    shadow: boolean,
  ): InferJobData {
    return {
      runId,
      attempt,
      studyUid,
      seriesUid,
      modelId: m.modelId,
      modelVersion: m.version,
      modelSha256: m.sha256,
      shadow,
    };
  }
}
