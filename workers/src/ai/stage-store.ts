/**
 * Stage 6, store the SEG and SR into the study through Orthanc's REST API. Orthanc keeps the
 * first copy of a SOP Instance UID ("AlreadyStored" for a repeat), and the UIDs are derived from
 * the run, so however often a run repeats the study holds one SEG and one SR. The change feed
 * indexes them like any other instance of the study.
 */
import { UnrecoverableError } from 'bullmq';
import type { OrthancAccess } from './load-series.js';
import { advance, previousState, type RunState, type StageJob, WORK } from './stage-common.js';
import type { WorkStore } from './work-store.js';

export interface StoreDeps {
  orthanc: OrthancAccess;
  work: WorkStore;
}

async function store(o: OrthancAccess, bytes: Uint8Array): Promise<string> {
  const auth = Buffer.from(`${o.username}:${o.password}`).toString('base64');
  let res: Response;
  try {
    res = await fetch(`${o.url}/instances`, {
      method: 'POST',
      headers: { authorization: `Basic ${auth}`, 'content-type': 'application/dicom' },
      body: bytes,
    });
  } catch (err) {
    throw new Error(`Orthanc unreachable: ${(err as Error).message}`);
  }
  if (res.status >= 500) throw new Error(`Orthanc answered ${res.status}`);
  if (!res.ok) throw new UnrecoverableError(`Orthanc refused the AI output (${res.status})`);
  return ((await res.json()) as { Status?: string }).Status ?? 'Success';
}

export async function storeStage(job: StageJob, deps: StoreDeps): Promise<RunState> {
  const started = Date.now();
  const prev = await previousState(job);
  if (!prev.selected || !prev.dicomWritten) return advance(job, 'store', prev, started);
  const d = job.data;
  const w = deps.work;
  if (prev.segWritten) await store(deps.orthanc, await w.getBytes(w.key(d.runId, d.attempt, WORK.seg)));
  await store(deps.orthanc, await w.getBytes(w.key(d.runId, d.attempt, WORK.sr)));
  await job.updateProgress({ stage: 'store', percent: 95 });
  return advance(job, 'store', prev, started);
}
