/**
 * Volume geometry in DICOM patient coordinates (LPS: +x patient left, +y posterior,
 * +z superior).
 *
 * Voxel index convention used everywhere in this library and in the ground truth:
 *   i = column (0..cols-1), j = row (0..rows-1), k = slice in *instance order*
 *   (InstanceNumber = k + 1).
 * Slices are acquired head→feet, so k increasing means z decreasing: sliceStep has a
 * negative z component. Readers must not assume k follows +z; they should sort by the
 * projection of ImagePositionPatient on the slice normal, as the tests do.
 *
 * Axial orientation 1\0\0\0\1\0: increasing column → +x (patient left, image right:
 * radiological convention), increasing row → +y (posterior, image bottom).
 */

export type Vec3 = [number, number, number];

export interface VolumeGeometry {
  rows: number;
  cols: number;
  slices: number;
  /** PixelSpacing as written to DICOM: [row spacing (between rows, along y), column spacing (along x)] mm. */
  pixelSpacing: [number, number];
  /** Nominal reconstructed slice thickness (mm). */
  sliceThickness: number;
  /** Centre-to-centre distance of adjacent slices (mm); may exceed the thickness (gap), as in MR. */
  spacingBetweenSlices: number;
  /** ImageOrientationPatient: row direction cosines then column direction cosines. */
  orientation: [number, number, number, number, number, number];
  /** ImagePositionPatient of slice k = 0 (centre of voxel i = 0, j = 0). */
  origin: Vec3;
  /** Patient-space displacement from slice k to slice k + 1. */
  sliceStep: Vec3;
}

export const AXIAL_ORIENTATION: VolumeGeometry['orientation'] = [1, 0, 0, 0, 1, 0];

/**
 * Axial geometry centred on the table axis: the in-plane field of view is centred on
 * x = 0, y = yCentre, slices run from zTop downwards.
 */
export function axialGeometry(p: {
  rows: number;
  cols: number;
  slices: number;
  pixelSpacing: number;
  sliceThickness: number;
  spacingBetweenSlices: number;
  zTop: number;
  yCentre?: number;
}): VolumeGeometry {
  const ps = p.pixelSpacing;
  const yCentre = p.yCentre ?? 0;
  return {
    rows: p.rows,
    cols: p.cols,
    slices: p.slices,
    pixelSpacing: [ps, ps],
    sliceThickness: p.sliceThickness,
    spacingBetweenSlices: p.spacingBetweenSlices,
    orientation: AXIAL_ORIENTATION,
    origin: [-((p.cols - 1) / 2) * ps, yCentre - ((p.rows - 1) / 2) * ps, p.zTop],
    sliceStep: [0, 0, -p.spacingBetweenSlices],
  };
}

/** ImagePositionPatient of slice k. */
export function slicePosition(g: VolumeGeometry, k: number): Vec3 {
  return [
    g.origin[0] + k * g.sliceStep[0],
    g.origin[1] + k * g.sliceStep[1],
    g.origin[2] + k * g.sliceStep[2],
  ];
}

/** Patient coordinates (mm) of the centre of voxel (i, j, k); fractional indices allowed. */
export function voxelToPatient(g: VolumeGeometry, i: number, j: number, k: number): Vec3 {
  const [rx, ry, rz, cx, cy, cz] = g.orientation;
  const [dRow, dCol] = g.pixelSpacing;
  const p = slicePosition(g, k);
  return [
    p[0] + i * dCol * rx + j * dRow * cx,
    p[1] + i * dCol * ry + j * dRow * cy,
    p[2] + i * dCol * rz + j * dRow * cz,
  ];
}

/** Inverse of voxelToPatient for the orthogonal geometries this library produces. */
export function patientToVoxel(g: VolumeGeometry, x: number, y: number, z: number): Vec3 {
  const [rx, ry, rz, cx, cy, cz] = g.orientation;
  const [dRow, dCol] = g.pixelSpacing;
  const dx = x - g.origin[0];
  const dy = y - g.origin[1];
  const dz = z - g.origin[2];
  const s = g.sliceStep;
  const sLen2 = s[0] * s[0] + s[1] * s[1] + s[2] * s[2];
  return [
    (dx * rx + dy * ry + dz * rz) / dCol,
    (dx * cx + dy * cy + dz * cz) / dRow,
    (dx * s[0] + dy * s[1] + dz * s[2]) / sLen2,
  ];
}

/** Voxel volume in mm³ (slab = spacing between slices, the volume each slice represents). */
export function voxelVolume(g: VolumeGeometry): number {
  return g.pixelSpacing[0] * g.pixelSpacing[1] * g.spacingBetweenSlices;
}
