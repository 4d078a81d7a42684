/**
 * A scalar volume with patient geometry, and how one is built from decoded axial (or any
 * single-orientation) slices.
 *
 * Memory layout (invariant): `data[k·H·W + j·W + i]`, i.e. C-order (D, H, W) — exactly the
 * spatial part of an NCDHW tensor, so a patch is copied without transposition.
 *   i (W axis) runs along the image rows (ImageOrientationPatient's first vector),
 *   j (H axis) down the columns (its second vector),
 *   k (D axis) along the slice normal row × column, in increasing projection of
 *     ImagePositionPatient on that normal (NOT instance order: the files may arrive in any order).
 * Patient position (LPS mm) of voxel (k, j, i) = origin + i·sW·dirW + j·sH·dirH + k·sD·dirD.
 */

export type Vec3 = [number, number, number];
/** Sizes in layout order: [D, H, W] = [slices, rows, columns]. */
export type Dims = [number, number, number];

export interface Geometry {
  dims: Dims;
  /** Voxel spacing (mm) in layout order [D, H, W] = [between slices, between rows, between columns]. */
  spacing: Vec3;
  /** Patient position (LPS mm) of the centre of voxel (0, 0, 0). */
  origin: Vec3;
  /** Unit vectors of the D, H and W axes in patient space. */
  direction: [Vec3, Vec3, Vec3];
}

export interface Volume extends Geometry {
  data: Float32Array;
}

/** One decoded image: pixels already through the Modality LUT (RescaleSlope/Intercept). */
export interface DecodedSlice {
  rows: number;
  cols: number;
  /** ImagePositionPatient. */
  position: Vec3;
  /** ImageOrientationPatient (row direction cosines, then column direction cosines). */
  orientation: [number, number, number, number, number, number];
  /** PixelSpacing: [between rows, between columns] mm. */
  pixelSpacing: [number, number];
  /** SliceThickness (mm), used as the slab spacing of a one-slice volume. */
  sliceThickness?: number;
  pixels: Float32Array;
}

/** A series the engine must not process, with the reason a person can act on. */
export class VolumeError extends Error {
  constructor(
    readonly code:
      | 'empty'
      | 'mixed-sizes'
      | 'mixed-orientation'
      | 'gantry-tilt'
      | 'duplicate-position'
      | 'inconsistent-spacing'
      | 'bad-geometry',
    message: string,
  ) {
    super(message);
    this.name = 'VolumeError';
  }
}

export const dot = (a: Vec3, b: Vec3) => a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
export const cross = (a: Vec3, b: Vec3): Vec3 => [
  a[1] * b[2] - a[2] * b[1],
  a[2] * b[0] - a[0] * b[2],
  a[0] * b[1] - a[1] * b[0],
];
const norm = (a: Vec3) => Math.sqrt(dot(a, a));

/** Tolerances: orientation cosines within 1e-3 (scanner rounding), positions within 1 % of a step or 0.05 mm. */
const ORIENTATION_TOL = 1e-3;
/** Largest in-plane drift per slice step accepted as rounding (fraction of the step): ≈ 0.6° of tilt. */
const TILT_TOL = 0.01;

export function voxelCount(dims: Dims): number {
  return dims[0] * dims[1] * dims[2];
}

export function voxelVolumeMm3(g: Geometry): number {
  return g.spacing[0] * g.spacing[1] * g.spacing[2];
}

/** Patient position (LPS mm) of a fractional voxel index (k, j, i). */
export function voxelToPatient(g: Geometry, k: number, j: number, i: number): Vec3 {
  const [dD, dH, dW] = g.direction;
  const a = k * g.spacing[0];
  const b = j * g.spacing[1];
  const c = i * g.spacing[2];
  return [
    g.origin[0] + a * dD[0] + b * dH[0] + c * dW[0],
    g.origin[1] + a * dD[1] + b * dH[1] + c * dW[1],
    g.origin[2] + a * dD[2] + b * dH[2] + c * dW[2],
  ];
}

/** Fractional voxel index (k, j, i) of a patient point; the axes are orthonormal so the inverse is a projection. */
export function patientToVoxel(g: Geometry, p: Vec3): Vec3 {
  const d: Vec3 = [p[0] - g.origin[0], p[1] - g.origin[1], p[2] - g.origin[2]];
  return [
    dot(d, g.direction[0]) / g.spacing[0],
    dot(d, g.direction[1]) / g.spacing[1],
    dot(d, g.direction[2]) / g.spacing[2],
  ];
}

