/**
 * Volume building from decoded slices (synthetic CT read back through decode-dicom), the
 * refusals with reasons, resampling and intensity preprocessing.
 */
import { describe, expect, it } from 'vitest';
import type { PreprocessStep } from '../../contracts/model-manifest.js';
import { findPatient } from '../../scripts/demo/patients.js';
import { generateStudy } from '../../scripts/demo/synth/study.js';
import { decodeImage } from '../../workers/src/ai/decode-dicom.js';
import { applyStep, percentile } from '../../workers/src/ai/preprocess.js';
import { resampleBack, resampledDims, resampleToSpacing } from '../../workers/src/ai/resample.js';
import {
  buildVolume,
  type DecodedSlice,
  patientToVoxel,
  type Volume,
  VolumeError,
  voxelToPatient,
} from '../../workers/src/ai/volume.js';

const study = generateStudy({
  seed: 4242,
  patient: findPatient('hung'),
  modality: 'CT',
  rows: 64,
  cols: 64,
  slices: 24,
  lesions: [{ diameterMm: 30, contrast: -60 }],
  withMask: true,
});
const decoded = () => study.series[0]!.instances.map((b) => decodeImage(b).slice);

describe('buildVolume', () => {
  it('sorts by position along the normal, whatever the file order, with the right geometry and HU', () => {
    const v = buildVolume([...decoded()].reverse().sort(() => 0.5 - Math.random()));
    const g = study.groundTruth.geometry;
    expect(v.dims).toEqual([24, 64, 64]);
    expect(v.spacing[0]).toBeCloseTo(g.spacingBetweenSlices, 4);
    expect(v.spacing.slice(1)).toEqual(g.pixelSpacing);
    expect(v.direction).toEqual([
      [0, 0, 1],
      [0, 1, 0],
      [1, 0, 0],
    ]);
    // k = 0 is the most inferior slice: the last instance.
    expect(v.origin[2]).toBeCloseTo(g.origin[2] + (g.slices - 1) * g.sliceStep[2], 3);
    // The lesion centre maps to a hypodense voxel (liver 110 HU, lesion 50 HU).
    const l = study.groundTruth.lesions[0]!;
    const [k, j, i] = patientToVoxel(v, l.centreMm).map(Math.round) as [number, number, number];
    expect(v.data[(k * 64 + j) * 64 + i]!).toBeLessThan(90);
    const back = voxelToPatient(v, ...patientToVoxel(v, l.centreMm));
    for (const [a, x] of back.entries()) expect(x).toBeCloseTo(l.centreMm[a]!, 6);
    let min = Number.POSITIVE_INFINITY;
    for (const x of v.data) min = Math.min(min, x);
    expect(min).toBeLessThanOrEqual(-1000);
  });

  const shifted = (s: DecodedSlice, dx: number): DecodedSlice => ({
    ...s,
    position: [s.position[0] + dx, s.position[1], s.position[2]],
  });
  it.each<[string, (s: DecodedSlice[]) => DecodedSlice[], VolumeError['code']]>([
    ['no images', () => [], 'empty'],
    ['gantry tilt', (s) => s.map((x, k) => shifted(x, k * 0.4)), 'gantry-tilt'],
    [
      'mixed orientation',
      (s) => s.map((x, k) => (k === 3 ? { ...x, orientation: [0, 1, 0, 0, 0, -1] } : x)),
      'mixed-orientation',
    ],
    ['a missing slice', (s) => s.filter((_, k) => k !== 10), 'inconsistent-spacing'],
    ['a duplicated slice', (s) => [...s, s[5]!], 'duplicate-position'],
    [
      'mixed sizes',
      (s) => s.map((x, k) => (k === 2 ? { ...x, rows: 32, pixels: new Float32Array(32 * 64) } : x)),
      'mixed-sizes',
    ],
  ])('refuses %s with a reason', (_n, edit, code) => {
    try {
      buildVolume(edit(decoded()));
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(VolumeError);
      expect((err as VolumeError).code).toBe(code);
      expect((err as VolumeError).message.length).toBeGreaterThan(10);
    }
  });

  it('accepts a tilt below rounding tolerance and a single slice (slab = SliceThickness)', () => {
    expect(() => buildVolume(decoded().map((x, k) => shifted(x, k * 0.001)))).not.toThrow();
    const one = buildVolume([decoded()[0]!]);
    expect(one.dims[0]).toBe(1);
    expect(one.spacing[0]).toBeCloseTo(study.groundTruth.geometry.sliceThickness, 4);
  });
});

