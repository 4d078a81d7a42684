/**
 * The rendered resource query parameters of PS3.18 8.3.5.1 (`window`, `quality`, `viewport`),
 * pure and table-tested. The VOI LUT functions they select live in imaging/windowing.ts (shared
 * with the thumbnails worker) and are re-exported here.
 */
import type { Viewport } from '../../../imaging/render-frame.js';
import type { VoiFunction, Window } from '../../../imaging/windowing.js';

export type { Viewport } from '../../../imaging/render-frame.js';
export { applyWindow, minMaxWindow, type VoiFunction, type Window } from '../../../imaging/windowing.js';

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
