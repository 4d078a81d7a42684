/**
 * The synthetic study generator, checked through an independent DICOM parser (dicom-parser,
 * not the dcmjs that wrote the files): geometry rebuilt from the files themselves, HU via
 * the rescale tags, lesions found where the ground truth says, UTF-8 names byte-exact.
 */
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { DEMO_PATIENTS, findPatient } from '../../scripts/demo/patients.js';
import { type GenerateStudyOptions, generateStudy, type SynthStudy } from '../../scripts/demo/synth/study.js';

const require = createRequire(import.meta.url);

interface DicomElement {
  dataOffset: number;
  length: number;
  items?: Array<{ dataSet: DicomDataSet }>;
}
interface DicomDataSet {
  byteArray: Uint8Array;
  elements: Record<string, DicomElement | undefined>;
  string(tag: string, index?: number): string | undefined;
  uint16(tag: string): number | undefined;
  floatString(tag: string, index?: number): number | undefined;
}
const dicomParser = require('dicom-parser') as { parseDicom(bytes: Uint8Array): DicomDataSet };

type V3 = [number, number, number];
const dot = (a: V3, b: V3) => a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
const cross = (a: V3, b: V3): V3 => [
  a[1] * b[2] - a[2] * b[1],
  a[2] * b[0] - a[0] * b[2],
  a[0] * b[1] - a[1] * b[0],
];

function nums(ds: DicomDataSet, tag: string): number[] {
  const s = ds.string(tag);
  if (s === undefined) throw new Error(`missing ${tag}`);
  return s.split('\\').map(Number);
}

/** Raw bytes of an element, without trailing space padding. */
function rawValue(ds: DicomDataSet, tag: string): Buffer {
  const el = ds.elements[tag];
  if (!el) throw new Error(`missing ${tag}`);
  let end = el.dataOffset + el.length;
  while (end > el.dataOffset && (ds.byteArray[end - 1] === 0x20 || ds.byteArray[end - 1] === 0)) end--;
  return Buffer.from(ds.byteArray.subarray(el.dataOffset, end));
}

interface Volume {
  rows: number;
  cols: number;
  slices: number;
  hu: Float32Array;
  origin: V3;
  rowDir: V3;
  colDir: V3;
  normal: V3;
  /** [row spacing, column spacing] */
  ps: [number, number];
  spacing: number;
  datasets: DicomDataSet[];
}

/** Rebuild a volume from files in any order: sort by IPP projected on the slice normal. */
function rebuild(instances: Uint8Array[]): Volume {
  const parsed = instances.map((b) => dicomParser.parseDicom(b));
  const first = parsed[0]!;
  const iop = nums(first, 'x00200037');
  const rowDir: V3 = [iop[0]!, iop[1]!, iop[2]!];
  const colDir: V3 = [iop[3]!, iop[4]!, iop[5]!];
  const normal = cross(rowDir, colDir);
  const withPos = parsed.map((ds) => ({ ds, ipp: nums(ds, 'x00200032') as V3 }));
  withPos.sort((a, b) => dot(a.ipp, normal) - dot(b.ipp, normal));
  const proj = withPos.map((w) => dot(w.ipp, normal));
  const spacing = (proj[proj.length - 1]! - proj[0]!) / (proj.length - 1);
  for (let k = 1; k < proj.length; k++) expect(proj[k]! - proj[k - 1]!).toBeCloseTo(spacing, 3);
  const rows = first.uint16('x00280010')!;
  const cols = first.uint16('x00280011')!;
  const ps = nums(first, 'x00280030') as [number, number];
  const hu = new Float32Array(rows * cols * withPos.length);
  withPos.forEach(({ ds }, k) => {
    expect(nums(ds, 'x00200037')).toEqual(iop);
    expect(ds.uint16('x00280010')).toBe(rows);
    const el = ds.elements.x7fe00010!;
    expect(el.length).toBe(rows * cols * 2);
    const slope = ds.floatString('x00281053') ?? 1;
    const intercept = ds.floatString('x00281052') ?? 0;
    const signed = ds.uint16('x00280103') === 1;
    const copy = ds.byteArray.slice(el.dataOffset, el.dataOffset + el.length);
    const px = signed ? new Int16Array(copy.buffer) : new Uint16Array(copy.buffer);
    for (let q = 0; q < px.length; q++) hu[k * rows * cols + q] = px[q]! * slope + intercept;
  });
  return {
    rows,
    cols,
    slices: withPos.length,
    hu,
    origin: withPos[0]!.ipp,
    rowDir,
    colDir,
    normal,
    ps,
    spacing,
    datasets: withPos.map((w) => w.ds),
  };
}

