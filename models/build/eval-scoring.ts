/**
 * Scoring of detections against the synthetic ground truth (the benchmark's rules):
 *  - a detection is a true positive when its centroid (rounded to the nearest voxel) lies inside
 *    a lesion of the generator's label mask, and that lesion has no detection yet (detections are
 *    taken in decreasing confidence, so the most confident one claims the lesion);
 *  - any other detection (outside every lesion, or a second one in a claimed lesion) is a false
 *    positive;
 *  - sensitivity by size band with a 95 % Wilson score interval (Wilson 1927), which stays
 *    inside [0, 1] and behaves at proportions near 1 where the normal approximation does not.
 */
import type { GroundTruthLesion } from '../../scripts/demo/synth/study.js';
import type { Finding } from '../../workers/src/ai/postprocess.js';
import type { Dims } from '../../workers/src/ai/volume.js';

export interface StudyScore {
  lesions: Array<{ id: string; longestDiameterMm: number; detected: boolean }>;
  truePositives: number;
  falsePositives: number;
}

export function scoreStudy(
  findings: readonly Finding[],
  labels: Uint8Array,
  dims: Dims,
  lesions: readonly GroundTruthLesion[],
): StudyScore {
  const claimed = new Set<number>();
  let fp = 0;
  const ordered = [...findings].sort((a, b) => b.confidence - a.confidence);
  for (const f of ordered) {
    const [k, j, i] = f.centroidVoxel.map(Math.round) as [number, number, number];
    const inside = k >= 0 && k < dims[0] && j >= 0 && j < dims[1] && i >= 0 && i < dims[2];
    const label = inside ? labels[(k * dims[1] + j) * dims[2] + i]! : 0;
    if (label > 0 && !claimed.has(label)) claimed.add(label);
    else fp++;
  }
  return {
    lesions: lesions.map((l) => ({
      id: l.id,
      longestDiameterMm: l.longestDiameterMm,
      detected: claimed.has(l.label),
    })),
    truePositives: claimed.size,
    falsePositives: fp,
  };
}

/** 95 % Wilson score interval for x successes out of n. */
export function wilson(x: number, n: number, z = 1.959964): [number, number] {
  if (n === 0) return [0, 1];
  const p = x / n;
  const z2 = z * z;
  const centre = (p + z2 / (2 * n)) / (1 + z2 / n);
  const half = (z * Math.sqrt((p * (1 - p)) / n + z2 / (4 * n * n))) / (1 + z2 / n);
  return [Math.max(0, centre - half), Math.min(1, centre + half)];
}

export const SIZE_BANDS: Array<{ name: string; min: number; max: number }> = [
  { name: '<10 mm', min: 0, max: 10 },
  { name: '10-20 mm', min: 10, max: 20 },
  { name: '20-30 mm', min: 20, max: 30 },
  { name: '>=30 mm', min: 30, max: Number.POSITIVE_INFINITY },
];

export interface BandFigure {
  band: string;
  lesions: number;
  detected: number;
  sensitivity: number;
  ci95: [number, number];
}

export function bandFigure(name: string, ls: ReadonlyArray<{ detected: boolean }>): BandFigure {
  const detected = ls.filter((l) => l.detected).length;
  const r = (v: number) => Math.round(v * 10000) / 10000;
  return {
    band: name,
    lesions: ls.length,
    detected,
    sensitivity: ls.length ? r(detected / ls.length) : 0,
    ci95: wilson(detected, ls.length).map(r) as [number, number],
  };
}
