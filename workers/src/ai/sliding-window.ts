/**
 * Sliding-window inference with the semantics of MONAI's `sliding_window_inference`
 * (monai/inferers/utils.py, monai/data/utils.py), which nnU-Net's predictor shares in spirit:
 *
 *  - a volume smaller than the patch along an axis is padded symmetrically (floor half before,
 *    the rest after) with `padValue`, and the padding is cropped off the result;
 *  - the step along an axis is ⌊patch · (1 − overlap)⌋ (at least 1), or the whole patch when
 *    the padded size equals the patch; the window count is the first n with
 *    (n − 1) · step + patch ≥ size, and the last window is shifted back to end at the border
 *    (`dense_patch_slices`);
 *  - each window's prediction is weighted by an importance map — constant, or a separable
 *    Gaussian centred at (p − 1)/2 with σ = sigmaScale · p per axis (MONAI's 0.125, i.e. 1/8 of
 *    the patch, as in nnU-Net), clamped below at max(min, 1e-3) so corners still count
 *    (`compute_importance_map`) — accumulated, and divided by the accumulated weights.
 *
 * models/build/reference_sliding_window.py re-implements the same scheme in PyTorch; the
 * any-ONNX test checks both agree to 1e-4.
 */
import type { Dims } from './volume.js';

export interface SlidingWindowOptions {
  patchSize: Dims;
  overlap: number;
  blending: 'gaussian' | 'constant';
  sigmaScale: number;
  batchSize: number;
  padValue: number;
}

/**
 * Runs the network on `count` patches stored one after another (NCDHW, C = 1) and returns
 * count × outChannels × patch voxels, in the same order.
 */
export type PatchPredictor = (batch: Float32Array, count: number, patch: Dims) => Promise<Float32Array>;

/** The importance map (patch voxels, C-order D, H, W). */
export function importanceMap(
  patch: Dims,
  blending: 'gaussian' | 'constant',
  sigmaScale: number,
): Float32Array {
  const n = patch[0] * patch[1] * patch[2];
  const out = new Float32Array(n);
  if (blending === 'constant') return out.fill(1);
  const axes = patch.map((p) => {
    const sigma = p * sigmaScale;
    const g = new Float32Array(p);
    for (let t = 0; t < p; t++) {
      const x = -(p - 1) / 2 + t;
      g[t] = Math.exp((x * x) / (-2 * sigma * sigma));
    }
    return g;
  }) as [Float32Array, Float32Array, Float32Array];
  let min = Number.POSITIVE_INFINITY;
  let q = 0;
  for (let z = 0; z < patch[0]; z++)
    for (let y = 0; y < patch[1]; y++) {
      // Float32 products, in the order MONAI's outer products compute them.
      const zy = Math.fround(axes[0][z]! * axes[1][y]!);
      for (let x = 0; x < patch[2]; x++) {
        const v = Math.fround(zy * axes[2][x]!);
        out[q++] = v;
        if (v < min) min = v;
      }
    }
  const floor = Math.max(min, 1e-3);
  for (let r = 0; r < n; r++) if (out[r]! < floor) out[r] = floor;
  return out;
}

/** Window start indices along one axis (MONAI `_get_scan_interval` + `dense_patch_slices`). */
export function windowStarts(size: number, patch: number, overlap: number): number[] {
  const step = patch === size ? patch : Math.max(1, Math.floor(patch * (1 - overlap)));
  const starts: number[] = [];
  for (let n = 0; ; n++) {
    const s = n * step;
    starts.push(Math.max(0, s - Math.max(s + patch - size, 0)));
    if (s + patch >= size) break;
  }
  return starts;
}

/** Symmetric padding per axis so every axis is at least the patch size: [before, after]. */
export function padding(dims: Dims, patch: Dims): Array<[number, number]> {
  return dims.map((n, a) => {
    const diff = Math.max(patch[a]! - n, 0);
    const half = Math.floor(diff / 2);
    return [half, diff - half] as [number, number];
  });
}

export interface SlidingWindowStats {
  windows: number;
  batches: number;
  predictMs: number;
}

/**
 * Predict a whole volume (`input`, sizes `dims`, one channel) patch by patch.
 * Returns outChannels × D × H × W, and the channel count the network produced.
 */
