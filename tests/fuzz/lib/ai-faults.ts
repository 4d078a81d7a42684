/**
 * The AI side of the faults test (tests/fuzz/faults.test.ts): synthetic CT series the bundled CT
 * model's rules select, the BullMQ view of the AI flow (the inference stage's active jobs, what is
 * still queued or running in any stage), the sandboxed inference processes a workers process
 * forked, and the count of SEG and SR objects per (series, model, version) as Orthanc holds them.
 *
 * The SEG/SR count reads the objects themselves, not the run rows: a SEG counts for a run when it
 * references the run's series (ReferencedSeriesSequence) and was made by the run's model and
 * version (ContributingEquipmentSequence); an SR likewise through its evidence
 * (CurrentRequestedProcedureEvidenceSequence). A second SEG written under another UID after a
 * retry would therefore be counted, which comparing UIDs alone could not see.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { findPatient } from '../../../scripts/demo/patients.js';
import { generateStudy } from '../../../scripts/demo/synth/study.js';
import { STAGE_QUEUES } from '../../../server/src/ai/flow.js';
import { runOutputUids } from '../../../workers/src/ai/uids.js';

/** One AI run as `GET /api/ai/runs` answers it (the fields this test reads). */
export interface AiRun {
  resultId: string;
  studyUid: string;
  seriesUid: string;
  model: { id: string; version: string };
  status: 'queued' | 'running' | 'completed' | 'failed' | 'skipped';
  shadow: boolean;
  attempt: number;
  failedStage: string | null;
  reason: string | null;
}

export interface AiSeries {
  studyUid: string;
  seriesUid: string;
  files: Buffer[];
}

/**
 * A small abdominal CT with one lesion that liver-lesion-ct 1.0.0 selects (CT, ABDOMEN, 5 mm
 * slices, 40 of them: its rules want 0.5–5.5 mm and at least 20). Small so that many flows fit in
 * the test's time, large enough that the sliding window still takes seconds.
 */
export function aiSeries(seed: number): AiSeries {
  const s = generateStudy({
    seed,
    patient: findPatient('hung'),
    modality: 'CT',
    rows: 64,
    slices: 40,
    sliceThickness: 5,
    lesions: [{ diameterMm: 30, contrast: -60 }],
  });
  const series = s.series[0]!;
  return {
    studyUid: s.study.studyUid,
    seriesUid: series.seriesUid,
    files: series.instances.map((b) => Buffer.from(b)),
  };
}

/** One BullMQ queue object per AI stage, under the test's queue prefix. */
export function stageQueues(connection: Redis, prefix: string): Map<string, Queue> {
  return new Map(STAGE_QUEUES.map(([stage, name]) => [stage, new Queue(name, { connection, prefix })]));
}

export interface ActiveInference {
  jobId: string;
  runId: string;
  /** When the worker took the job (BullMQ processedOn). */
  processedOn: number;
  attemptsMade: number;
  /**
   * The stage's own progress: 30 once the model is loaded and the volume is being resampled and
   * run through the network, 70 once the output is written (workers/src/ai/infer-sandbox.ts).
   */
  percent: number | null;
}

/** Between the stage's 30 % and 70 % marks: the network is running on the volume. */
export const inNetwork = (j: ActiveInference) => j.percent !== null && j.percent >= 30 && j.percent < 70;

/** The inference jobs a worker holds right now (BullMQ's active list, taken by a worker). */
export async function activeInferences(infer: Queue): Promise<ActiveInference[]> {
  const jobs = await infer.getActive();
  return jobs
    .filter((j) => j?.id && j.processedOn)
    .map((j) => ({
      jobId: j.id!,
      runId: (j.data as { runId: string }).runId,
      processedOn: j.processedOn!,
      attemptsMade: j.attemptsMade,
      percent: (j.progress as { percent?: number } | null)?.percent ?? null,
    }));
}

const UNFINISHED = ['active', 'waiting', 'delayed', 'waiting-children', 'prioritized'] as const;

/** Jobs of every AI stage not yet finished, per stage and state (empty states left out). */
export async function unfinishedJobs(queues: Map<string, Queue>): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const [stage, q] of queues) {
    const counts = await q.getJobCounts(...UNFINISHED);
    for (const [state, n] of Object.entries(counts)) if (n > 0) out[`${stage}.${state}`] = n;
  }
  return out;
}

