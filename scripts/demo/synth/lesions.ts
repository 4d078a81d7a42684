/**
 * Focal lesions: slightly irregular ellipsoids with exactly known geometry.
 *
 * Shape: a point p belongs to the lesion when, with q = Rᵀ(p − c) and s = q / radii,
 * |s| < f(s/|s|), where f(u) = 1 + Σ amp·cos(freq·(u·dir) + phase) is a smooth boundary
 * modulation with Σ|amp| ≤ irregularity. Along a patient-space unit direction d the boundary
 * is therefore at the closed-form distance rb(d) = f(u) / |S Rᵀ d| (S = diag(1/radii)),
 * which gives exact ground truth: volume = ∮ rb³/3 dΩ, extreme radii and diameters from
 * boundary samples. Nothing in the ground truth is measured from the voxel grid except
 * the mask and the measured mean intensity.
 */
import { type Anatomy, type Ellipsoid, tissueAt } from './anatomy.js';
import type { Vec3, VolumeGeometry } from './geometry.js';
import type { Rng } from './random.js';
import type { SliceGrid } from './raster.js';
import { Tissue, type TissueId } from './tissues.js';

export type LesionOrgan = 'liver' | 'rectum';

/** What the caller may ask for; everything omitted is drawn from the seed. */
export interface LesionSpec {
  /** Nominal diameter in mm (2 × geometric mean of the semi-axes). Default 8–35 mm. */
  diameterMm?: number;
  /**
   * Intensity difference to the host organ in the primary series' units (HU for CT, signal
   * for MR): negative = hypodense/hypointense. Other series scale it by their host ratio.
   */
  contrast?: number;
  organ?: LesionOrgan;
  /** Fixed centre (patient LPS mm). Placement checks are skipped: the caller owns validity. */
  centre?: Vec3;
  /** Largest/smallest semi-axis ratio, default 1.0–1.35. */
  elongation?: number;
  /** Boundary modulation amplitude as a fraction of the radius, default 0.04–0.10. */
  irregularity?: number;
}

interface Wobble {
  dir: Vec3;
  freq: number;
  phase: number;
  amp: number;
}

export interface Lesion {
  id: string;
  organ: LesionOrgan;
  hostTissue: TissueId;
  centre: Vec3;
  /** Nominal semi-axes before boundary modulation (mm). */
  radii: Vec3;
  /** Row-major 3×3 rotation from lesion axes to patient axes. */
  rotation: number[];
  wobble: Wobble[];
  contrast: number;
  minRadiusMm: number;
  maxRadiusMm: number;
  /** Largest distance between two boundary points (3-D Feret diameter). */
  longestDiameterMm: number;
  /** Largest in-plane diameter on the axial plane through the centre (RECIST-style). */
  axialLongestDiameterMm: number;
  volumeMm3: number;
}

/** Boundary modulation f(u) for a unit vector u in the scaled lesion frame. */
function boundaryFactor(w: readonly Wobble[], ux: number, uy: number, uz: number): number {
  let f = 1;
  for (const t of w)
    f += t.amp * Math.cos(t.freq * (ux * t.dir[0] + uy * t.dir[1] + uz * t.dir[2]) + t.phase);
  return f;
}

/** Distance from the centre to the boundary along the patient-space unit vector d. */
export function boundaryRadius(l: Lesion, dx: number, dy: number, dz: number): number {
  const R = l.rotation;
  // q = Rᵀ d, then s = q / radii.
  const sx = (R[0]! * dx + R[3]! * dy + R[6]! * dz) / l.radii[0];
  const sy = (R[1]! * dx + R[4]! * dy + R[7]! * dz) / l.radii[1];
  const sz = (R[2]! * dx + R[5]! * dy + R[8]! * dz) / l.radii[2];
  const n = Math.sqrt(sx * sx + sy * sy + sz * sz);
  return boundaryFactor(l.wobble, sx / n, sy / n, sz / n) / n;
}

/** Signed radial distance (mm) from p to the boundary: negative inside. */
export function lesionSignedDistance(l: Lesion, x: number, y: number, z: number): number {
  const dx = x - l.centre[0];
  const dy = y - l.centre[1];
  const dz = z - l.centre[2];
  const r = Math.sqrt(dx * dx + dy * dy + dz * dz);
  if (r < 1e-9) return -l.minRadiusMm;
  return r - boundaryRadius(l, dx / r, dy / r, dz / r);
}

