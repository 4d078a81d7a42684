/**
 * BullMQ sandboxed processor for the inference stage (default export `(job) => result`).
 * BullMQ runs this file in a child process (or worker thread), so onnxruntime's `run` — seconds
 * of CPU — never blocks the event loop of the process that renews job locks.
 *
 * Per process state (this module's lifetime is the sandbox process's): one SessionCache and the
 * validated models, loaded on first use. Failures that retrying cannot fix (unknown model,
 * refused geometry, undecodable pixels, series not found) throw UnrecoverableError with the
 * reason; Orthanc being unreachable or 5xx throws a plain Error so BullMQ retries with backoff.
 *
 * The worker registering this file must let the child load TypeScript, e.g.
 *   new Worker(queue, pathToThisFile, { workerForkOptions: { execArgv: ['--import', 'tsx'] } })
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Type } from '@sinclair/typebox';
import { type SandboxedJob, UnrecoverableError } from 'bullmq';
import { loadConfig } from '../../../contracts/config.js';
import { WorkersConfigSchema } from '../config.js';
import type { InferJobData, InferJobResult } from './infer-job.js';
import { decodeFiles, type LoadedSeries, loadSeriesFromOrthanc, SeriesLoadError } from './load-series.js';
import { type LoadedModel, loadModel, ModelValidationError } from './manifest.js';
import { runModel } from './run-model.js';
import { selectSeries } from './select-series.js';
import { SessionCache } from './session-cache.js';
import { buildVolume, VolumeError } from './volume.js';

/** The keys this stage needs (validated once per process; a missing key fails every job clearly). */
const InferConfigSchema = Type.Pick(WorkersConfigSchema, [
  'RADLINK_MODELS_DIR',
  'ORTHANC_URL',
  'ORTHANC_USERNAME',
  'ORTHANC_PASSWORD',
]);

const sessions = new SessionCache();
const models = new Map<string, Promise<LoadedModel>>();

function model(dir: string, id: string, version: string): Promise<LoadedModel> {
  const key = `${id}/${version}`;
  let m = models.get(key);
  if (!m) {
    m = loadModel(join(dir, id, version), sessions);
    m.catch(() => models.delete(key));
    models.set(key, m);
  }
  return m;
}

async function loadSeries(
  data: InferJobData,
  cfg: { ORTHANC_URL: string; ORTHANC_USERNAME: string; ORTHANC_PASSWORD: string },
): Promise<LoadedSeries> {
  if (data.sourceDir) {
    const dir = data.sourceDir;
    const files = readdirSync(dir)
      .filter((f) => !f.startsWith('.'))
      .sort()
      .map((f) => new Uint8Array(readFileSync(join(dir, f))));
    return decodeFiles(files);
  }
  return loadSeriesFromOrthanc(
    { url: cfg.ORTHANC_URL, username: cfg.ORTHANC_USERNAME, password: cfg.ORTHANC_PASSWORD },
    data.seriesUid,
  );
}

export default async function infer(
  job: SandboxedJob<InferJobData, InferJobResult>,
): Promise<InferJobResult> {
  const data = job.data;
  const cfg = loadConfig('ai-infer', InferConfigSchema);
  const t0 = performance.now();
  let loaded: LoadedModel;
  try {
    loaded = await model(cfg.RADLINK_MODELS_DIR, data.modelId, data.modelVersion);
  } catch (err) {
    if (err instanceof ModelValidationError) throw new UnrecoverableError(err.message);
    throw err;
  }
  const m = loaded.manifest;
  await job.updateProgress({ stage: 'fetch', percent: 5 });
  let series: LoadedSeries;
  try {
    series = await loadSeries(data, cfg);
  } catch (err) {
    if (err instanceof SeriesLoadError && !err.transient)
      throw new UnrecoverableError(`${err.code}: ${err.message}`);
    throw err;
  }
  const t1 = performance.now();
  const base = {
    studyUid: data.studyUid,
    seriesUid: data.seriesUid,
    modelId: m.id,
    modelVersion: m.version,
    label: m.label,
  };
  const sel = selectSeries({ ...series.attributes, imageCount: series.slices.length }, m.seriesSelection);
  if (!sel.selected)
    return {
      ...base,
      selected: false,
      notSelectedReasons: sel.reasons,
      findings: [],
      alert: null,
      volume: null,
      timings: { fetchMs: t1 - t0 },
    };
  await job.updateProgress({ stage: 'volume', percent: 25 });
  let volume: ReturnType<typeof buildVolume>;
  try {
    volume = buildVolume(series.slices);
  } catch (err) {
    if (err instanceof VolumeError) throw new UnrecoverableError(`${err.code}: ${err.message}`);
    throw err;
  }
  await job.updateProgress({ stage: 'infer', percent: 35 });
  const r = await runModel(loaded, volume);
  await job.updateProgress({ stage: 'done', percent: 100 });
  return {
    ...base,
    selected: true,
    notSelectedReasons: [],
    findings: r.findings,
    alert: r.alert,
    volume: { dims: volume.dims, spacing: volume.spacing },
    timings: { fetchMs: t1 - t0, ...r.timings, totalMs: performance.now() - t0 },
  };
}