/**
 * Stack decoded slices into a volume. Refuses, with a reason, what a single regular grid cannot
 * represent: mixed image sizes or orientations, gantry tilt (slices displaced off their normal),
 * two slices at one position, or uneven slice spacing (a missing slice or a mixed series).
 * The slice spacing comes from the positions, never from SliceThickness or SpacingBetweenSlices,
 * which scanners fill inconsistently.
 */
export function buildVolume(slices: readonly DecodedSlice[]): Volume {
  const first = slices[0];
  if (!first) throw new VolumeError('empty', 'the series has no images');
  const o = first.orientation;
  const rowDir: Vec3 = [o[0], o[1], o[2]];
  const colDir: Vec3 = [o[3], o[4], o[5]];
  if (
    Math.abs(norm(rowDir) - 1) > 1e-2 ||
    Math.abs(norm(colDir) - 1) > 1e-2 ||
    Math.abs(dot(rowDir, colDir)) > 1e-2
  )
    throw new VolumeError('bad-geometry', 'ImageOrientationPatient is not two orthonormal vectors');
  const normal = cross(rowDir, colDir);
  for (const s of slices) {
    if (s.rows !== first.rows || s.cols !== first.cols)
      throw new VolumeError(
        'mixed-sizes',
        `images of ${first.rows}×${first.cols} and ${s.rows}×${s.cols} in one series`,
      );
    if (s.orientation.some((v, n) => Math.abs(v - o[n]!) > ORIENTATION_TOL))
      throw new VolumeError(
        'mixed-orientation',
        'the series mixes image orientations (e.g. a localiser or reformats)',
      );
    if (
      Math.abs(s.pixelSpacing[0] - first.pixelSpacing[0]) > 1e-3 ||
      Math.abs(s.pixelSpacing[1] - first.pixelSpacing[1]) > 1e-3
    )
      throw new VolumeError('mixed-sizes', 'the series mixes pixel spacings');
    if (s.pixels.length !== s.rows * s.cols)
      throw new VolumeError('bad-geometry', 'pixel data does not match rows × columns');
  }
  const sorted = [...slices].sort((a, b) => dot(a.position, normal) - dot(b.position, normal));
  const proj = sorted.map((s) => dot(s.position, normal));
  let step = first.sliceThickness && first.sliceThickness > 0 ? first.sliceThickness : 1;
  if (sorted.length > 1) {
    for (let k = 1; k < sorted.length; k++)
      if (proj[k]! - proj[k - 1]! < 1e-3)
        throw new VolumeError(
          'duplicate-position',
          `two images at the same position (${proj[k]!.toFixed(2)} mm along the normal)`,
        );
    step = (proj[proj.length - 1]! - proj[0]!) / (sorted.length - 1);
    const tol = Math.max(0.05, 0.01 * step);
    for (let k = 1; k < sorted.length; k++) {
      const d = proj[k]! - proj[k - 1]!;
      if (Math.abs(d - step) > tol)
        throw new VolumeError(
          'inconsistent-spacing',
          `slice spacing varies (${d.toFixed(3)} mm between images ${k - 1} and ${k}, mean ${step.toFixed(3)} mm): missing or extra slices`,
        );
      // Gantry tilt: consecutive positions must differ along the normal only.
      const p = sorted[k]!.position;
      const q = sorted[k - 1]!.position;
      const delta: Vec3 = [p[0] - q[0], p[1] - q[1], p[2] - q[2]];
      const off = norm([delta[0] - d * normal[0], delta[1] - d * normal[1], delta[2] - d * normal[2]]);
      if (off > Math.max(0.02, TILT_TOL * d))
        throw new VolumeError(
          'gantry-tilt',
          `slices are displaced ${off.toFixed(2)} mm off their normal per step (gantry tilt or sheared stack): not resampled here`,
        );
    }
  }
  const n = first.rows * first.cols;
  const data = new Float32Array(n * sorted.length);
  sorted.forEach((s, k) => {
    data.set(s.pixels, k * n);
  });
  return {
    dims: [sorted.length, first.rows, first.cols],
    spacing: [step, first.pixelSpacing[0], first.pixelSpacing[1]],
    origin: [...sorted[0]!.position] as Vec3,
    // H (row index j) advances along the column direction, W (column index i) along the row direction.
    direction: [normal, colDir, rowDir],
    data,
  };
}