/** Deterministic quasi-uniform directions on the unit sphere (Fibonacci lattice). */
export function fibonacciSphere(n: number): Vec3[] {
  const out: Vec3[] = [];
  const golden = Math.PI * (3 - Math.sqrt(5));
  for (let i = 0; i < n; i++) {
    const z = 1 - (2 * (i + 0.5)) / n;
    const r = Math.sqrt(1 - z * z);
    out.push([r * Math.cos(golden * i), r * Math.sin(golden * i), z]);
  }
  return out;
}

const SPHERE_4K = fibonacciSphere(4000);
const SPHERE_600 = fibonacciSphere(600);

function maxPairDistance(points: Vec3[]): number {
  let best = 0;
  for (let a = 0; a < points.length; a++) {
    const p = points[a]!;
    for (let b = a + 1; b < points.length; b++) {
      const q = points[b]!;
      const d = (p[0] - q[0]) ** 2 + (p[1] - q[1]) ** 2 + (p[2] - q[2]) ** 2;
      if (d > best) best = d;
    }
  }
  return Math.sqrt(best);
}

function randomRotation(rng: Rng): number[] {
  // Uniform random unit quaternion → rotation matrix.
  let w = rng.normal();
  let x = rng.normal();
  let y = rng.normal();
  let z = rng.normal();
  const n = Math.sqrt(w * w + x * x + y * y + z * z) || 1;
  w /= n;
  x /= n;
  y /= n;
  z /= n;
  return [
    1 - 2 * (y * y + z * z),
    2 * (x * y - w * z),
    2 * (x * z + w * y),
    2 * (x * y + w * z),
    1 - 2 * (x * x + z * z),
    2 * (y * z - w * x),
    2 * (x * z - w * y),
    2 * (y * z + w * x),
    1 - 2 * (x * x + y * y),
  ];
}

/** Build the lesion's shape and compute its exact metrics. */
function makeLesion(
  id: string,
  organ: LesionOrgan,
  hostTissue: TissueId,
  centre: Vec3,
  diameterMm: number,
  elongation: number,
  irregularity: number,
  contrast: number,
  rng: Rng,
): Lesion {
  // Semi-axes with geometric mean = diameter / 2 and max/min ratio = elongation.
  const r = diameterMm / 2;
  const e = Math.cbrt(elongation);
  const radii: Vec3 = [r * e, r * rng.range(1 / e, e), r / e];
  const g = Math.cbrt(radii[0] * radii[1] * radii[2]);
  for (let a = 0; a < 3; a++) radii[a] = (radii[a]! * r) / g;
  const wobble: Wobble[] = [];
  let left = irregularity;
  for (let t = 0; t < 3; t++) {
    const amp = t === 2 ? left : left * rng.range(0.3, 0.6);
    left -= amp;
    const v: Vec3 = [rng.normal(), rng.normal(), rng.normal()];
    const n = Math.hypot(...v) || 1;
    wobble.push({
      dir: [v[0] / n, v[1] / n, v[2] / n],
      freq: rng.range(1.5, 3.5),
      phase: rng.range(0, 2 * Math.PI),
      amp,
    });
  }
  const l: Lesion = {
    id,
    organ,
    hostTissue,
    centre,
    radii,
    rotation: randomRotation(rng),
    wobble,
    contrast,
    minRadiusMm: 0,
    maxRadiusMm: 0,
    longestDiameterMm: 0,
    axialLongestDiameterMm: 0,
    volumeMm3: 0,
  };
  let vol = 0;
  let minR = Number.POSITIVE_INFINITY;
  let maxR = 0;
  for (const d of SPHERE_4K) {
    const rb = boundaryRadius(l, d[0], d[1], d[2]);
    vol += rb * rb * rb;
    if (rb < minR) minR = rb;
    if (rb > maxR) maxR = rb;
  }
  l.volumeMm3 = ((4 * Math.PI) / SPHERE_4K.length) * (vol / 3);
  l.minRadiusMm = minR;
  l.maxRadiusMm = maxR;
  l.longestDiameterMm = maxPairDistance(
    SPHERE_600.map((d) => {
      const rb = boundaryRadius(l, d[0], d[1], d[2]);
      return [d[0] * rb, d[1] * rb, d[2] * rb] as Vec3;
    }),
  );
  const ring: Vec3[] = [];
  for (let a = 0; a < 360; a++) {
    const dx = Math.cos((a * Math.PI) / 180);
    const dy = Math.sin((a * Math.PI) / 180);
    const rb = boundaryRadius(l, dx, dy, 0);
    ring.push([dx * rb, dy * rb, 0]);
  }
  l.axialLongestDiameterMm = maxPairDistance(ring);
  return l;
}

