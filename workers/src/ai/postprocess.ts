/**
 * Probabilities → findings, on the grid of the original series (so sizes and positions are
 * those a radiologist measures on the images): threshold → 3-D connected components
 * (components.ts; 26-connected by default) → per component: voxel count, volume, centroid (voxel
 * and patient LPS mm), longest diameter in 3-D and in the acquisition plane (the axial plane
 * for axial series; the largest over slices, as RECIST measures), mean intensity of the original
 * image (HU for CT), confidence (max or mean probability) → minimum-size filter.
 */
import type { ModelManifest } from '../../../contracts/model-manifest.js';
import { labelComponents } from './components.js';
import { feret2d, feret3d } from './measure.js';
import { type Geometry, type Vec3, voxelToPatient, voxelVolumeMm3 } from './volume.js';

export interface Finding {
  /** 1-based, in the order of the returned list (largest volume first). */
  index: number;
  channel: number;
  label: string;
  voxelCount: number;
  volumeMm3: number;
  /** Fractional voxel index (k, j, i) of the centroid in the volume's grid. */
  centroidVoxel: Vec3;
  /** Centroid in patient coordinates (LPS mm). */
  centroidMm: Vec3;
  longestDiameterMm: number;
  /** Largest in-plane diameter over the component's slices, and that slice (k). */
  axialLongestDiameterMm: number;
  axialSliceIndex: number;
  /** Mean of the original image over the component (HU for CT, signal units for MR). */
  meanIntensity: number;
  /** Per the manifest: max or mean probability over the component. */
  confidence: number;
  maxProbability: number;
  meanProbability: number;
  /** Inclusive voxel bounding box [k, j, i]. */
  bboxMin: Vec3;
  bboxMax: Vec3;
}

export interface PostprocessResult {
  findings: Finding[];
  /** Per voxel: the 1-based finding index (0 = none); kept components only. For SEG writing. */
  labelMap: Uint16Array;
}

/** `probabilities`: one channel's map on `grid`; `image`: the original intensities on the same grid. */
export function findingsFromProbabilities(
  probabilities: Float32Array,
  grid: Geometry,
  image: Float32Array,
  channel: { index: number; label: string },
  p: ModelManifest['postprocessing'],
): PostprocessResult {
  const [D, H, W] = grid.dims;
  const mask = new Uint8Array(D * H * W);
  for (let q = 0; q < mask.length; q++) mask[q] = probabilities[q]! >= p.threshold ? 1 : 0;
  const { labels, count } = labelComponents(mask, grid.dims, p.connectivity);
  const vv = voxelVolumeMm3(grid);

  // One pass for the moments.
  const n = new Float64Array(count + 1);
  const sk = new Float64Array(count + 1);
  const sj = new Float64Array(count + 1);
  const si = new Float64Array(count + 1);
  const sp = new Float64Array(count + 1);
  const mp = new Float64Array(count + 1);
  const sv = new Float64Array(count + 1);
  const bmin = new Int32Array((count + 1) * 3).fill(2 ** 30);
  const bmax = new Int32Array((count + 1) * 3).fill(-1);
  for (let k = 0, q = 0; k < D; k++)
    for (let j = 0; j < H; j++)
      for (let i = 0; i < W; i++, q++) {
        const c = labels[q]!;
        if (c === 0) continue;
        n[c]!++;
        sk[c]! += k;
        sj[c]! += j;
        si[c]! += i;
        const pr = probabilities[q]!;
        sp[c]! += pr;
        if (pr > mp[c]!) mp[c] = pr;
        sv[c]! += image[q]!;
        const b = c * 3;
        if (k < bmin[b]!) bmin[b] = k;
        if (j < bmin[b + 1]!) bmin[b + 1] = j;
        if (i < bmin[b + 2]!) bmin[b + 2] = i;
        if (k > bmax[b]!) bmax[b] = k;
        if (j > bmax[b + 1]!) bmax[b + 1] = j;
        if (i > bmax[b + 2]!) bmax[b + 2] = i;
      }

  const kept: Array<Omit<Finding, 'index'> & { component: number }> = [];
  for (let c = 1; c <= count; c++) {
    const volumeMm3 = n[c]! * vv;
    if (n[c]! < p.minVoxels || volumeMm3 < p.minVolumeMm3) continue;
    const b = c * 3;
    // Row extremes: for every (slice, row) the first and last voxel of the component. The convex
    // hull of a voxel set — which alone decides its Feret diameter — has its vertices among them,
    // so measuring these ≤ 2 points per row is exact and keeps large components cheap.
    const extremes: number[] = [];
    const perSlice = new Map<number, number[]>();
    for (let k = bmin[b]!; k <= bmax[b]!; k++)
      for (let j = bmin[b + 1]!; j <= bmax[b + 1]!; j++) {
        const row = (k * H + j) * W;
        let first = -1;
        let last = -1;
        for (let i = bmin[b + 2]!; i <= bmax[b + 2]!; i++)
          if (labels[row + i] === c) {
            if (first < 0) first = i;
            last = i;
          }
        if (first < 0) continue;
        let s = perSlice.get(k);
        if (!s) {
          s = [];
          perSlice.set(k, s);
        }
        for (const i of first === last ? [first] : [first, last]) {
          extremes.push(k * grid.spacing[0], j * grid.spacing[1], i * grid.spacing[2]);
          s.push(j * grid.spacing[1], i * grid.spacing[2]);
        }
      }
    let axial = 0;
    let axialK = bmin[b]!;
    for (const [k, pts] of perSlice) {
      const d = feret2d(Float64Array.from(pts), grid.spacing[1], grid.spacing[2]);
      if (d > axial) {
        axial = d;
        axialK = k;
      }
    }
    const centroidVoxel: Vec3 = [sk[c]! / n[c]!, sj[c]! / n[c]!, si[c]! / n[c]!];
    const meanProbability = sp[c]! / n[c]!;
    kept.push({
      component: c,
      channel: channel.index,
      label: channel.label,
      voxelCount: n[c]!,
      volumeMm3,
      centroidVoxel,
      centroidMm: voxelToPatient(grid, ...centroidVoxel),
      longestDiameterMm: feret3d(Float64Array.from(extremes), grid.spacing),
      axialLongestDiameterMm: axial,
      axialSliceIndex: axialK,
      meanIntensity: sv[c]! / n[c]!,
      confidence: p.confidence === 'max' ? mp[c]! : meanProbability,
      maxProbability: mp[c]!,
      meanProbability,
      bboxMin: [bmin[b]!, bmin[b + 1]!, bmin[b + 2]!],
      bboxMax: [bmax[b]!, bmax[b + 1]!, bmax[b + 2]!],
    });
  }
  kept.sort((a, b) => b.volumeMm3 - a.volumeMm3);
  const remap = new Uint16Array(count + 1);
  kept.forEach((f, x) => {
    remap[f.component] = x + 1;
  });
  const labelMap = new Uint16Array(D * H * W);
  for (let q = 0; q < labels.length; q++) labelMap[q] = remap[labels[q]!]!;
  return {
    findings: kept.map(({ component: _c, ...f }, x) => ({ index: x + 1, ...f })),
    labelMap,
  };
}
