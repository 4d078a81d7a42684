/**
 * One model on one volume: prepare (resample + intensities) → sliding-window inference →
 * activation → probabilities back on the series grid → findings → alert. This is the unit the
 * pipeline's inference stage calls; it holds no queue, storage or DICOM-writing concern.
 */
import type { ModelManifest } from '../../../contracts/model-manifest.js';
import { type AlertDecision, evaluateAlert } from './alert.js';
import type { LoadedModel } from './manifest.js';
import { onnxPredictor } from './onnx-predictor.js';
import { type Finding, findingsFromProbabilities } from './postprocess.js';
import { prepareInput } from './prepare.js';
import { resampleBack } from './resample.js';
import { type PatchPredictor, slidingWindowInference } from './sliding-window.js';
import type { Geometry, Volume } from './volume.js';

export interface ModelRunResult {
  modelId: string;
  modelVersion: string;
  findings: Finding[];
  alert: AlertDecision;
  /** Per voxel of the input volume: 1-based finding index, 0 = none (input of the SEG writer). */
  labelMap: Uint16Array;
  timings: {
    prepareMs: number;
    inferenceMs: number;
    networkMs: number;
    windows: number;
    postprocessMs: number;
  };
}

export function applyActivation(
  data: Float32Array,
  channels: number,
  activation: ModelManifest['output']['activation'],
): void {
  if (activation === 'sigmoid') {
    for (let q = 0; q < data.length; q++) data[q] = 1 / (1 + Math.exp(-data[q]!));
  } else if (activation === 'softmax') {
    const n = data.length / channels;
    for (let q = 0; q < n; q++) {
      let max = Number.NEGATIVE_INFINITY;
      for (let c = 0; c < channels; c++) max = Math.max(max, data[c * n + q]!);
      let s = 0;
      for (let c = 0; c < channels; c++) s += Math.exp(data[c * n + q]! - max);
      for (let c = 0; c < channels; c++) data[c * n + q] = Math.exp(data[c * n + q]! - max) / s;
    }
  }
}

/** The network's output on the model grid (`prepared`), activation applied. */
export interface ModelOutput {
  output: Float32Array;
  channels: number;
  /** The resampled, preprocessed input's geometry (its data is the network input). */
  prepared: Volume;
  prepareMs: number;
  inferenceMs: number;
  networkMs: number;
  windows: number;
}

/** Preprocess + sliding window + activation: the inference stage's half of a run. */
export async function inferOnVolume(
  manifest: ModelManifest,
  predict: PatchPredictor,
  volume: Volume,
): Promise<ModelOutput> {
  const t0 = performance.now();
  const prepared = prepareInput(volume, manifest.input);
  const t1 = performance.now();
  const { output, channels, stats } = await slidingWindowInference(
    prepared.data,
    prepared.dims,
    predict,
    manifest.inference,
  );
  if (channels !== manifest.output.channels.length)
    throw new Error(
      `the model produced ${channels} channels, its manifest lists ${manifest.output.channels.length}`,
    );
  applyActivation(output, channels, manifest.output.activation);
  return {
    output,
    channels,
    prepared,
    prepareMs: t1 - t0,
    inferenceMs: performance.now() - t1,
    networkMs: stats.predictMs,
    windows: stats.windows,
  };
}

/**
 * Probabilities on the model grid → back on the series grid → findings, label map and alert:
 * the post-processing stage's half of a run. `prepared` needs only its geometry.
 */
export function findingsOnVolume(
  manifest: ModelManifest,
  output: Float32Array,
  channels: number,
  prepared: Geometry,
  volume: Volume,
): { findings: Finding[]; alert: AlertDecision; labelMap: Uint16Array } {
  const back = resampleBack(output, prepared, volume, 'linear', channels);
  const n = volume.data.length;
  const findings: Finding[] = [];
  const labelMap = new Uint16Array(n);
  for (const ch of manifest.output.channels) {
    if (!ch.finding) continue;
    const r = findingsFromProbabilities(
      back.subarray(ch.index * n, (ch.index + 1) * n),
      volume,
      volume.data,
      ch,
      manifest.postprocessing,
    );
    const offset = findings.length;
    for (const f of r.findings) findings.push({ ...f, index: f.index + offset });
    for (let q = 0; q < n; q++) if (r.labelMap[q]! > 0) labelMap[q] = r.labelMap[q]! + offset;
  }
  return { findings, alert: evaluateAlert(findings, manifest.alert), labelMap };
}

/** Run with an explicit predictor (tests use this with fakes); `runModel` wires onnxruntime. */
export async function runWithPredictor(
  manifest: ModelManifest,
  predict: PatchPredictor,
  volume: Volume,
): Promise<ModelRunResult> {
  const o = await inferOnVolume(manifest, predict, volume);
  const t2 = performance.now();
  const r = findingsOnVolume(manifest, o.output, o.channels, o.prepared, volume);
  return {
    modelId: manifest.id,
    modelVersion: manifest.version,
    findings: r.findings,
    alert: r.alert,
    labelMap: r.labelMap,
    timings: {
      prepareMs: o.prepareMs,
      inferenceMs: o.inferenceMs,
      networkMs: o.networkMs,
      windows: o.windows,
      postprocessMs: performance.now() - t2,
    },
  };
}

export function runModel(model: LoadedModel, volume: Volume): Promise<ModelRunResult> {
  const m = model.manifest;
  return runWithPredictor(m, onnxPredictor(model.session, m.input.name, m.output.name), volume);
}