export interface PlacementContext {
  anatomy: Anatomy;
  geometry: VolumeGeometry;
  modality: 'CT' | 'MR';
  /** Organs lesions may be placed in when a spec does not say. */
  defaultOrgans: LesionOrgan[];
}

function defaultContrast(rng: Rng, modality: 'CT' | 'MR', organ: LesionOrgan): number {
  if (modality === 'CT') return rng.next() < 0.75 ? -rng.range(35, 70) : rng.range(35, 60);
  if (organ === 'rectum') return rng.range(120, 220);
  return rng.next() < 0.3 ? rng.range(800, 1200) : rng.range(150, 400);
}

/** Scan extent in patient z, from the geometry (slice centres). */
function zExtent(g: VolumeGeometry): [number, number] {
  const zA = g.origin[2];
  const zB = g.origin[2] + (g.slices - 1) * g.sliceStep[2];
  return [Math.min(zA, zB), Math.max(zA, zB)];
}

/**
 * Place lesions. Liver lesions are drawn until a candidate passes: centre in the liver and a
 * shell of points at (boundary + margin) all liver too, so that the lesion is surrounded by
 * parenchyma (the tests rely on "just outside = liver") and never touches vessels, the
 * gallbladder or another lesion. If a size does not fit after many tries it shrinks by 15 %.
 */
