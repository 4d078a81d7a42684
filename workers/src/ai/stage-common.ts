/**
 * What every stage of the AI flow shares. A run is a chain of BullMQ jobs in one flow (each
 * stage is the parent of the previous one, so BullMQ starts a stage when the previous one has
 * completed) and every stage receives the same UID-only payload (contracts InferJobData). A
 * stage reads its predecessor's small RunState (a return value in Redis: counts, flags and
 * timings — never pixels or patient data), does its work on the objects the previous stages
 * left in the work store, and returns the state extended with its own timings.
 */
import { UnrecoverableError } from 'bullmq';
import type { AiStageTimings, InferJobData } from '../../../contracts/jobs.js';

export const STAGES = ['fetch', 'volume', 'infer', 'postprocess', 'dicom', 'store', 'report'] as const;
export type StageName = (typeof STAGES)[number];

export interface RunState {
  selected: boolean;
  notSelectedReasons: string[];
  timings: AiStageTimings;
  /** Epoch ms this stage finished (the next stage's wait starts here). */
  finishedAt: number;
  /** Network time of the sliding window. */
  inferenceMs?: number;
  findingCount?: number;
  flagged?: boolean;
  alertReason?: string | null;
  segWritten?: boolean;
  /** The SEG/SR were written (not for shadow runs). */
  dicomWritten?: boolean;
}

/** The parts of a BullMQ job (in-process or sandboxed) the stages use. */
export interface StageJob {
  data: InferJobData;
  timestamp: number;
  processedOn?: number;
  updateProgress(value: object): Promise<void>;
  getChildrenValues<CT = unknown>(): Promise<Record<string, CT>>;
}

export async function previousState(job: StageJob): Promise<RunState> {
  const values = Object.values(await job.getChildrenValues<RunState>());
  const prev = values[0];
  if (!prev) throw new UnrecoverableError('the previous stage left no result');
  return prev;
}

/** The state after `stage`, with its wait (queued or previous stage done → started) and run time. */
export function advance(
  job: StageJob,
  stage: StageName,
  prev: RunState | null,
  startedAt: number,
  patch: Partial<RunState> = {},
): RunState {
  const now = Date.now();
  const processedOn = job.processedOn ?? startedAt;
  const readyAt = Math.max(job.timestamp, prev?.finishedAt ?? job.timestamp);
  const base: RunState = prev ?? { selected: true, notSelectedReasons: [], timings: {}, finishedAt: now };
  return {
    ...base,
    ...patch,
    timings: {
      ...base.timings,
      [stage]: { waitMs: Math.max(0, processedOn - readyAt), runMs: now - startedAt },
    },
    finishedAt: now,
  };
}

/** Work-store object names of a run. */
export const WORK = {
  volume: 'volume.bin',
  volumeMeta: 'volume.json',
  output: 'output.bin',
  outputMeta: 'output.json',
  labels: 'labels.bin',
  findings: 'findings.json',
  seg: 'seg.dcm',
  sr: 'sr.dcm',
} as const;
