/**
 * Grey-level presentation, pure: the VOI LUT functions of PS3.3 C.11.2.1.2 (LINEAR, LINEAR_EXACT,
 * SIGMOID) from modality values to 8-bit display values. Shared by the gateway (rendered
 * resources, thumbnails on demand) and the thumbnails worker, so both draw the same pixels.
 */
export type VoiFunction = 'LINEAR' | 'LINEAR_EXACT' | 'SIGMOID';

export interface Window {
  center: number;
  width: number;
  fn: VoiFunction;
}

/** Modality values (rescaled) → 8-bit display values. MONOCHROME1 inverts after windowing. */
export function applyWindow(values: Float32Array | number[], w: Window, invert = false): Uint8Array {
  const out = new Uint8Array(values.length);
  const { center: c, fn } = w;
  const width = fn === 'LINEAR' ? Math.max(1, w.width) : Math.max(Number.EPSILON, w.width);
  for (let i = 0; i < values.length; i++) {
    const x = values[i]!;
    let y: number;
    if (fn === 'LINEAR') {
      // C.11.2.1.2.1: the half-pixel offsets are part of the definition.
      if (x <= c - 0.5 - (width - 1) / 2) y = 0;
      else if (x > c - 0.5 + (width - 1) / 2) y = 255;
      else y = ((x - (c - 0.5)) / (width - 1) + 0.5) * 255;
    } else if (fn === 'LINEAR_EXACT') {
      if (x <= c - width / 2) y = 0;
      else if (x > c + width / 2) y = 255;
      else y = ((x - c) / width + 0.5) * 255;
    } else {
      y = 255 / (1 + Math.exp((-4 * (x - c)) / width));
    }
    const v = Math.round(Math.min(255, Math.max(0, y)));
    out[i] = invert ? 255 - v : v;
  }
  return out;
}

/** A window spanning the data (when the object carries none). */
export function minMaxWindow(values: Float32Array | number[]): Window {
  let lo = Number.POSITIVE_INFINITY;
  let hi = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  if (!Number.isFinite(lo)) return { center: 0, width: 1, fn: 'LINEAR_EXACT' };
  return { center: (lo + hi) / 2, width: Math.max(1, hi - lo), fn: 'LINEAR_EXACT' };
}