function toIndex(v: Volume, p: readonly number[]): V3 {
  const d: V3 = [p[0]! - v.origin[0], p[1]! - v.origin[1], p[2]! - v.origin[2]];
  return [dot(d, v.rowDir) / v.ps[1], dot(d, v.colDir) / v.ps[0], dot(d, v.normal) / v.spacing];
}

function at(v: Volume, i: number, j: number, k: number): number {
  return v.hu[k * v.rows * v.cols + j * v.cols + i]!;
}

/** Mean over a 3×3 in-plane patch around the voxel nearest to patient point p. */
function patchMean(v: Volume, p: readonly number[]): number {
  const [fi, fj, fk] = toIndex(v, p);
  const i = Math.round(fi);
  const j = Math.round(fj);
  const k = Math.round(fk);
  let s = 0;
  for (let dj = -1; dj <= 1; dj++) for (let di = -1; di <= 1; di++) s += at(v, i + di, j + dj, k);
  return s / 9;
}

const NOISE = 8;
const LIVER_HU = 110;
const ctOptions: GenerateStudyOptions = {
  seed: 20240611,
  patient: findPatient('hung'),
  modality: 'CT',
  rows: 128,
  cols: 128,
  slices: 60,
  noise: NOISE,
  lesions: [
    { diameterMm: 32, contrast: -60 },
    { diameterMm: 24, contrast: 60 },
  ],
  withMask: true,
};

let cached: SynthStudy | undefined;
function ct(): SynthStudy {
  cached ??= generateStudy(ctOptions);
  return cached;
}

