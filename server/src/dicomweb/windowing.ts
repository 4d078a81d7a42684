/**
 * Grey-level presentation for rendered images and thumbnails, pure and table-tested:
 * the VOI LUT functions of PS3.3 C.11.2.1.2 (LINEAR, LINEAR_EXACT, SIGMOID) and the rendered
 * resource query parameters of PS3.18 8.3.5.1 (`window`, `quality`, `viewport`).
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

const FN: Record<string, VoiFunction> = {
  linear: 'LINEAR',
  'linear-exact': 'LINEAR_EXACT',
  sigmoid: 'SIGMOID',
};

/** `window=center,width[,function]` (PS3.18 8.3.5.1.4); function default linear. Throws on malformed input. */
export function parseWindowParam(s: string): Window {
  const [c, w, f, ...rest] = s.split(',').map((x) => x.trim());
  const center = Number(c);
  const width = Number(w);
  const fn = FN[(f ?? 'linear').toLowerCase()];
  if (rest.length > 0 || c === '' || w === '' || !Number.isFinite(center) || !Number.isFinite(width) || !fn) {
    throw new RangeError('window must be "center,width[,linear|linear-exact|sigmoid]"');
  }
  if (width <= 0 || (fn === 'LINEAR' && width < 1))
    throw new RangeError('window width must be positive (>= 1 for linear)');
  return { center, width, fn };
}

export interface Viewport {
  width: number;
  height: number;
  /** Source region (sx, sy, sw, sh) in image pixels, when given. */
  region?: { left: number; top: number; width: number; height: number };
}

/** `viewport=vw,vh[,sx,sy,sw,sh]` (PS3.18 8.3.5.1.3). */
export function parseViewport(s: string): Viewport {
  const n = s.split(',').map((x) => Number(x.trim()));
  if ((n.length !== 2 && n.length !== 6) || n.some((x) => !Number.isInteger(x))) {
    throw new RangeError('viewport must be "vw,vh" or "vw,vh,sx,sy,sw,sh" (integers)');
  }
  const [vw, vh, sx, sy, sw, sh] = n as [number, number, number?, number?, number?, number?];
  if (vw < 1 || vh < 1 || vw > 4096 || vh > 4096) throw new RangeError('viewport size must be 1..4096');
  const v: Viewport = { width: vw, height: vh };
  if (sx !== undefined) {
    if (sx! < 0 || sy! < 0 || sw! < 1 || sh! < 1)
      throw new RangeError('viewport region must be non-negative with a positive size');
    v.region = { left: sx!, top: sy!, width: sw!, height: sh! };
  }
  return v;
}

export function parseQuality(s: string): number {
  const q = Number(s);
  if (!Number.isInteger(q) || q < 1 || q > 100) throw new RangeError('quality must be an integer 1..100');
  return q;
}