export function placeLesions(rng: Rng, ctx: PlacementContext, specs: LesionSpec[]): Lesion[] {
  const out: Lesion[] = [];
  const g = ctx.geometry;
  const [zMin, zMax] = zExtent(g);
  const xMin = g.origin[0];
  const xMax = g.origin[0] + (g.cols - 1) * g.pixelSpacing[1];
  const yMin = g.origin[1];
  const yMax = g.origin[1] + (g.rows - 1) * g.pixelSpacing[0];
  const ps = Math.max(g.pixelSpacing[0], g.pixelSpacing[1]);
  const sp = g.spacingBetweenSlices;
  const liverParts = ctx.anatomy.primitives
    .filter((p): p is Ellipsoid => p.tissue === Tissue.Liver && p.kind === 'ellipsoid')
    .sort((p, q) => q.radii[0] * q.radii[1] * q.radii[2] - p.radii[0] * p.radii[1] * p.radii[2]);
  const shell = fibonacciSphere(80);

  specs.forEach((spec, n) => {
    const id = `L${n + 1}`;
    const organ = spec.organ ?? rng.pick(ctx.defaultOrgans);
    const host = organ === 'liver' ? Tissue.Liver : Tissue.RectalWall;
    const elongation = spec.elongation ?? rng.range(1, 1.35);
    const irregularity = spec.irregularity ?? rng.range(0.04, 0.1);
    const contrast = spec.contrast ?? defaultContrast(rng, ctx.modality, organ);
    let diameter = spec.diameterMm ?? rng.range(8, 35);
    if (spec.centre) {
      out.push(makeLesion(id, organ, host, spec.centre, diameter, elongation, irregularity, contrast, rng));
      return;
    }
    for (;;) {
      for (let attempt = 0; attempt < 400; attempt++) {
        let c: Vec3;
        if (organ === 'liver') {
          // Right lobe (the larger ellipsoid) four times out of five.
          const part = rng.next() < 0.8 || liverParts.length < 2 ? liverParts[0] : liverParts[1];
          if (!part) throw new Error('anatomy has no liver');
          const u: Vec3 = [rng.range(-1, 1), rng.range(-1, 1), rng.range(-1, 1)];
          c = [
            part.centre[0] + u[0] * part.radii[0],
            part.centre[1] + u[1] * part.radii[1],
            part.centre[2] + u[2] * part.radii[2],
          ];
        } else {
          const rc = ctx.anatomy.rectum;
          const z = rng.range(Math.max(rc.zBottom, zMin), Math.min(rc.zTop, zMax));
          const t = (rc.zTop - z) / (rc.zTop - rc.zBottom);
          const theta = rng.range(0, 2 * Math.PI);
          const rm = (rc.rOuter + rc.rInner) / 2;
          c = [
            rc.x + rm * Math.cos(theta),
            rc.yTop + t * (rc.yBottom - rc.yTop) + 0.9 * rm * Math.sin(theta),
            z,
          ];
        }
        const l = makeLesion(id, organ, host, c, diameter, elongation, irregularity, contrast, rng);
        const m = l.maxRadiusMm;
        // Whole lesion inside the scanned volume, with a slice of slack in z.
        if (c[2] - m - sp < zMin || c[2] + m + sp > zMax) continue;
        if (
          c[0] - m - 2 * ps < xMin ||
          c[0] + m + 2 * ps > xMax ||
          c[1] - m - 2 * ps < yMin ||
          c[1] + m + 2 * ps > yMax
        )
          continue;
        if (
          out.some(
            (o) =>
              Math.hypot(o.centre[0] - c[0], o.centre[1] - c[1], o.centre[2] - c[2]) <
              o.maxRadiusMm + m + 2 * ps + 4,
          )
        )
          continue;
        if (organ === 'liver') {
          if (tissueAt(ctx.anatomy, c[0], c[1], c[2]) !== host) continue;
          let ok = true;
          for (const d of shell) {
            const rb = boundaryRadius(l, d[0], d[1], d[2]);
            // Margin: 4 mm plus two voxels in the direction considered.
            const margin = 4 + 2 * Math.hypot(d[0] * ps, d[1] * ps, d[2] * sp);
            for (const f of [0.5, 1]) {
              const rr = f === 1 ? rb + margin : rb * f;
              if (tissueAt(ctx.anatomy, c[0] + d[0] * rr, c[1] + d[1] * rr, c[2] + d[2] * rr) !== host) {
                ok = false;
                break;
              }
            }
            if (!ok) break;
          }
          if (!ok) continue;
        }
        out.push(l);
        return;
      }
      diameter *= 0.85;
      if (diameter < 4) throw new Error(`cannot place lesion ${id} in ${organ} inside the scanned volume`);
    }
  });
  return out;
}

/**
 * Blend a lesion into one axial slice at height z with value `value`; voxels whose centre
 * is inside get `label` in `mask` (if given). Returns the number of voxels inside.
 */
export function paintLesionSlice(
  buf: Float32Array,
  g: SliceGrid,
  l: Lesion,
  z: number,
  value: number,
  mask: Uint8Array | null,
  label: number,
): number {
  const dz = z - l.centre[2];
  const m = l.maxRadiusMm;
  if (Math.abs(dz) >= m + g.dx) return 0;
  const w = Math.min(g.dx, g.dy);
  const i0 = Math.max(0, Math.floor((l.centre[0] - m - w - g.x0) / g.dx));
  const i1 = Math.min(g.cols - 1, Math.ceil((l.centre[0] + m + w - g.x0) / g.dx));
  const j0 = Math.max(0, Math.floor((l.centre[1] - m - w - g.y0) / g.dy));
  const j1 = Math.min(g.rows - 1, Math.ceil((l.centre[1] + m + w - g.y0) / g.dy));
  let inside = 0;
  for (let j = j0; j <= j1; j++) {
    const y = g.y0 + j * g.dy;
    for (let i = i0; i <= i1; i++) {
      const d = lesionSignedDistance(l, g.x0 + i * g.dx, y, z);
      let alpha = 0.5 - d / w;
      if (alpha <= 0) continue;
      if (alpha > 1) alpha = 1;
      const idx = j * g.cols + i;
      const old = buf[idx] as number;
      buf[idx] = old + alpha * (value - old);
      if (d < 0) {
        inside++;
        if (mask) mask[idx] = label;
      }
    }
  }
  return inside;
}
