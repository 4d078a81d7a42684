/**
 * Lengths of a voxel set, measured as the Feret (caliper) diameter of the union of its voxel
 * boxes: the largest width over directions, where the width along a unit vector u is
 * max(u·p) − min(u·p) over voxel centres p plus the voxel's own extent along u
 * (Σ |u·axis| · spacing). Measuring boxes, not centres, avoids the one-voxel underestimate of
 * centre-to-centre distances; sampling directions densely (≈ 0.5° in-plane, ≈ 4° in 3-D)
 * keeps the error of the direction sampling below 0.1 %.
 */
import type { Geometry, Vec3 } from './volume.js';

function fibonacciHemisphere(n: number): Vec3[] {
  const out: Vec3[] = [];
  const golden = Math.PI * (3 - Math.sqrt(5));
  for (let i = 0; i < n; i++) {
    const z = 1 - (i + 0.5) / n; // z in (0, 1]: one hemisphere suffices, widths are symmetric.
    const r = Math.sqrt(1 - z * z);
    out.push([r * Math.cos(golden * i), r * Math.sin(golden * i), z]);
  }
  return out;
}
const DIRECTIONS_3D = fibonacciHemisphere(600);
const DIRECTIONS_2D: Array<[number, number]> = Array.from({ length: 360 }, (_, a) => [
  Math.cos((a * Math.PI) / 360),
  Math.sin((a * Math.PI) / 360),
]);

/**
 * Largest width of voxels given as physical coordinates along the grid axes (mm, in axis
 * order D, H, W — the grid is orthonormal, so widths equal patient-space widths).
 */
export function feret3d(points: Float64Array, spacing: Vec3): number {
  const n = points.length / 3;
  if (n === 0) return 0;
  let best = 0;
  for (const u of DIRECTIONS_3D) {
    let lo = Number.POSITIVE_INFINITY;
    let hi = Number.NEGATIVE_INFINITY;
    for (let p = 0; p < n; p++) {
      const v = u[0] * points[3 * p]! + u[1] * points[3 * p + 1]! + u[2] * points[3 * p + 2]!;
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    const w =
      hi - lo + Math.abs(u[0]) * spacing[0] + Math.abs(u[1]) * spacing[1] + Math.abs(u[2]) * spacing[2];
    if (w > best) best = w;
  }
  return best;
}

/** In-plane (H, W) largest width of pixels given as (mm along H, mm along W) pairs. */
export function feret2d(points: Float64Array, spacingH: number, spacingW: number): number {
  const n = points.length / 2;
  if (n === 0) return 0;
  let best = 0;
  for (const [a, b] of DIRECTIONS_2D) {
    let lo = Number.POSITIVE_INFINITY;
    let hi = Number.NEGATIVE_INFINITY;
    for (let p = 0; p < n; p++) {
      const v = a * points[2 * p]! + b * points[2 * p + 1]!;
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    const w = hi - lo + Math.abs(a) * spacingH + Math.abs(b) * spacingW;
    if (w > best) best = w;
  }
  return best;
}

export type { Geometry };
