/**
 * Post-processing against the synthetic ground truth: the generator's exact lesion mask as the
 * "probabilities" must come back as one finding per lesion with the generator's centre, volume,
 * diameters and mean HU; connected components (6 vs 26); Feret measurement; the alert rule.
 */
import { describe, expect, it } from 'vitest';
import type { AlertRule, ModelManifest } from '../../contracts/model-manifest.js';
import { synthSeriesVolume } from '../../models/build/synth-volume.js';
import { findPatient } from '../../scripts/demo/patients.js';
import { generateStudy } from '../../scripts/demo/synth/study.js';
import { evaluateAlert } from '../../workers/src/ai/alert.js';
import { labelComponents } from '../../workers/src/ai/components.js';
import { feret2d, feret3d } from '../../workers/src/ai/measure.js';
import { type Finding, findingsFromProbabilities } from '../../workers/src/ai/postprocess.js';
import { voxelVolumeMm3 } from '../../workers/src/ai/volume.js';

const PP: ModelManifest['postprocessing'] = {
  threshold: 0.5,
  connectivity: 26,
  minVolumeMm3: 0,
  minVoxels: 1,
  confidence: 'max',
};

describe('connected components', () => {
  const dims: [number, number, number] = [3, 3, 3];
  const diagonal = new Uint8Array(27);
  diagonal[0] = 1; // (0,0,0)
  diagonal[13] = 1; // (1,1,1): a corner neighbour
  diagonal[14] = 1; // (1,1,2): a face neighbour of (1,1,1)
  it('26-connectivity joins corner neighbours, 6-connectivity does not', () => {
    expect(labelComponents(diagonal, dims, 26).count).toBe(1);
    const six = labelComponents(diagonal, dims, 6);
    expect(six.count).toBe(2);
    expect(six.labels[13]).toBe(six.labels[14]);
    expect(six.labels[0]).not.toBe(six.labels[13]);
  });
});

describe('Feret diameter of voxel boxes', () => {
  it('a single voxel measures its box; a row of n voxels measures n voxels plus the diagonal', () => {
    expect(feret2d(Float64Array.from([0, 0]), 1, 1)).toBeCloseTo(Math.SQRT2, 3);
    expect(feret3d(Float64Array.from([0, 0, 0, 0, 0, 9]), [1, 1, 1])).toBeCloseTo(Math.hypot(10, 1, 1), 2);
  });
});

describe('findings from the synthetic ground-truth mask', () => {
  const study = generateStudy({
    seed: 5150,
    patient: findPatient('khai'),
    modality: 'CT',
    rows: 192,
    slices: 90,
    lesions: [
      { diameterMm: 30, contrast: -60 },
      { diameterMm: 18, contrast: 50 },
      { diameterMm: 12, contrast: -45 },
    ],
    withMask: true,
  });
  const { volume, labels } = synthSeriesVolume(study, 'ct-portal-venous');
  const probs = Float32Array.from(labels, (l) => (l > 0 ? 0.9 : 0.02));
  const { findings, labelMap } = findingsFromProbabilities(
    probs,
    volume,
    volume.data,
    { index: 0, label: 'Lesion' },
    PP,
  );
  const ps = volume.spacing[1];

  it('one finding per lesion, largest first, matching position, size and intensity', () => {
    expect(findings).toHaveLength(3);
    expect(findings.map((f) => f.index)).toEqual([1, 2, 3]);
    const gt = [...study.groundTruth.lesions].sort((a, b) => b.maskVoxelCount - a.maskVoxelCount);
    findings.forEach((f, n) => {
      const l = gt[n]!;
      expect(f.voxelCount).toBe(l.maskVoxelCount);
      expect(f.volumeMm3).toBeCloseTo(l.maskVolumeMm3, 0);
      expect(Math.abs(f.volumeMm3 - l.volumeMm3) / l.volumeMm3).toBeLessThan(0.15);
      expect(Math.hypot(...f.centroidMm.map((c, a) => c - l.centreMm[a]!))).toBeLessThan(1.5);
      expect(Math.abs(f.axialLongestDiameterMm - l.axialLongestDiameterMm)).toBeLessThan(1.5 * ps);
      expect(Math.abs(f.longestDiameterMm - l.longestDiameterMm)).toBeLessThan(volume.spacing[0] + ps);
      expect(f.meanIntensity).toBeCloseTo(l.intensity[0]!.measuredMean, 0);
      expect(f.confidence).toBeCloseTo(0.9, 6);
      expect(f.meanProbability).toBeCloseTo(0.9, 6);
    });
    let marked = 0;
    for (const v of labelMap) if (v > 0) marked++;
    expect(marked).toBe(study.groundTruth.lesions.reduce((a, l) => a + l.maskVoxelCount, 0));
  });

  it('the minimum-size filter drops small components; threshold above the probability drops all', () => {
    const small = study.groundTruth.lesions.find((l) => l.longestDiameterMm < 15)!;
    const r = findingsFromProbabilities(
      probs,
      volume,
      volume.data,
      { index: 0, label: 'Lesion' },
      {
        ...PP,
        minVolumeMm3: small.maskVolumeMm3 + voxelVolumeMm3(volume),
      },
    );
    expect(r.findings).toHaveLength(2);
    expect(
      findingsFromProbabilities(
        probs,
        volume,
        volume.data,
        { index: 0, label: 'L' },
        { ...PP, threshold: 0.95 },
      ).findings,
    ).toHaveLength(0);
  });
});

describe('alert rule', () => {
  const f = (index: number, axial: number, d3: number, confidence: number, label = 'Lesion'): Finding =>
    ({ index, label, axialLongestDiameterMm: axial, longestDiameterMm: d3, confidence }) as Finding;
  const rule: AlertRule = {
    description: 'lesion ≥ 10 mm',
    minLongestDiameterMm: 10,
    diameter: 'axial',
    minConfidence: 0.5,
    minCount: 1,
  };
  it.each<[string, Finding[], AlertRule, boolean, number[]]>([
    ['no findings', [], rule, false, []],
    ['large and confident', [f(1, 12, 13, 0.9)], rule, true, [1]],
    ['large but unsure', [f(1, 12, 13, 0.4)], rule, false, []],
    ['small', [f(1, 9.9, 12, 0.9)], rule, false, []],
    ['3-D diameter rule', [f(1, 9.9, 12, 0.9)], { ...rule, diameter: '3d' }, true, [1]],
    ['needs two', [f(1, 12, 13, 0.9), f(2, 5, 5, 0.9)], { ...rule, minCount: 2 }, false, [1]],
    ['other channel ignored', [f(1, 20, 20, 0.9, 'Cyst')], { ...rule, labels: ['Lesion'] }, false, []],
  ])('%s', (_n, findings, r, flagged, matching) => {
    const d = evaluateAlert(findings, r);
    expect(d.flagged).toBe(flagged);
    expect(d.matching).toEqual(matching);
    expect(d.reason).toContain(r.description);
  });
});