describe('synthetic CT: geometry read back with dicom-parser', () => {
  it('has consistent axial geometry matching the ground truth', () => {
    const s = ct();
    const g = s.groundTruth.geometry;
    const series = s.series[0]!;
    // Shuffle: the reader must not depend on file order.
    const shuffled = [...series.instances].reverse();
    const v = rebuild(shuffled);
    expect(v.rowDir).toEqual([1, 0, 0]);
    expect(v.colDir).toEqual([0, 1, 0]);
    expect(v.slices).toBe(60);
    expect(v.ps).toEqual(g.pixelSpacing);
    const ds0 = v.datasets[0]!;
    expect(v.spacing).toBeCloseTo(ds0.floatString('x00180088')!, 3); // SpacingBetweenSlices
    expect(v.spacing).toBeCloseTo(g.spacingBetweenSlices, 3);
    expect(ds0.floatString('x00180050')).toBeCloseTo(g.sliceThickness, 3);
    // Instance order is head→feet: InstanceNumber 1 is the most superior slice.
    const top = dicomParser.parseDicom(series.instances[0]!);
    expect(top.string('x00200013')).toBe('1');
    expect(nums(top, 'x00200032')[2]).toBeCloseTo(g.origin[2], 3);
    expect(nums(top, 'x00200032')[2]).toBeGreaterThan(v.origin[2]);
    for (const ds of v.datasets) {
      expect(ds.string('x00020010')).toBe('1.2.840.10008.1.2.1');
      expect(ds.string('x00080016')).toBe('1.2.840.10008.5.1.4.1.1.2');
      expect(ds.string('x00020002')).toBe(ds.string('x00080016'));
      expect(ds.string('x00020003')).toBe(ds.string('x00080018'));
      expect(ds.string('x00080060')).toBe('CT');
      expect(ds.string('x00180015')).toBe('ABDOMEN');
      expect(ds.string('x00280004')).toBe('MONOCHROME2');
      expect(ds.uint16('x00280100')).toBe(16);
      expect(ds.uint16('x00280002')).toBe(1);
      expect(ds.floatString('x00281052')).toBe(-1024);
      expect(ds.floatString('x00281053')).toBe(1);
      expect(ds.string('x00200052')).toBe(s.study.frameOfReferenceUid);
      expect(ds.string('x0020000d')).toBe(s.study.studyUid);
      expect(ds.string('x0020000e')).toBe(series.seriesUid);
      expect(ds.string('x00080050')).toBe(s.study.accessionNumber);
      expect(ds.string('x00080020')).toMatch(/^\d{8}$/);
      expect(ds.string('x00281050')).toBeDefined();
      expect(ds.string('x00281051')).toBeDefined();
    }
    // Real HU: air outside the body, fat and bone present.
    let min = Number.POSITIVE_INFINITY;
    let max = Number.NEGATIVE_INFINITY;
    for (const h of v.hu) {
      if (h < min) min = h;
      if (h > max) max = h;
    }
    expect(min).toBeLessThanOrEqual(-1000);
    expect(max).toBeGreaterThan(400);
    expect(at(v, 2, 2, 30)).toBeLessThan(-950);
  });

  it('UIDs are 2.25 UIDs, unique per instance, stable per seed', () => {
    const s = ct();
    const uids = s.series.flatMap((x) => x.sopInstanceUids);
    expect(new Set(uids).size).toBe(uids.length);
    for (const u of [...uids, s.study.studyUid, s.study.frameOfReferenceUid, s.series[0]!.seriesUid]) {
      expect(u).toMatch(/^2\.25\.(0|[1-9]\d*)$/);
      expect(u.length).toBeLessThanOrEqual(64);
    }
    const fromFiles = s.series[0]!.instances.map((b) => dicomParser.parseDicom(b).string('x00080018'));
    expect(fromFiles).toEqual(s.series[0]!.sopInstanceUids);
  });

  it('each lesion is where the ground truth says, with the right intensity, surrounded by liver', () => {
    const s = ct();
    const v = rebuild(s.series[0]!.instances);
    expect(s.groundTruth.lesions).toHaveLength(2);
    for (const l of s.groundTruth.lesions) {
      expect(l.organ).toBe('liver');
      // Ground-truth voxel indices agree with the geometry read back (k is in instance order, the rebuilt volume ascends in z).
      const idx = toIndex(v, l.centreMm);
      expect(idx[0]).toBeCloseTo(l.centreVoxel[0], 2);
      expect(idx[1]).toBeCloseTo(l.centreVoxel[1], 2);
      expect(idx[2]).toBeCloseTo(v.slices - 1 - l.centreVoxel[2], 2);

      const expected = l.intensity[0]!.nominal;
      expect(expected).toBeCloseTo(LIVER_HU + l.contrast, 0);
      expect(Math.abs(patchMean(v, l.centreMm) - expected)).toBeLessThan((4 * NOISE) / 3 + 3);
      expect(Math.abs(l.intensity[0]!.measuredMean - expected)).toBeLessThan(8);

      // Just outside the lesion, in-plane in four directions: liver.
      const r = l.maxRadiusMm + 2 * v.ps[0];
      const outside: number[] = [];
      for (const [dx, dy] of [
        [1, 0],
        [-1, 0],
        [0, 1],
        [0, -1],
      ] as const) {
        const p = [l.centreMm[0] + dx * r, l.centreMm[1] + dy * r, l.centreMm[2]];
        const [i, j, k] = toIndex(v, p).map(Math.round) as V3;
        outside.push(at(v, i, j, k));
        expect(Math.abs(at(v, i, j, k) - LIVER_HU)).toBeLessThan(4 * NOISE + 2);
      }
      const mean = outside.reduce((a, b) => a + b, 0) / outside.length;
      expect(Math.abs(mean - LIVER_HU)).toBeLessThan(2 * NOISE + 2);
    }
  });

  it('lesion volume segmented from the files matches the ground truth', () => {
    const s = ct();
    const v = rebuild(s.series[0]!.instances);
    const voxelVolume = v.ps[0] * v.ps[1] * v.spacing;
    for (const l of s.groundTruth.lesions) {
      const lesionHu = l.intensity[0]!.nominal;
      const threshold = (lesionHu + LIVER_HU) / 2;
      const below = lesionHu < LIVER_HU;
      const [ci, cj, ck] = toIndex(v, l.centreMm);
      const reach = l.maxRadiusMm + 1.5 * v.ps[0];
      let count = 0;
      const rk = Math.ceil(reach / v.spacing);
      const rij = Math.ceil(reach / v.ps[0]);
      for (let k = Math.round(ck) - rk; k <= Math.round(ck) + rk; k++) {
        for (let j = Math.round(cj) - rij; j <= Math.round(cj) + rij; j++) {
          for (let i = Math.round(ci) - rij; i <= Math.round(ci) + rij; i++) {
            const d = Math.hypot((i - ci) * v.ps[1], (j - cj) * v.ps[0], (k - ck) * v.spacing);
            if (d > reach) continue;
            const h = at(v, i, j, k);
            if (below ? h < threshold : h > threshold) count++;
          }
        }
      }
      const measured = count * voxelVolume;
      expect(Math.abs(measured - l.volumeMm3) / l.volumeMm3).toBeLessThan(0.2);
      expect(Math.abs(l.maskVolumeMm3 - l.volumeMm3) / l.volumeMm3).toBeLessThan(0.2);
      // Geometry invariants of the reported sizes.
      expect(l.longestDiameterMm).toBeGreaterThanOrEqual(2 * l.minRadiusMm);
      expect(l.longestDiameterMm).toBeLessThanOrEqual(2 * l.maxRadiusMm + 1e-6);
      expect(l.volumeMm3).toBeGreaterThan((4 / 3) * Math.PI * l.minRadiusMm ** 3);
      expect(l.volumeMm3).toBeLessThan((4 / 3) * Math.PI * l.maxRadiusMm ** 3);
    }
  });

  it('returns a label mask consistent with the ground truth', () => {
    const s = ct();
    const mask = s.lesionMask!;
    const g = s.groundTruth.geometry;
    expect(mask.length).toBe(g.rows * g.cols * g.slices);
    for (const l of s.groundTruth.lesions) {
      let n = 0;
      for (const m of mask) if (m === l.label) n++;
      expect(n).toBe(l.maskVoxelCount);
      const [i, j, k] = l.centreVoxel.map(Math.round) as V3;
      expect(mask[k * g.rows * g.cols + j * g.cols + i]).toBe(l.label);
    }
  });

  it('writes Vietnamese names as exact UTF-8 under ISO_IR 192, with all patient identifiers', () => {
    const s = ct();
    const patient = findPatient('hung');
    const ds = dicomParser.parseDicom(s.series[0]!.instances[5]!);
    expect(ds.string('x00080005')).toBe('ISO_IR 192');
    expect(rawValue(ds, 'x00100010').equals(Buffer.from(patient.name.normalize('NFC'), 'utf8'))).toBe(true);
    expect(rawValue(ds, 'x00100010').toString('utf8')).toBe('Đặng^Văn Hùng');
    expect(rawValue(ds, 'x00080080').toString('utf8')).toBe('Trung tâm Y tế Huyện Demo');
    expect(ds.string('x00100020')).toBe(patient.patientId);
    expect(ds.string('x00100021')).toBe(patient.issuerOfPatientId);
    expect(ds.string('x00100030')).toBe(patient.birthDate);
    expect(ds.string('x00100040')).toBe('M');
    expect(ds.string('x00020016')).toBe('HUYEN_CT');
    const others = ds.elements.x00101002!.items!.map((it) => [
      it.dataSet.string('x00100020'),
      it.dataSet.string('x00100021'),
    ]);
    expect(others).toEqual([
      [patient.bhxh, 'VN-BHXH'],
      [patient.cccd, 'VN-CCCD'],
    ]);
    // Odd-length names are padded with a space, never a NUL, and still round-trip.
    for (const p of DEMO_PATIENTS) {
      const one = generateStudy({
        seed: 5,
        patient: p,
        modality: 'CT',
        rows: 32,
        cols: 32,
        slices: 2,
        lesions: 0,
      });
      const d = dicomParser.parseDicom(one.series[0]!.instances[0]!);
      const el = d.elements.x00100010!;
      expect(el.length % 2).toBe(0);
      expect(rawValue(d, 'x00100010').toString('utf8')).toBe(p.name);
      expect(rawValue(d, 'x00100010').toString('utf8').normalize('NFC')).toBe(p.name);
    }
  });

  it('is deterministic: same seed, same bytes; another seed, other UIDs', () => {
    const opts: GenerateStudyOptions = {
      seed: 99,
      patient: findPatient('khai'),
      modality: 'CT',
      rows: 64,
      cols: 64,
      slices: 40,
      lesions: 1,
    };
    const a = generateStudy(opts);
    const b = generateStudy(opts);
    expect(JSON.stringify(a.groundTruth)).toBe(JSON.stringify(b.groundTruth));
    a.series[0]!.instances.forEach((bytes, k) => {
      expect(Buffer.from(bytes).equals(Buffer.from(b.series[0]!.instances[k]!))).toBe(true);
    });
    const c = generateStudy({ ...opts, seed: 100 });
    expect(c.study.studyUid).not.toBe(a.study.studyUid);
    expect(c.series[0]!.sopInstanceUids[0]).not.toBe(a.series[0]!.sopInstanceUids[0]);
  });

  it('signed and unsigned CT storage decode to the same HU', () => {
    const opts: GenerateStudyOptions = {
      seed: 31,
      patient: findPatient('duc'),
      modality: 'CT',
      rows: 64,
      cols: 64,
      slices: 40,
      lesions: 1,
    };
    const u = rebuild(generateStudy({ ...opts, ctPixelRepresentation: 0 }).series[0]!.instances);
    const sgn = generateStudy({ ...opts, ctPixelRepresentation: 1 });
    const sv = rebuild(sgn.series[0]!.instances);
    expect(sv.datasets[0]!.uint16('x00280103')).toBe(1);
    expect(u.datasets[0]!.uint16('x00280103')).toBe(0);
    // Unsigned 12-bit storage clamps at stored 0 (−1024 HU); signed keeps noise below it.
    let mismatches = 0;
    let belowAir = 0;
    for (let q = 0; q < u.hu.length; q++) {
      if (sv.hu[q]! < -1024) belowAir++;
      if (Math.max(sv.hu[q]!, -1024) !== u.hu[q]) mismatches++;
    }
    expect(mismatches).toBe(0);
    expect(belowAir).toBeGreaterThan(0);
  });
});

