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
import type { Volume } from './volume.js';

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

/** Run with an explicit predictor (tests use this with fakes); `runModel` wires onnxruntime. */
export async function runWithPredictor(
  manifest: ModelManifest,
  predict: PatchPredictor,
  volume: Volume,
): Promise<ModelRunResult> {
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
  const t2 = performance.now();
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
  const t3 = performance.now();
  return {
    modelId: manifest.id,
    modelVersion: manifest.version,
    findings,
    alert: evaluateAlert(findings, manifest.alert),
    labelMap,
    timings: {
      prepareMs: t1 - t0,
      inferenceMs: t2 - t1,
      networkMs: stats.predictMs,
      windows: stats.windows,
      postprocessMs: t3 - t2,
    },
  };
}

export function runModel(model: LoadedModel, volume: Volume): Promise<ModelRunResult> {
  const m = model.manifest;
  return runWithPredictor(m, onnxPredictor(model.session, m.input.name, m.output.name), volume);
}
