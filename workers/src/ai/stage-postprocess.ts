/**
 * Stage 4, post-process: the model's output back onto the series grid → threshold → 3-D
 * connected components → findings (position, diameters, volume, mean intensity, confidence) →
 * the manifest's alert rule. Leaves the label map (for the SEG) and the findings in the work
 * store.
 */
import type { ModelSource } from './model-source.js';
import { findingsOnVolume } from './run-model.js';
import { advance, previousState, type RunState, type StageJob, WORK } from './stage-common.js';
import type { VolumeMeta } from './stage-volume.js';
import type { Geometry } from './volume.js';
import { decodeFloats, encodeLabels } from './volume-codec.js';
import type { WorkStore } from './work-store.js';

export interface PostprocessDeps {
  work: WorkStore;
  models: ModelSource;
}

export async function postprocessStage(job: StageJob, deps: PostprocessDeps): Promise<RunState> {
  const started = Date.now();
  const prev = await previousState(job);
  if (!prev.selected) return advance(job, 'postprocess', prev, started);
  const d = job.data;
  const w = deps.work;
  const manifest = await deps.models.manifest(d.modelId, d.modelVersion, d.modelSha256);
  const meta = await w.getJson<VolumeMeta>(w.key(d.runId, d.attempt, WORK.volumeMeta));
  const out = await w.getJson<{ channels: number; prepared: Geometry }>(
    w.key(d.runId, d.attempt, WORK.outputMeta),
  );
  const [volumeBytes, outputBytes] = await Promise.all([
    w.getBytes(w.key(d.runId, d.attempt, WORK.volume)),
    w.getBytes(w.key(d.runId, d.attempt, WORK.output)),
  ]);
  const volume = { ...meta.geometry, data: decodeFloats(volumeBytes) };
  const r = findingsOnVolume(manifest, decodeFloats(outputBytes), out.channels, out.prepared, volume);
  await w.putBytes(w.key(d.runId, d.attempt, WORK.labels), encodeLabels(r.labelMap));
  await w.putJson(w.key(d.runId, d.attempt, WORK.findings), { findings: r.findings, alert: r.alert });
  await job.updateProgress({ stage: 'postprocess', percent: 80 });
  return advance(job, 'postprocess', prev, started, {
    findingCount: r.findings.length,
    flagged: r.alert.flagged,
    alertReason: r.alert.reason,
  });
}
