/**
 * The manifest's intensity steps, applied in order to the resampled volume (in place).
 * Semantics follow MONAI's transforms: `clip` = ClipIntensity, `scale` = ScaleIntensityRange
 * without clipping, `zscore` = NormalizeIntensity (nonzero / fixed statistics), `percentile` =
 * ScaleIntensityRangePercentiles (nnU-Net's CT normalisation is clip to the 0.5/99.5 percentiles
 * then a z-score with dataset statistics: expressible as percentile + zscore).
 */
import type { PreprocessStep } from '../../../contracts/model-manifest.js';

function selected(data: Float32Array, over: 'all' | 'nonzero' | 'above', threshold: number): Float32Array {
  if (over === 'all') return data;
  const keep = over === 'nonzero' ? (v: number) => v !== 0 : (v: number) => v > threshold;
  let n = 0;
  for (const v of data) if (keep(v)) n++;
  const out = new Float32Array(n);
  n = 0;
  for (const v of data) if (keep(v)) out[n++] = v;
  return out;
}

/** Linear-interpolated percentile (numpy's default 'linear' method) of a sorted copy. */
export function percentile(values: Float32Array, p: number): number {
  if (values.length === 0) return 0;
  const s = Float32Array.from(values).sort();
  const pos = (p / 100) * (s.length - 1);
  const lo = Math.floor(pos);
  const hi = Math.min(s.length - 1, lo + 1);
  return s[lo]! + (s[hi]! - s[lo]!) * (pos - lo);
}

function linearMap(data: Float32Array, a0: number, a1: number, b0: number, b1: number, clip: boolean): void {
  const k = a1 === a0 ? 0 : (b1 - b0) / (a1 - a0);
  const lo = Math.min(b0, b1);
  const hi = Math.max(b0, b1);
  for (let q = 0; q < data.length; q++) {
    let v = b0 + (data[q]! - a0) * k;
    if (clip) v = v < lo ? lo : Math.min(v, hi);
    data[q] = v;
  }
}

export function applyStep(data: Float32Array, step: PreprocessStep): void {
  switch (step.op) {
    case 'clip':
      for (let q = 0; q < data.length; q++) {
        const v = data[q]!;
        data[q] = v < step.min ? step.min : Math.min(v, step.max);
      }
      return;
    case 'scale':
      linearMap(data, step.from[0], step.from[1], step.to[0], step.to[1], false);
      return;
    case 'zscore': {
      let mean = step.mean;
      let std = step.std;
      if (mean === undefined || std === undefined) {
        const sel = selected(data, step.over, step.threshold ?? 0);
        let s = 0;
        for (const v of sel) s += v;
        const m = sel.length ? s / sel.length : 0;
        let ss = 0;
        for (const v of sel) ss += (v - m) * (v - m);
        mean ??= m;
        std ??= sel.length ? Math.sqrt(ss / sel.length) : 1;
      }
      // A constant image would divide by zero: leave it centred, as MONAI does.
      const inv = std > 1e-8 ? 1 / std : 1;
      for (let q = 0; q < data.length; q++) data[q] = (data[q]! - mean) * inv;
      return;
    }
    case 'percentile': {
      const sel = selected(data, step.over ?? 'all', step.threshold ?? 0);
      const lo = percentile(sel, step.lower);
      const hi = percentile(sel, step.upper);
      linearMap(data, lo, hi, step.to[0], step.to[1], step.clip);
      return;
    }
  }
}

export function preprocess(data: Float32Array, steps: readonly PreprocessStep[]): Float32Array {
  for (const s of steps) applyStep(data, s);
  return data;
}
