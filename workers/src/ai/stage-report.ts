/**
 * Stage 7, report: hands the run's findings to the gateway (the `ai-findings` results message;
 * the gateway alone writes the database, flags the study and raises its priority), then removes
 * the run's work objects. Findings are measurements and manifest labels, no patient data.
 */
import type { Queue } from 'bullmq';
import { type AiFindingMessage, jobId, type ResultMessage } from '../../../contracts/jobs.js';
import type { Finding } from './postprocess.js';
import { advance, previousState, type RunState, type StageJob, WORK } from './stage-common.js';
import type { VolumeMeta } from './stage-volume.js';
import { runOutputUids } from './uids.js';
import type { WorkStore } from './work-store.js';

export interface ReportDeps {
  work: WorkStore;
  results: Queue<ResultMessage>;
}

/** The source image nearest the centroid: the slice index rounded along the stack. */
export function toMessage(f: Finding, sourceSops: readonly string[]): AiFindingMessage {
  const k = Math.max(0, Math.min(sourceSops.length - 1, Math.round(f.centroidVoxel[0])));
  return {
    index: f.index,
    segmentNumber: f.index,
    label: f.label,
    centroidLps: f.centroidMm,
    referencedSopInstanceUid: sourceSops[k]!,
    longestDiameterMm: f.axialLongestDiameterMm,
    axialLongestDiameterMm: f.axialLongestDiameterMm,
    volumeMl: f.volumeMm3 / 1000,
    meanIntensity: f.meanIntensity,
    confidence: f.confidence,
  };
}

export async function reportStage(job: StageJob, deps: ReportDeps): Promise<RunState> {
  const started = Date.now();
  const prev = await previousState(job);
  const d = job.data;
  const w = deps.work;
  let findings: AiFindingMessage[] = [];
  const uids = runOutputUids(d.seriesUid, d.modelId, d.modelVersion);
  if (prev.selected) {
    const meta = await w.getJson<VolumeMeta>(w.key(d.runId, d.attempt, WORK.volumeMeta));
    const r = await w.getJson<{ findings: Finding[] }>(w.key(d.runId, d.attempt, WORK.findings));
    findings = r.findings.map((f) => toMessage(f, meta.sourceSops));
  }
  const state = advance(job, 'report', prev, started);
  const msg: ResultMessage = {
    kind: 'ai-findings',
    runId: d.runId,
    attempt: d.attempt,
    selected: prev.selected,
    notSelectedReasons: prev.notSelectedReasons,
    findings,
    flagged: prev.selected && prev.flagged === true,
    alertReason: prev.alertReason ?? null,
    segSeriesUid: prev.dicomWritten && prev.segWritten ? uids.segSeriesUid : null,
    segSopInstanceUid: prev.dicomWritten && prev.segWritten ? uids.segSopInstanceUid : null,
    srSeriesUid: prev.dicomWritten ? uids.srSeriesUid : null,
    srSopInstanceUid: prev.dicomWritten ? uids.srSopInstanceUid : null,
    inferenceMs: prev.inferenceMs ?? 0,
    timings: state.timings,
    finishedAt: new Date().toISOString(),
  };
  await deps.results.add(msg.kind, msg, { jobId: jobId('ai-findings', d.runId, String(d.attempt)) });
  await w.removeRun(d.runId, d.attempt);
  return state;
}