function ramp(dims: [number, number, number], spacing: [number, number, number]): Volume {
  const [D, H, W] = dims;
  const data = new Float32Array(D * H * W);
  for (let k = 0; k < D; k++)
    for (let j = 0; j < H; j++)
      for (let i = 0; i < W; i++)
        data[(k * H + j) * W + i] = 2 * k * spacing[0] + 3 * j * spacing[1] - i * spacing[2];
  return {
    dims,
    spacing,
    origin: [0, 0, 0],
    direction: [
      [0, 0, 1],
      [0, 1, 0],
      [1, 0, 0],
    ],
    data,
  };
}

describe('resample', () => {
  it('covers the same extent from voxel 0', () => {
    expect(resampledDims([120, 256, 256], [2.5, 1.4844, 1.4844], [3, 3, 3])).toEqual([100, 127, 127]);
    expect(resampledDims([1, 64, 64], [5, 1, 1], [3, 3, 3])).toEqual([1, 22, 22]);
  });

  it('trilinear reproduces a linear function of position exactly (inside the source)', () => {
    const v = ramp([10, 12, 14], [2.5, 1.5, 1.5]);
    const r = resampleToSpacing(v, [3, 2, 2]);
    const [D, H, W] = r.dims;
    for (let k = 0; k < D; k++)
      for (let j = 0; j < H; j++)
        for (let i = 0; i < W; i++)
          expect(r.data[(k * H + j) * W + i]!).toBeCloseTo(2 * k * 3 + 3 * j * 2 - i * 2, 3);
  });

  it('nearest keeps label values; back-resampling returns to the original grid', () => {
    const v = ramp([8, 8, 8], [1, 1, 1]);
    const labels: Volume = { ...v, data: v.data.map((x) => (x > 10 ? 7 : 0)) };
    const r = resampleToSpacing(labels, [2, 2, 2], 'nearest');
    expect(new Set(r.data)).toEqual(new Set([0, 7]));
    const back = resampleBack(
      resampleToSpacing(v, [2, 2, 2]).data,
      { ...v, dims: [4, 4, 4], spacing: [2, 2, 2] },
      v,
      'linear',
    );
    expect(back.length).toBe(512);
    // Linear data survives the round trip where the coarse grid covers it (not past its last voxel).
    for (let k = 0; k <= 6; k++)
      expect(back[(k * 8 + 2) * 8 + 3]!).toBeCloseTo(v.data[(k * 8 + 2) * 8 + 3]!, 4);
  });
});

describe('preprocess', () => {
  it.each<[PreprocessStep, number[], number[]]>([
    [{ op: 'clip', min: -100, max: 100 }, [-200, 0, 50, 300], [-100, 0, 50, 100]],
    [{ op: 'scale', from: [-150, 250], to: [-1, 1] }, [-150, 50, 250, 450], [-1, 0, 1, 2]],
    [{ op: 'zscore', over: 'all' }, [1, 2, 3, 4], [-1.3416, -0.4472, 0.4472, 1.3416]],
    [{ op: 'zscore', over: 'nonzero', mean: 10, std: 2 }, [10, 12, 0, 14], [0, 1, -5, 2]],
    [{ op: 'percentile', lower: 0, upper: 100, to: [0, 1], clip: true }, [10, 20, 30, 50], [0, 0.25, 0.5, 1]],
    [
      { op: 'percentile', lower: 0, upper: 100, to: [0, 1], clip: false, over: 'above', threshold: 15 },
      [10, 20, 30, 40],
      [-0.5, 0, 0.5, 1],
    ],
  ])('%o', (step, input, expected) => {
    const d = Float32Array.from(input);
    applyStep(d, step);
    expected.forEach((e, n) => {
      expect(d[n]!).toBeCloseTo(e, 3);
    });
  });

  it('percentile interpolates like numpy', () => {
    expect(percentile(Float32Array.from([1, 2, 3, 4]), 50)).toBeCloseTo(2.5, 6);
    expect(percentile(Float32Array.from([1, 2, 3, 4, 5]), 99)).toBeCloseTo(4.96, 5);
  });
});
