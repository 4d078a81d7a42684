/**
 * Runs a model over synthetic evaluation studies and aggregates the benchmark figures. Shared by
 * bench/ai-eval.ts (full splits, committed JSON) and tests/integration/ai-model-eval.test.ts (a
 * few studies in CI). Studies are drawn from model-configs.ts with the evaluation seed ranges,
 * which never overlap the training seeds.
 */
import { generateStudy } from '../../scripts/demo/synth/study.js';
import type { LoadedModel } from '../../workers/src/ai/manifest.js';
import { runModel } from '../../workers/src/ai/run-model.js';
import { type BandFigure, bandFigure, SIZE_BANDS, scoreStudy } from './eval-scoring.js';
import { MODEL_CONFIGS, type ModelKey, SEED_BASE, type Split } from './model-configs.js';
import { synthSeriesVolume } from './synth-volume.js';

export interface SplitResult {
  split: Split;
  seeds: [number, number];
  studies: number;
  lesions: number;
  bands: BandFigure[];
  atLeast10mm: BandFigure;
  falsePositives: number;
  falsePositivesPerStudy: number;
  /** False positives that would also satisfy the alert rule, per study. */
  alertingFalsePositivesPerStudy: number;
  /** Studies the alert rule flags (every evaluation study has at least one lesion). */
  studiesFlagged: number;
  /** Inference per study on one onnxruntime thread: network only, and the whole runModel. */
  timing: { networkMeanMs: number; runModelMeanMs: number; runModelP95Ms: number; voxelsMean: number };
  /** Per study, in seed order (the CI subset re-checks the first ones). */
  perStudy: Array<{
    seed: number;
    lesionsAtLeast10mm: number;
    detectedAtLeast10mm: number;
    falsePositives: number;
  }>;
}

export interface EvalOptions {
  /** Stop once this many lesions ≥ 10 mm were scored (and minStudies reached). */
  minLesionsAtLeast10mm: number;
  minStudies: number;
  maxStudies: number;
  onStudy?: (n: number, s: { tp: number; fp: number; lesions: number; ms: number }) => void;
}

export async function evaluateSplit(
  model: LoadedModel,
  key: ModelKey,
  split: Split,
  o: EvalOptions,
): Promise<SplitResult> {
  const cfg = MODEL_CONFIGS[key];
  const all: Array<{ longestDiameterMm: number; detected: boolean }> = [];
  let fp = 0;
  let alertFp = 0;
  let flagged = 0;
  const network: number[] = [];
  const total: number[] = [];
  let voxels = 0;
  let n = 0;
  const perStudy: SplitResult['perStudy'] = [];
  const big = () => all.filter((l) => l.longestDiameterMm >= 10).length;
  while (n < o.maxStudies && (n < o.minStudies || big() < o.minLesionsAtLeast10mm)) {
    const draw = cfg.draw(split, n);
    const study = generateStudy(draw.options);
    const { volume, labels } = synthSeriesVolume(study, draw.seriesKind);
    const t = performance.now();
    const r = await runModel(model, volume);
    const ms = performance.now() - t;
    const s = scoreStudy(r.findings, labels, volume.dims, study.groundTruth.lesions);
    all.push(...s.lesions);
    fp += s.falsePositives;
    // Alerting FPs: findings that fire the alert rule with a centroid outside every lesion.
    const alerting = r.findings.filter((f) => r.alert.matching.includes(f.index));
    alertFp += scoreStudy(alerting, labels, volume.dims, study.groundTruth.lesions).falsePositives;
    if (r.alert.flagged) flagged++;
    const large = s.lesions.filter((l) => l.longestDiameterMm >= 10);
    perStudy.push({
      seed: draw.options.seed,
      lesionsAtLeast10mm: large.length,
      detectedAtLeast10mm: large.filter((l) => l.detected).length,
      falsePositives: s.falsePositives,
    });
    network.push(r.timings.networkMs);
    total.push(ms);
    voxels += volume.data.length;
    o.onStudy?.(n, { tp: s.truePositives, fp: s.falsePositives, lesions: s.lesions.length, ms });
    n++;
  }
  const sorted = [...total].sort((a, b) => a - b);
  const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : 0);
  const base = SEED_BASE[split];
  return {
    split,
    seeds: [base, base + n - 1],
    studies: n,
    lesions: all.length,
    bands: SIZE_BANDS.map((b) =>
      bandFigure(
        b.name,
        all.filter((l) => l.longestDiameterMm >= b.min && l.longestDiameterMm < b.max),
      ),
    ),
    atLeast10mm: bandFigure(
      '>=10 mm',
      all.filter((l) => l.longestDiameterMm >= 10),
    ),
    falsePositives: fp,
    falsePositivesPerStudy: Math.round((fp / Math.max(1, n)) * 1000) / 1000,
    alertingFalsePositivesPerStudy: Math.round((alertFp / Math.max(1, n)) * 1000) / 1000,
    studiesFlagged: flagged,
    timing: {
      networkMeanMs: Math.round(mean(network)),
      runModelMeanMs: Math.round(mean(total)),
      runModelP95Ms: Math.round(sorted[Math.min(sorted.length - 1, Math.floor(0.95 * sorted.length))] ?? 0),
      voxelsMean: Math.round(voxels / Math.max(1, n)),
    },
    perStudy,
  };
}
