/**
 * Sliding-window engine: MONAI-compatible window placement and Gaussian importance map, and
 * real ONNX models (identity, 3×3×3 box filter — written by models/build/onnx-proto.ts) run
 * through onnxruntime-node patch by patch.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InferenceSession } from 'onnxruntime-node';
import { afterAll, describe, expect, it } from 'vitest';
import { boxFilterModel, identityModel } from '../../models/build/onnx-proto.js';
import { onnxPredictor } from '../../workers/src/ai/onnx-predictor.js';
import { SESSION_OPTIONS } from '../../workers/src/ai/session-cache.js';
import {
  importanceMap,
  type PatchPredictor,
  padding,
  type SlidingWindowOptions,
  slidingWindowInference,
  windowStarts,
} from '../../workers/src/ai/sliding-window.js';
import type { Dims } from '../../workers/src/ai/volume.js';

const tmp = mkdtempSync(join(tmpdir(), 'radlink-ai-sw-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

async function session(bytes: Uint8Array, name: string): Promise<InferenceSession> {
  const p = join(tmp, name);
  writeFileSync(p, bytes);
  return InferenceSession.create(p, SESSION_OPTIONS);
}

function noise(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed;
  for (let q = 0; q < n; q++) {
    s = (Math.imul(s, 1664525) + 1013904223) | 0;
    out[q] = ((s >>> 8) / 2 ** 24) * 2 - 1;
  }
  return out;
}

const OPTS: SlidingWindowOptions = {
  patchSize: [8, 16, 16],
  overlap: 0.5,
  blending: 'gaussian',
  sigmaScale: 0.125,
  batchSize: 2,
  padValue: 0,
};

describe('window placement (MONAI dense_patch_slices)', () => {
  it.each<[number, number, number, number[]]>([
    [100, 64, 0.25, [0, 36]],
    [127, 128, 0.25, [0]],
    [128, 128, 0.25, [0]],
    [96, 32, 0.5, [0, 16, 32, 48, 64]],
    [100, 32, 0.5, [0, 16, 32, 48, 64, 68]],
    [40, 16, 0, [0, 16, 24]],
    [10, 3, 0.9, [0, 1, 2, 3, 4, 5, 6, 7]],
  ])('size %i, patch %i, overlap %f', (size, patch, overlap, expected) => {
    expect(windowStarts(Math.max(size, patch), patch, overlap)).toEqual(expected);
  });

  it('pads symmetrically with the extra voxel after', () => {
    expect(padding([5, 16, 20], [8, 16, 16])).toEqual([
      [1, 2],
      [0, 0],
      [0, 0],
    ]);
  });
});

describe('Gaussian importance map', () => {
  it('is separable, centred at (p−1)/2 with σ = p/8, clamped at 1e-3', () => {
    const p: Dims = [8, 16, 32];
    const m = importanceMap(p, 'gaussian', 0.125);
    const at = (z: number, y: number, x: number) => m[(z * 16 + y) * 32 + x]!;
    const g = (t: number, n: number) => Math.exp(-((t - (n - 1) / 2) ** 2) / (2 * (n / 8) ** 2));
    expect(at(3, 7, 15)).toBeCloseTo(g(3, 8) * g(7, 16) * g(15, 32), 6);
    expect(at(4, 8, 16)).toBeCloseTo(at(3, 7, 15), 6); // symmetric about the centre
    expect(at(0, 0, 0)).toBe(Math.fround(1e-3)); // corner below 1e-3 → clamped
    expect(Math.min(...m)).toBeCloseTo(1e-3, 9);
    expect(Math.max(...m)).toBeLessThanOrEqual(1);
    expect(importanceMap([2, 2, 2], 'constant', 0.125)).toEqual(new Float32Array(8).fill(1));
  });
});

describe('sliding window through onnxruntime', () => {
  it('identity model: the output is the input (weights normalise), also when the volume is padded', async () => {
    const s = await session(identityModel(), 'id.onnx');
    for (const dims of [
      [20, 40, 37],
      [5, 12, 30],
    ] as Dims[]) {
      const x = noise(dims[0] * dims[1] * dims[2], 7);
      const { output, channels, stats } = await slidingWindowInference(
        x,
        dims,
        onnxPredictor(s, 'image', 'logits'),
        OPTS,
      );
      expect(channels).toBe(1);
      expect(stats.windows).toBeGreaterThan(1);
      let err = 0;
      for (let q = 0; q < x.length; q++) err = Math.max(err, Math.abs(output[q]! - x[q]!));
      expect(err).toBeLessThan(1e-6);
    }
  });

  it('box filter: equals the whole-volume filter away from window seams, and close everywhere', async () => {
    const s = await session(boxFilterModel(), 'box.onnx');
    const dims: Dims = [24, 40, 40];
    const [D, H, W] = dims;
    const x = noise(D * H * W, 3);
    const { output } = await slidingWindowInference(x, dims, onnxPredictor(s, 'image', 'logits'), OPTS);
    // Whole volume at once, zero padding at the volume border (what the Conv does).
    const whole = new Float32Array(x.length);
    for (let k = 0; k < D; k++)
      for (let j = 0; j < H; j++)
        for (let i = 0; i < W; i++) {
          let acc = 0;
          for (let a = -1; a <= 1; a++)
            for (let b = -1; b <= 1; b++)
              for (let c = -1; c <= 1; c++) {
                const kk = k + a;
                const jj = j + b;
                const ii = i + c;
                if (kk >= 0 && kk < D && jj >= 0 && jj < H && ii >= 0 && ii < W)
                  acc += x[(kk * H + jj) * W + ii]!;
              }
          whole[(k * H + j) * W + i] = acc / 27;
        }
    // A voxel within the filter radius of a window's inner edge sees that window's zero padding.
    const seam = (n: number, patch: number) => {
      const bad = new Uint8Array(n);
      for (const s0 of windowStarts(n, patch, OPTS.overlap)) {
        if (s0 > 0) bad[s0] = 1;
        if (s0 + patch < n) bad[s0 + patch - 1] = 1;
      }
      return bad;
    };
    const sz = seam(D, 8);
    const sy = seam(H, 16);
    const sx = seam(W, 16);
    let clean = 0;
    let cleanErr = 0;
    let anyErr = 0;
    for (let k = 0; k < D; k++)
      for (let j = 0; j < H; j++)
        for (let i = 0; i < W; i++) {
          const q = (k * H + j) * W + i;
          const e = Math.abs(output[q]! - whole[q]!);
          // Near the volume border every window's weight is clamped at 1e-3 (MONAI), so a seam
          // window weighs as much as a clean one there: only the interior is "close".
          const interior = k >= 2 && k < D - 2 && j >= 4 && j < H - 4 && i >= 4 && i < W - 4;
          if (interior) anyErr = Math.max(anyErr, e);
          if (!sz[k] && !sy[j] && !sx[i]) {
            clean++;
            cleanErr = Math.max(cleanErr, e);
          }
        }
    expect(clean).toBeGreaterThan(x.length / 3);
    expect(cleanErr).toBeLessThan(1e-5);
    expect(anyErr).toBeGreaterThan(1e-5); // the seams really differ (the check can fail)…
    expect(anyErr).toBeLessThan(0.05); // …but only by the small Gaussian weight of a patch rim.
  });

  it('places each patch where it belongs (a position-encoding fake network)', async () => {
    // The "network" returns, for each patch voxel, the input value there: any misplaced window
    // or misaligned accumulation would show as a mismatch, with constant blending too.
    const dims: Dims = [11, 29, 23];
    const x = noise(dims[0] * dims[1] * dims[2], 11);
    const echo: PatchPredictor = async (batch) => batch.slice();
    for (const blending of ['gaussian', 'constant'] as const) {
      const { output } = await slidingWindowInference(x, dims, echo, { ...OPTS, blending, batchSize: 3 });
      for (let q = 0; q < x.length; q++) expect(Math.abs(output[q]! - x[q]!)).toBeLessThan(1e-6);
    }
    // A two-channel output keeps its channels apart.
    const two: PatchPredictor = async (batch, count, p) => {
      const pv = p[0] * p[1] * p[2];
      const out = new Float32Array(count * 2 * pv);
      for (let n = 0; n < count; n++)
        for (let v = 0; v < pv; v++) {
          out[n * 2 * pv + v] = batch[n * pv + v]!;
          out[(n * 2 + 1) * pv + v] = -batch[n * pv + v]!;
        }
      return out;
    };
    const r = await slidingWindowInference(x, dims, two, OPTS);
    expect(r.channels).toBe(2);
    expect(r.output[x.length + 5]!).toBeCloseTo(-x[5]!, 6);
  });
});
