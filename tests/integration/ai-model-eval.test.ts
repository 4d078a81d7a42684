/**
 * CI's share of the AI benchmark (it never retrains): the committed default models load through
 * the workers' validator (schema, SHA-256 of model.onnx against the manifest, ONNX signature,
 * dry run), and the first studies of each committed evaluation split give the same detections
 * and false positives as recorded in bench/results/ai-eval-<model>.json (±1 per split for
 * floating-point differences between CPUs), and a subset sensitivity and FP rate consistent with
 * the committed full-split figures. Runs in about a minute on two cores.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { evaluateSplit, type SplitResult } from '../../models/build/eval-run.js';
import { MODEL_CONFIGS, type ModelKey } from '../../models/build/model-configs.js';
import { loadModel, sha256File } from '../../workers/src/ai/manifest.js';
import { SessionCache } from '../../workers/src/ai/session-cache.js';

const REPO = join(import.meta.dirname, '..', '..');
const STUDIES = 3;
const sessions = new SessionCache();
afterAll(() => sessions.close());

interface Committed {
  model: string;
  sha256: string;
  targets: { met: boolean };
  splits: SplitResult[];
}

/** P(X ≤ x) for X ~ Binomial(n, p). */
function binomCdf(x: number, n: number, p: number): number {
  let sum = 0;
  let term = (1 - p) ** n;
  for (let k = 0; k <= x; k++) {
    sum += term;
    term *= ((n - k) / (k + 1)) * (p / (1 - p));
  }
  return sum;
}

describe.each(Object.keys(MODEL_CONFIGS) as ModelKey[])('%s', (key) => {
  const cfg = MODEL_CONFIGS[key];
  const dir = join(REPO, 'models', key, cfg.version);
  const committed = JSON.parse(
    readFileSync(join(REPO, 'bench/results', `ai-eval-${key}.json`), 'utf8'),
  ) as Committed;

  it('the committed model.onnx is the one the manifest and the benchmark name', async () => {
    const model = await loadModel(dir, sessions);
    expect(sha256File(join(dir, 'model.onnx'))).toBe(model.manifest.sha256);
    expect(committed.sha256).toBe(model.manifest.sha256);
    expect(model.manifest.evaluation.map((e) => e.split)).toEqual(committed.splits.map((s) => s.split));
    for (const e of model.manifest.evaluation) {
      const s = committed.splits.find((x) => x.split === e.split)!;
      expect(e.sensitivityCi95).toEqual(s.atLeast10mm.ci95);
      expect(e.falsePositivesPerStudy).toBe(s.falsePositivesPerStudy);
    }
  });

  it.each(['eval-in-distribution', 'eval-out-of-distribution'] as const)(
    'the first studies of %s reproduce the committed figures',
    async (split) => {
      const model = await loadModel(dir, sessions);
      const full = committed.splits.find((s) => s.split === split)!;
      const r = await evaluateSplit(model, key, split, {
        minLesionsAtLeast10mm: 0,
        minStudies: STUDIES,
        maxStudies: STUDIES,
      });
      const want = full.perStudy.slice(0, STUDIES);
      expect(r.perStudy.map((p) => p.seed)).toEqual(want.map((p) => p.seed));
      const sum = (
        xs: Array<{ detectedAtLeast10mm: number; falsePositives: number }>,
        k: 'detectedAtLeast10mm' | 'falsePositives',
      ) => xs.reduce((a, p) => a + p[k], 0);
      expect(
        Math.abs(sum(r.perStudy, 'detectedAtLeast10mm') - sum(want, 'detectedAtLeast10mm')),
      ).toBeLessThanOrEqual(1);
      expect(Math.abs(sum(r.perStudy, 'falsePositives') - sum(want, 'falsePositives'))).toBeLessThanOrEqual(
        1,
      );
      // Consistent with the committed split: the subset is not implausibly worse (p < 0.001).
      const n = r.atLeast10mm.lesions;
      expect(binomCdf(r.atLeast10mm.detected, n, full.atLeast10mm.ci95[0])).toBeGreaterThan(0.001);
      expect(r.falsePositivesPerStudy).toBeLessThanOrEqual(full.falsePositivesPerStudy + 2);
    },
  );
});
