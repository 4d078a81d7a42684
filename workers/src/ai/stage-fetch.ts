/**
 * Stage 1, fetch and validate: the series must be in Orthanc and stable (Orthanc's StableAge
 * has passed since its last instance: a series still arriving is waited for, without using up
 * attempts), and must match the model's series rules — checked here with the image count and
 * slice thickness, which the gateway's early match could not know. A series the rules exclude
 * ends the run as "not selected", with the reasons.
 */
import { DelayedError, UnrecoverableError } from 'bullmq';
import { type OrthancAccess, orthancSeriesId, SeriesLoadError } from './load-series.js';
import type { ModelSource } from './model-source.js';
import { selectSeries } from './select-series.js';
import { advance, type RunState, type StageJob } from './stage-common.js';

/** Longest wait for a series to become stable before processing what is there. */
const MAX_STABLE_WAIT_MS = 10 * 60_000;

interface OrthancSeries {
  IsStable?: boolean;
  Instances: string[];
  MainDicomTags: Record<string, string>;
}

async function orthancJson<T>(o: OrthancAccess, path: string): Promise<T> {
  const auth = Buffer.from(`${o.username}:${o.password}`).toString('base64');
  let res: Response;
  try {
    res = await fetch(`${o.url}${path}`, { headers: { authorization: `Basic ${auth}` } });
  } catch (err) {
    throw new Error(`Orthanc unreachable: ${(err as Error).message}`);
  }
  if (res.status === 404) throw new UnrecoverableError('the series is no longer in Orthanc');
  if (!res.ok) throw new Error(`Orthanc answered ${res.status}`);
  return (await res.json()) as T;
}

export interface FetchDeps {
  orthanc: OrthancAccess;
  models: ModelSource;
  /** Called once the series is stable and the run really starts. */
  started(): Promise<void>;
}

export async function fetchStage(
  job: StageJob & { moveToDelayed(ts: number, token?: string): Promise<void> },
  token: string | undefined,
  deps: FetchDeps,
): Promise<RunState> {
  const started = Date.now();
  const d = job.data;
  await job.updateProgress({ stage: 'fetch', percent: 2 });
  const manifest = await deps.models.manifest(d.modelId, d.modelVersion, d.modelSha256);
  let id: string;
  try {
    id = await orthancSeriesId(deps.orthanc, d.seriesUid);
  } catch (err) {
    if (err instanceof SeriesLoadError && !err.transient) throw new UnrecoverableError(err.message);
    throw err;
  }
  const series = await orthancJson<OrthancSeries>(deps.orthanc, `/series/${id}`);
  if (series.IsStable === false && Date.now() - job.timestamp < MAX_STABLE_WAIT_MS) {
    await job.moveToDelayed(Date.now() + 500, token);
    throw new DelayedError();
  }
  await deps.started();
  const shared = await orthancJson<Record<string, string>>(
    deps.orthanc,
    `/series/${id}/shared-tags?simplify`,
  );
  const thickness = Number.parseFloat(shared.SliceThickness ?? '');
  const tags = series.MainDicomTags;
  const sel = selectSeries(
    {
      modality: tags.Modality ?? shared.Modality ?? '',
      bodyPartExamined: tags.BodyPartExamined || shared.BodyPartExamined || undefined,
      seriesDescription: tags.SeriesDescription ?? '',
      sliceThickness: Number.isFinite(thickness) ? thickness : undefined,
      imageCount: series.Instances.length,
    },
    manifest.seriesSelection,
  );
  await job.updateProgress({ stage: 'fetch', percent: 5 });
  return advance(job, 'fetch', null, started, { selected: sel.selected, notSelectedReasons: sel.reasons });
}
