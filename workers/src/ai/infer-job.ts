/**
 * The inference stage's job payload and result. Payloads carry UIDs and model identity only
 * (BullMQ stores them in Redis in clear text); `sourceDir` is for development and tests (a local
 * directory of Part 10 files) and is never set by the gateway. To move to contracts/jobs.ts
 * when the pipeline flow is wired.
 */
import type { AlertDecision } from './alert.js';
import type { Finding } from './postprocess.js';
import type { Dims, Vec3 } from './volume.js';

export interface InferJobData {
  studyUid: string;
  seriesUid: string;
  modelId: string;
  modelVersion: string;
  /** Read the series from this directory of Part 10 files instead of Orthanc (dev/tests only). */
  sourceDir?: string;
}

export interface InferJobResult {
  studyUid: string;
  seriesUid: string;
  modelId: string;
  modelVersion: string;
  /** "AI generated — not for clinical use" until the model is cleared. */
  label: string;
  selected: boolean;
  /** Why the series was not processed (selection rules), when `selected` is false. */
  notSelectedReasons: string[];
  findings: Finding[];
  alert: AlertDecision | null;
  volume: { dims: Dims; spacing: Vec3 } | null;
  timings: Record<string, number>;
}

/** Job id: UIDs + model version, no ':' (BullMQ reserves it), so a replay deduplicates. */
export const inferJobId = (d: Pick<InferJobData, 'seriesUid' | 'modelId' | 'modelVersion'>) =>
  `ai-infer_${d.seriesUid}_${d.modelId}_${d.modelVersion}`.replace(/:/g, '-');