export async function slidingWindowInference(
  input: Float32Array,
  dims: Dims,
  predict: PatchPredictor,
  o: SlidingWindowOptions,
): Promise<{ output: Float32Array; channels: number; stats: SlidingWindowStats }> {
  const patch = o.patchSize;
  const pads = padding(dims, patch);
  const pd: Dims = [
    dims[0] + pads[0]![0] + pads[0]![1],
    dims[1] + pads[1]![0] + pads[1]![1],
    dims[2] + pads[2]![0] + pads[2]![1],
  ];
  const [PD, PH, PW] = pd;
  const padded = pads.every(([a, b]) => a === 0 && b === 0)
    ? input
    : new Float32Array(PD * PH * PW).fill(o.padValue);
  if (padded !== input) {
    for (let z = 0; z < dims[0]; z++)
      for (let y = 0; y < dims[1]; y++) {
        const src = (z * dims[1] + y) * dims[2];
        const dst = ((z + pads[0]![0]) * PH + y + pads[1]![0]) * PW + pads[2]![0];
        padded.set(input.subarray(src, src + dims[2]), dst);
      }
  }
  const starts = pd.map((n, a) => windowStarts(n, patch[a]!, o.overlap)) as [number[], number[], number[]];
  const windows: Array<[number, number, number]> = [];
  for (const z of starts[0]) for (const y of starts[1]) for (const x of starts[2]) windows.push([z, y, x]);

  const pv = patch[0] * patch[1] * patch[2];
  const weights = importanceMap(patch, o.blending, o.sigmaScale);
  const count = new Float32Array(PD * PH * PW);
  let acc: Float32Array | null = null;
  let channels = 0;
  const stats: SlidingWindowStats = { windows: windows.length, batches: 0, predictMs: 0 };
  const batch = new Float32Array(Math.min(o.batchSize, windows.length) * pv);

  for (let b0 = 0; b0 < windows.length; b0 += o.batchSize) {
    const group = windows.slice(b0, b0 + o.batchSize);
    group.forEach(([z0, y0, x0], n) => {
      for (let z = 0; z < patch[0]; z++)
        for (let y = 0; y < patch[1]; y++) {
          const src = ((z0 + z) * PH + y0 + y) * PW + x0;
          batch.set(padded.subarray(src, src + patch[2]), n * pv + (z * patch[1] + y) * patch[2]);
        }
    });
    const t = performance.now();
    const out = await predict(
      group.length === o.batchSize ? batch : batch.subarray(0, group.length * pv),
      group.length,
      patch,
    );
    stats.predictMs += performance.now() - t;
    stats.batches++;
    if (acc === null) {
      channels = out.length / (group.length * pv);
      if (!Number.isInteger(channels) || channels < 1)
        throw new Error(
          `the network returned ${out.length} values for ${group.length} patches of ${pv} voxels`,
        );
      acc = new Float32Array(channels * PD * PH * PW);
    } else if (out.length !== group.length * channels * pv) {
      throw new Error('the network changed its output size between batches');
    }
    group.forEach(([z0, y0, x0], n) => {
      for (let c = 0; c < channels; c++) {
        const cBase = c * PD * PH * PW;
        const oBase = (n * channels + c) * pv;
        let q = 0;
        for (let z = 0; z < patch[0]; z++)
          for (let y = 0; y < patch[1]; y++) {
            const dst = cBase + ((z0 + z) * PH + y0 + y) * PW + x0;
            for (let x = 0; x < patch[2]; x++, q++) acc![dst + x]! += out[oBase + q]! * weights[q]!;
          }
      }
      let q = 0;
      for (let z = 0; z < patch[0]; z++)
        for (let y = 0; y < patch[1]; y++) {
          const dst = ((z0 + z) * PH + y0 + y) * PW + x0;
          for (let x = 0; x < patch[2]; x++, q++) count[dst + x]! += weights[q]!;
        }
    });
  }
  if (acc === null) throw new Error('no window was predicted');
  // Normalise and crop the padding off.
  const [D, H, W] = dims;
  const output = new Float32Array(channels * D * H * W);
  for (let c = 0; c < channels; c++)
    for (let z = 0; z < D; z++)
      for (let y = 0; y < H; y++) {
        const src = ((z + pads[0]![0]) * PH + y + pads[1]![0]) * PW + pads[2]![0];
        const dst = ((c * D + z) * H + y) * W;
        for (let x = 0; x < W; x++) output[dst + x] = acc[c * PD * PH * PW + src + x]! / count[src + x]!;
      }
  return { output, channels, stats };
}