/** Process ids whose parent is `ppid` (from /proc: Linux only, as the test stack is). */
export function childrenOf(ppid: number): number[] {
  const out: number[] = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      // Field 4 of /proc/<pid>/stat is the parent; the command name (field 2) may hold spaces.
      const stat = readFileSync(`/proc/${e}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[1]) === ppid) out.push(Number(e));
    } catch {
      // The process ended while we looked.
    }
  }
  return out;
}

/** The process still runs BullMQ's sandbox wrapper (so a reused pid is never taken for it). */
export const sandboxAlive = (pid: number): boolean => {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('bullmq');
  } catch {
    return false;
  }
};

export interface OrthancAccess {
  url: string;
  username: string;
  password: string;
}

export interface OutputCount {
  runId: string;
  studyUid: string;
  seriesUid: string;
  model: string;
  version: string;
  status: AiRun['status'];
  seg: number;
  sr: number;
  /** The SEG/SR found carry the UIDs derived from (series, model, version). */
  derivedUids: boolean;
}

type Tags = Record<string, unknown>;

/**
 * SEG and SR instances per run, read from Orthanc study by study. The model's name (what the
 * writers put in ManufacturerModelName) comes from its manifest under `modelsDir`.
 */
export async function countOutputs(
  orthanc: OrthancAccess,
  runs: AiRun[],
  modelsDir: string,
): Promise<OutputCount[]> {
  const auth = `Basic ${Buffer.from(`${orthanc.username}:${orthanc.password}`).toString('base64')}`;
  const get = async <T>(path: string, init: RequestInit = {}): Promise<T> => {
    const res = await fetch(`${orthanc.url}${path}`, {
      ...init,
      headers: { authorization: auth, ...init.headers },
      signal: AbortSignal.timeout(30_000),
    });
    if (!res.ok) throw new Error(`Orthanc ${path}: HTTP ${res.status}`);
    return (await res.json()) as T;
  };
  const names = new Map<string, string>();
  const modelName = (id: string, version: string) => {
    const key = `${id}/${version}`;
    if (!names.has(key)) {
      const manifest = JSON.parse(readFileSync(join(modelsDir, id, version, 'manifest.json'), 'utf8')) as {
        name: string;
      };
      names.set(key, manifest.name);
    }
    return names.get(key)!;
  };

  // Per study: every SEG and SR with the tags that tie it to a series and a model.
  const outputs = new Map<string, Array<{ modality: string; sop: string; tags: Tags }>>();
  for (const studyUid of new Set(runs.map((r) => r.studyUid))) {
    const list: Array<{ modality: string; sop: string; tags: Tags }> = [];
    const hits = await get<Array<{ ID: string; Type: string }>>('/tools/lookup', {
      method: 'POST',
      body: studyUid,
    });
    const study = hits.find((h) => h.Type === 'Study');
    if (study) {
      const series = await get<Array<{ MainDicomTags: { Modality?: string }; Instances: string[] }>>(
        `/studies/${study.ID}/series`,
      );
      for (const s of series) {
        const modality = s.MainDicomTags.Modality ?? '';
        if (modality !== 'SEG' && modality !== 'SR') continue;
        for (const id of s.Instances) {
          const tags = await get<Tags>(`/instances/${id}/tags?simplify`);
          list.push({ modality, sop: String(tags.SOPInstanceUID), tags });
        }
      }
    }
    outputs.set(studyUid, list);
  }

  const madeBy = (tags: Tags, name: string, version: string) =>
    ((tags.ContributingEquipmentSequence as Tags[] | undefined) ?? []).some(
      (e) => e.ManufacturerModelName === name && String(e.SoftwareVersions ?? '').includes(version),
    );
  const seriesOf = (seq: unknown) =>
    ((seq as Tags[] | undefined) ?? []).map((s) => String(s.SeriesInstanceUID ?? ''));
  const srSeries = (tags: Tags) =>
    ((tags.CurrentRequestedProcedureEvidenceSequence as Tags[] | undefined) ?? []).flatMap((e) =>
      seriesOf(e.ReferencedSeriesSequence),
    );

  return runs.map((r) => {
    const name = modelName(r.model.id, r.model.version);
    const mine = (outputs.get(r.studyUid) ?? []).filter((o) => madeBy(o.tags, name, r.model.version));
    const segs = mine.filter(
      (o) => o.modality === 'SEG' && seriesOf(o.tags.ReferencedSeriesSequence).includes(r.seriesUid),
    );
    const srs = mine.filter((o) => o.modality === 'SR' && srSeries(o.tags).includes(r.seriesUid));
    const uids = runOutputUids(r.seriesUid, r.model.id, r.model.version);
    return {
      runId: r.resultId,
      studyUid: r.studyUid,
      seriesUid: r.seriesUid,
      model: r.model.id,
      version: r.model.version,
      status: r.status,
      seg: segs.length,
      sr: srs.length,
      derivedUids:
        segs.every((o) => o.sop === uids.segSopInstanceUid) &&
        srs.every((o) => o.sop === uids.srSopInstanceUid),
    };
  });
}
