/**
 * Axial slice rasteriser with partial-volume edges.
 *
 * Each shape is blended over what is already painted with a coverage fraction
 * alpha = clamp(0.5 - d / w, 0, 1), where d is the (approximate) signed distance in mm from
 * the pixel centre to the shape boundary and w the pixel size. A pixel whose centre lies
 * exactly on the boundary gets 50 %, so thresholding halfway between two tissues recovers
 * the true boundary: the ground-truth volumes rely on that.
 *
 * Hot path: only the shape's bounding box is visited, and everything is plain arithmetic on
 * a Float32Array (no closures or allocations per pixel).
 */
import type { Shape2D } from './anatomy.js';

/** In-plane sampling of an axial slice: pixel (i, j) centre is at (x0 + i*dx, y0 + j*dy). */
export interface SliceGrid {
  rows: number;
  cols: number;
  x0: number;
  y0: number;
  /** Column spacing (mm along x). */
  dx: number;
  /** Row spacing (mm along y). */
  dy: number;
}

export function paintShape(buf: Float32Array, g: SliceGrid, s: Shape2D, value: number): void {
  const w = Math.min(g.dx, g.dy);
  const { a, b, cos, sin, cx, cy, clipYMax } = s;
  const hx = Math.sqrt(a * a * cos * cos + b * b * sin * sin) + w;
  const hy = Math.sqrt(a * a * sin * sin + b * b * cos * cos) + w;
  const i0 = Math.max(0, Math.floor((cx - hx - g.x0) / g.dx));
  const i1 = Math.min(g.cols - 1, Math.ceil((cx + hx - g.x0) / g.dx));
  const j0 = Math.max(0, Math.floor((cy - hy - g.y0) / g.dy));
  const j1 = Math.min(g.rows - 1, Math.ceil((Math.min(cy + hy, clipYMax + w) - g.y0) / g.dy));
  if (i0 > i1 || j0 > j1) return;
  const ia2 = 1 / (a * a);
  const ib2 = 1 / (b * b);
  const ia4 = ia2 * ia2;
  const ib4 = ib2 * ib2;
  const minAxis = Math.min(a, b);
  const invW = 1 / w;
  const clip = Number.isFinite(clipYMax);
  for (let j = j0; j <= j1; j++) {
    const y = g.y0 + j * g.dy;
    const dy = y - cy;
    const dClip = y - clipYMax;
    const rowOff = j * g.cols;
    for (let i = i0; i <= i1; i++) {
      const dx = g.x0 + i * g.dx - cx;
      const u = dx * cos + dy * sin;
      const v = -dx * sin + dy * cos;
      const k2 = u * u * ia2 + v * v * ib2;
      let d: number;
      if (k2 < 1e-12) {
        d = -minAxis;
      } else {
        // First-order distance to the ellipse: (k - 1) / |grad k|, with k = sqrt(k2).
        const k = Math.sqrt(k2);
        const grad = Math.sqrt(u * u * ia4 + v * v * ib4);
        d = ((k - 1) * k) / grad;
      }
      if (clip && dClip > d) d = dClip;
      let alpha = 0.5 - d * invW;
      if (alpha <= 0) continue;
      if (alpha > 1) alpha = 1;
      const idx = rowOff + i;
      const old = buf[idx] as number;
      buf[idx] = old + alpha * (value - old);
    }
  }
}