describe('synthetic MR', () => {
  it('abdomen: two series share the frame of reference; slice gap; lesion brighter than liver', () => {
    const s = generateStudy({
      seed: 77,
      patient: findPatient('anh'),
      modality: 'MR',
      rows: 128,
      cols: 128,
      slices: 24,
      noise: 6,
      biasField: 0,
      lesions: [{ diameterMm: 26, contrast: 500 }],
    });
    expect(s.series.map((x) => x.kind)).toEqual(['mr-t2', 'mr-t2-fatsat']);
    const frames = new Set<string>();
    for (const series of s.series) {
      const v = rebuild(series.instances);
      const ds = v.datasets[0]!;
      expect(ds.string('x00080016')).toBe('1.2.840.10008.5.1.4.1.1.4');
      expect(ds.string('x00080060')).toBe('MR');
      expect(v.spacing).toBeGreaterThan(ds.floatString('x00180050')!);
      expect(v.spacing).toBeCloseTo(ds.floatString('x00180088')!, 3);
      for (const d of v.datasets) frames.add(d.string('x00200052')!);
      const l = s.groundTruth.lesions[0]!;
      const info = l.intensity.find((x) => x.seriesUid === series.seriesUid)!;
      expect(info.nominal).toBeGreaterThan(info.host);
      expect(Math.abs(patchMean(v, l.centreMm) - info.nominal)).toBeLessThan(20);
      const r = l.maxRadiusMm + 2 * v.ps[0];
      expect(
        Math.abs(patchMean(v, [l.centreMm[0] + r, l.centreMm[1], l.centreMm[2]]) - info.host),
      ).toBeLessThan(25);
    }
    expect([...frames]).toEqual([s.study.frameOfReferenceUid]);
  });

  it('pelvis: rectal-wall lesion at the ground-truth position', () => {
    const s = generateStudy({
      seed: 78,
      patient: findPatient('chau'),
      modality: 'MR',
      region: 'pelvis',
      rows: 128,
      cols: 128,
      noise: 6,
      biasField: 0,
      lesions: [{ diameterMm: 24 }],
    });
    const v = rebuild(s.series[0]!.instances);
    expect(v.datasets[0]!.string('x00180015')).toBe('PELVIS');
    const l = s.groundTruth.lesions[0]!;
    expect(l.organ).toBe('rectum');
    expect(Math.abs(patchMean(v, l.centreMm) - l.intensity[0]!.nominal)).toBeLessThan(25);
  });
});
