/**
 * generateStudy: one synthetic study (one or more series sharing a frame of reference and one
 * lesion ground truth) as DICOM Part 10 buffers.
 *
 * Pipeline per series and slice: fill air → paint anatomy cross-sections (precomputed once
 * per slice, shared by all series) → paint lesions (the first series also fills the label
 * mask) → MR coil shading → noise (Gaussian for CT, Rician for MR) → quantise to stored
 * values → write Part 10. Memory stays at a few slice buffers plus the output files (and
 * the optional label mask).
 *
 * Determinism: every random draw comes from Rng streams keyed by (seed, purpose); dates come
 * from the seed; nothing reads the clock. Same options → byte-identical files.
 */

import { BHXH_ISSUER, CCCD_ISSUER, type DemoFacility, type DemoPatient, findFacility } from '../patients.js';
import { type Anatomy, buildAnatomy, type Shape2D, sliceShapes } from './anatomy.js';
import { CT_IMAGE_STORAGE, ds, MR_IMAGE_STORAGE, type NaturalDataset, writePart10 } from './dicom-writer.js';
import {
  axialGeometry,
  patientToVoxel,
  slicePosition,
  type Vec3,
  type VolumeGeometry,
  voxelVolume,
} from './geometry.js';
import { type Lesion, type LesionOrgan, type LesionSpec, paintLesionSlice, placeLesions } from './lesions.js';
import { Rng } from './random.js';
import { paintShape, type SliceGrid } from './raster.js';
import { modalityOf, type SeriesKind, Tissue, tissueTable } from './tissues.js';
import { uidFor } from './uids.js';

export type Modality = 'CT' | 'MR';
export type BodyRegion = 'abdomen' | 'pelvis';

export interface GenerateStudyOptions {
  /** Drives everything random (anatomy, lesions, noise, UIDs, default dates). */
  seed: number;
  /**
   * Seed for the patient's body and lesion draws (default: seed). Give two studies of one
   * patient the same anatomySeed to get the same anatomy at a different table position,
   * as a prior and its follow-up would have.
   */
  anatomySeed?: number;
  patient: DemoPatient;
  /** Defaults to the patient's own facility. */
  facility?: DemoFacility;
  modality: Modality;
  /** CT is always abdomen(-pelvis); MR may be 'abdomen' (liver) or 'pelvis' (rectum). */
  region?: BodyRegion;
  /** Series to produce; default CT: portal venous; MR: T2 and T2 fat-saturated. */
  series?: SeriesKind[];
  rows?: number;
  cols?: number;
  slices?: number;
  /** mm; CT default covers ~300 mm (2.5 mm for 120 slices), MR abdomen 6 mm, pelvis 4 mm. */
  sliceThickness?: number;
  /** mm; CT default = thickness (contiguous), MR default = thickness × 1.2 (gap). */
  spacingBetweenSlices?: number;
  /** Square pixels (mm); default field of view / cols (CT and MR abdomen 380 mm, pelvis 300 mm). */
  pixelSpacing?: number;
  /** Number of lesions (random specs) or explicit specs. Default 1–3. */
  lesions?: number | LesionSpec[];
  /** Noise standard deviation (HU for CT, signal units for MR). Default CT 12, MR 10. */
  noise?: number;
  /** MR receive-coil shading amplitude (0 = flat). Default 0.12 for MR; ignored for CT. */
  biasField?: number;
  /** CT stored-value representation: 0 = unsigned 12-bit, 1 = signed 16-bit; both intercept −1024. */
  ctPixelRepresentation?: 0 | 1;
  /** DICOM DA/TM; default derived from the seed (2024-01-01 + 0..540 days, 07:00–18:00). */
  studyDate?: string;
  studyTime?: string;
  accessionNumber?: string;
  studyDescription?: string;
  /** Return the lesion label mask (value = lesion index + 1, 0 = background). */
  withMask?: boolean;
}

export interface SynthSeries {
  seriesUid: string;
  seriesNumber: number;
  kind: SeriesKind;
  modality: Modality;
  description: string;
  sopClassUid: string;
  /** Part 10 files in instance order (index k ↔ InstanceNumber k + 1 ↔ ground-truth slice k). */
  instances: Uint8Array[];
  sopInstanceUids: string[];
}

export interface SynthStudyInfo {
  studyUid: string;
  studyId: string;
  accessionNumber: string;
  studyDate: string;
  studyTime: string;
  description: string;
  modality: Modality;
  bodyPart: 'ABDOMEN' | 'PELVIS';
  frameOfReferenceUid: string;
  patientKey: string;
  patientId: string;
  issuerOfPatientId: string;
  facilityId: string;
}

export interface GroundTruthLesion {
  id: string;
  /** Mask label (index + 1). */
  label: number;
  organ: LesionOrgan;
  centreMm: Vec3;
  /** Fractional voxel indices [i (column), j (row), k (instance order)] of the centre. */
  centreVoxel: Vec3;
  /** Nominal semi-axes (mm) before boundary irregularity; see minRadiusMm/maxRadiusMm for the real extent. */
  radiiMm: Vec3;
  /** Row-major rotation of the semi-axes into patient space. */
  rotation: number[];
  irregularity: number;
  minRadiusMm: number;
  maxRadiusMm: number;
  longestDiameterMm: number;
  axialLongestDiameterMm: number;
  volumeMm3: number;
  /** Intensity delta to the host organ in the first series' units. */
  contrast: number;
  /** Per series: noise-free lesion value, host value, and the mean over the mask of what was written. */
  intensity: Array<{
    seriesUid: string;
    kind: SeriesKind;
    nominal: number;
    host: number;
    measuredMean: number;
  }>;
  /** Voxels whose centre is inside (the mask); maskVolumeMm3 = count × voxel volume. */
  maskVoxelCount: number;
  maskVolumeMm3: number;
}

export interface GroundTruth {
  format: 'radlink-synth-ground-truth';
  version: 1;
  seed: number;
  study: SynthStudyInfo;
  geometry: VolumeGeometry;
  /** How voxel indices map to patient space (see geometry.ts). */
  indexConvention: string;
  series: Array<{
    seriesUid: string;
    seriesNumber: number;
    kind: SeriesKind;
    description: string;
    sopInstanceUids: string[];
  }>;
  lesions: GroundTruthLesion[];
}

export interface SynthStudy {
  study: SynthStudyInfo;
  series: SynthSeries[];
  groundTruth: GroundTruth;
  /** Present with withMask: Uint8 labels, index = k·rows·cols + j·cols + i. */
  lesionMask?: Uint8Array;
}

const INDEX_CONVENTION =
  'voxel [i,j,k]: i = column, j = row, k = instance order (InstanceNumber - 1); ' +
  'patient = origin + k*sliceStep + i*pixelSpacing[1]*rowDir + j*pixelSpacing[0]*colDir (LPS mm)';

const SERIES_META: Record<SeriesKind, { description: string; protocol: string }> = {
  'ct-portal-venous': { description: 'ABD PV', protocol: 'Bung co thuoc - tinh mach cua' },
  'ct-non-contrast': { description: 'ABD KHONG THUOC', protocol: 'Bung khong thuoc' },
  'mr-t2': { description: 'T2 TSE AX', protocol: 'T2 TSE axial' },
  'mr-t2-fatsat': { description: 'T2 TSE FS AX', protocol: 'T2 TSE SPAIR axial' },
};

function pad(n: number, width: number): string {
  return String(n).padStart(width, '0');
}

/** Seed-derived study date/time, computed with UTC arithmetic (no clock). */
function seededDateTime(rng: Rng): { date: string; time: string } {
  const day = new Date(Date.UTC(2024, 0, 1) + rng.int(0, 540) * 86_400_000);
  const seconds = rng.int(7 * 3600, 18 * 3600);
  return {
    date: `${day.getUTCFullYear()}${pad(day.getUTCMonth() + 1, 2)}${pad(day.getUTCDate(), 2)}`,
    time: `${pad(Math.floor(seconds / 3600), 2)}${pad(Math.floor(seconds / 60) % 60, 2)}${pad(seconds % 60, 2)}`,
  };
}

/** TM + seconds (wrapping past midnight is not a concern for daytime studies). */
function addSeconds(tm: string, add: number): string {
  const s = Number(tm.slice(0, 2)) * 3600 + Number(tm.slice(2, 4)) * 60 + Number(tm.slice(4, 6)) + add;
  const whole = Math.floor(s);
  const frac = Math.round((s - whole) * 1e6);
  return `${pad(Math.floor(whole / 3600) % 24, 2)}${pad(Math.floor(whole / 60) % 60, 2)}${pad(whole % 60, 2)}.${pad(frac, 6)}`;
}

function patientAge(birth: string, studyDate: string): string {
  let years = Number(studyDate.slice(0, 4)) - Number(birth.slice(0, 4));
  if (studyDate.slice(4) < birth.slice(4)) years--;
  return `${pad(Math.max(0, years), 3)}Y`;
}

interface ResolvedParams {
  region: BodyRegion;
  kinds: SeriesKind[];
  geometry: VolumeGeometry;
  noise: number;
  bias: number;
  anatomy: Anatomy;
}

function resolveParams(o: GenerateStudyOptions, rng: Rng): ResolvedParams {
  const region: BodyRegion = o.modality === 'CT' ? 'abdomen' : (o.region ?? 'abdomen');
  const kinds = o.series ?? (o.modality === 'CT' ? ['ct-portal-venous'] : ['mr-t2', 'mr-t2-fatsat']);
  for (const k of kinds) {
    if (modalityOf(k) !== o.modality)
      throw new Error(`series kind ${k} does not match modality ${o.modality}`);
  }
  const rows = o.rows ?? 256;
  const cols = o.cols ?? rows;
  const isCt = o.modality === 'CT';
  const slices = o.slices ?? (isCt ? 120 : region === 'pelvis' ? 28 : 30);
  const fov = region === 'pelvis' ? 300 : 380;
  const pixelSpacing = Math.round((o.pixelSpacing ?? fov / cols) * 1e4) / 1e4;
  const coverage = isCt ? 300 : region === 'pelvis' ? 125 : 215;
  const thickness =
    Math.round((o.sliceThickness ?? (isCt ? coverage / slices : coverage / slices / 1.2)) * 100) / 100;
  const spacing = Math.round((o.spacingBetweenSlices ?? (isCt ? thickness : thickness * 1.2)) * 1000) / 1000;
  if (!(rows >= 16 && cols >= 16 && slices >= 1 && pixelSpacing > 0 && thickness > 0 && spacing > 0)) {
    throw new Error('invalid geometry options');
  }
  // The table position puts the liver dome somewhere in [-300, 100] mm.
  const zDome = Math.round(rng.range(-300, 100) * 2) / 2;
  const anatomy = buildAnatomy(new Rng(o.anatomySeed ?? o.seed, 'anatomy'), { sex: o.patient.sex, zDome });
  const zTop = Math.round((isCt ? zDome + 25 : region === 'pelvis' ? zDome - 262 : zDome + 18) * 100) / 100;
  const geometry = axialGeometry({
    rows,
    cols,
    slices,
    pixelSpacing,
    sliceThickness: thickness,
    spacingBetweenSlices: spacing,
    zTop,
    yCentre: Math.round(anatomy.yBack - 125),
  });
  geometry.origin = [ds(geometry.origin[0]), ds(geometry.origin[1]), ds(geometry.origin[2])];
  return {
    region,
    kinds,
    geometry,
    noise: o.noise ?? (isCt ? 12 : 10),
    bias: isCt ? 0 : (o.biasField ?? 0.12),
    anatomy,
  };
}

export function generateStudy(o: GenerateStudyOptions): SynthStudy {
  const rng = new Rng(o.seed, 'study');
  const facility = o.facility ?? findFacility(o.patient.facilityId);
  const p = resolveParams(o, rng);
  const g = p.geometry;
  const isCt = o.modality === 'CT';
  const when = seededDateTime(rng);
  const studyDate = o.studyDate ?? when.date;
  const studyTime = o.studyTime ?? when.time;
  const accessionNumber = o.accessionNumber ?? `RL${studyDate.slice(2)}${pad(rng.int(0, 9999), 4)}`;

  const studyUid = uidFor(o.seed, 'study');
  const frameOfReferenceUid = uidFor(o.seed, 'frame-of-reference');
  const bodyPart = p.region === 'pelvis' ? 'PELVIS' : 'ABDOMEN';
  const description =
    o.studyDescription ??
    (isCt
      ? 'CT ổ bụng có tiêm thuốc cản quang'
      : p.region === 'pelvis'
        ? 'MRI tiểu khung (trực tràng)'
        : 'MRI ổ bụng');
  const study: SynthStudyInfo = {
    studyUid,
    studyId: pad(o.seed % 100000, 5),
    accessionNumber,
    studyDate,
    studyTime,
    description,
    modality: o.modality,
    bodyPart,
    frameOfReferenceUid,
    patientKey: o.patient.key,
    patientId: o.patient.patientId,
    issuerOfPatientId: o.patient.issuerOfPatientId,
    facilityId: facility.id,
  };

  // Lesions.
  const lesionRng = new Rng(o.anatomySeed ?? o.seed, 'lesions');
  const defaultOrgans: LesionOrgan[] = p.region === 'pelvis' ? ['rectum'] : ['liver'];
  const specs: LesionSpec[] =
    typeof o.lesions === 'number'
      ? Array.from({ length: o.lesions }, () => ({}))
      : (o.lesions ?? Array.from({ length: lesionRng.int(1, 3) }, () => ({})));
  const lesions = placeLesions(
    lesionRng,
    { anatomy: p.anatomy, geometry: g, modality: o.modality, defaultOrgans },
    specs,
  );

  // Per-slice anatomy cross-sections, shared by all series.
  const zs: number[] = [];
  const shapes: Shape2D[][] = [];
  for (let k = 0; k < g.slices; k++) {
    const z = slicePosition(g, k)[2];
    zs.push(z);
    shapes.push(sliceShapes(p.anatomy, z));
  }
  const grid: SliceGrid = {
    rows: g.rows,
    cols: g.cols,
    x0: g.origin[0],
    y0: g.origin[1],
    dx: g.pixelSpacing[1],
    dy: g.pixelSpacing[0],
  };
  const n = g.rows * g.cols;
  const mask = new Uint8Array(n * g.slices);

  // MR receive-coil shading: brighter near the anterior and posterior surface coils.
  let biasMap: Float32Array | null = null;
  if (p.bias > 0) {
    biasMap = new Float32Array(n);
    const yMid = p.anatomy.yBack - 110;
    for (let j = 0; j < g.rows; j++) {
      const t = (grid.y0 + j * grid.dy - yMid) / 130;
      for (let i = 0; i < g.cols; i++) {
        const s = (grid.x0 + i * grid.dx) / 200;
        biasMap[j * g.cols + i] = 1 + p.bias * (t * t + 0.3 * s * s - 0.5);
      }
    }
  }

  const primaryTable = tissueTable(p.kinds[0]!);
  const series: SynthSeries[] = [];
  const lesionStats = lesions.map(() => ({ count: 0, sums: p.kinds.map(() => 0) }));
  const ctRep = o.ctPixelRepresentation ?? 0;

  p.kinds.forEach((kind, sIndex) => {
    const table = tissueTable(kind);
    const seriesNumber = sIndex + 1 + (isCt ? 1 : 0);
    const seriesUid = uidFor(o.seed, 'series', seriesNumber);
    const meta = SERIES_META[kind];
    const thicknessLabel = `${g.sliceThickness}mm`;
    const seriesDescription = `${meta.description} ${thicknessLabel}`;
    const sopClassUid = isCt ? CT_IMAGE_STORAGE : MR_IMAGE_STORAGE;
    const lesionValues = lesions.map((l) => {
      const hostPrimary = primaryTable[l.hostTissue]!;
      const host = table[l.hostTissue]!;
      return host + (l.contrast * host) / hostPrimary;
    });
    const noiseRng = new Rng(o.seed, `noise/${kind}/${sIndex}`);
    const seriesTime = addSeconds(studyTime, 60 + sIndex * 240);

    // Module attributes shared by every instance of the series.
    const base: NaturalDataset = {
      SpecificCharacterSet: 'ISO_IR 192',
      ImageType: ['ORIGINAL', 'PRIMARY', 'AXIAL'],
      SOPClassUID: sopClassUid,
      StudyDate: studyDate,
      SeriesDate: studyDate,
      AcquisitionDate: studyDate,
      ContentDate: studyDate,
      StudyTime: studyTime,
      SeriesTime: seriesTime,
      AccessionNumber: accessionNumber,
      Modality: o.modality,
      Manufacturer: 'RadLink',
      InstitutionName: facility.name,
      ReferringPhysicianName: '',
      StationName: facility.aeTitle,
      StudyDescription: description,
      SeriesDescription: seriesDescription,
      ProtocolName: meta.protocol,
      ManufacturerModelName: 'RadLink Synthetic Phantom',
      SoftwareVersions: 'radlink-synth 1',
      ImageComments: 'SYNTHETIC PHANTOM - NOT A REAL PATIENT',
      PatientName: o.patient.name.normalize('NFC'),
      PatientID: o.patient.patientId,
      IssuerOfPatientID: o.patient.issuerOfPatientId,
      TypeOfPatientID: 'TEXT',
      PatientBirthDate: o.patient.birthDate,
      PatientSex: o.patient.sex,
      OtherPatientIDsSequence: [
        { PatientID: o.patient.bhxh, IssuerOfPatientID: BHXH_ISSUER, TypeOfPatientID: 'TEXT' },
        { PatientID: o.patient.cccd, IssuerOfPatientID: CCCD_ISSUER, TypeOfPatientID: 'TEXT' },
      ],
      PatientAge: patientAge(o.patient.birthDate, studyDate),
      BodyPartExamined: bodyPart,
      SliceThickness: g.sliceThickness,
      SpacingBetweenSlices: g.spacingBetweenSlices,
      PatientPosition: 'HFS',
      StudyInstanceUID: studyUid,
      SeriesInstanceUID: seriesUid,
      StudyID: study.studyId,
      SeriesNumber: seriesNumber,
      AcquisitionNumber: 1,
      ImageOrientationPatient: [...g.orientation],
      FrameOfReferenceUID: frameOfReferenceUid,
      PositionReferenceIndicator: '',
      SamplesPerPixel: 1,
      PhotometricInterpretation: 'MONOCHROME2',
      Rows: g.rows,
      Columns: g.cols,
      PixelSpacing: [g.pixelSpacing[0], g.pixelSpacing[1]],
      BitsAllocated: 16,
      BurnedInAnnotation: 'NO',
    };
    if (isCt) {
      Object.assign(base, {
        KVP: 120,
        XRayTubeCurrent: 220,
        ConvolutionKernel: 'STANDARD',
        ContrastBolusAgent: kind === 'ct-portal-venous' ? 'Iohexol 350' : '',
        BitsStored: ctRep === 0 ? 12 : 16,
        HighBit: ctRep === 0 ? 11 : 15,
        PixelRepresentation: ctRep,
        WindowCenter: 40,
        WindowWidth: 400,
        WindowCenterWidthExplanation: 'ABDOMEN',
        RescaleIntercept: -1024,
        RescaleSlope: 1,
        RescaleType: 'HU',
      });
    } else {
      const fs = kind === 'mr-t2-fatsat';
      Object.assign(base, {
        ScanningSequence: 'SE',
        SequenceVariant: 'SK',
        ScanOptions: fs ? 'FS' : '',
        MRAcquisitionType: '2D',
        SequenceName: '*tse2d1_19',
        RepetitionTime: 4200,
        EchoTime: 96,
        EchoTrainLength: 19,
        MagneticFieldStrength: 1.5,
        ImagingFrequency: 63.87,
        ImagedNucleus: '1H',
        BitsStored: 12,
        HighBit: 11,
        PixelRepresentation: 0,
        WindowCenter: fs ? 550 : 650,
        WindowWidth: fs ? 1100 : 1300,
      });
    }

    const instances: Uint8Array[] = [];
    const sopInstanceUids: string[] = [];
    const buf = new Float32Array(n);
    const n1 = new Float32Array(n);
    const n2 = isCt ? null : new Float32Array(n);
    const airValue = table[Tissue.Air]!;
    for (let k = 0; k < g.slices; k++) {
      const z = zs[k]!;
      buf.fill(airValue);
      for (const s of shapes[k]!) paintShape(buf, grid, s, table[s.tissue]!);
      const maskSlice = mask.subarray(k * n, (k + 1) * n);
      lesions.forEach((l, li) => {
        const inside = paintLesionSlice(
          buf,
          grid,
          l,
          z,
          lesionValues[li]!,
          sIndex === 0 ? maskSlice : null,
          li + 1,
        );
        if (sIndex === 0) lesionStats[li]!.count += inside;
      });
      if (biasMap) for (let q = 0; q < n; q++) buf[q] = buf[q]! * biasMap[q]!;
      noiseRng.fillNormal(n1, p.noise);
      let pixels: Int16Array | Uint16Array;
      if (isCt) {
        const lo = ctRep === 0 ? 0 : -32768;
        const hi = ctRep === 0 ? 4095 : 32767;
        pixels = ctRep === 0 ? new Uint16Array(n) : new Int16Array(n);
        for (let q = 0; q < n; q++) {
          let v = Math.round(buf[q]! + n1[q]! + 1024);
          if (v < lo) v = lo;
          else if (v > hi) v = hi;
          pixels[q] = v;
        }
      } else {
        noiseRng.fillNormal(n2!, p.noise);
        pixels = new Uint16Array(n);
        for (let q = 0; q < n; q++) {
          const re = buf[q]! + n1[q]!;
          const im = n2![q]!;
          let v = Math.round(Math.sqrt(re * re + im * im));
          if (v > 4095) v = 4095;
          pixels[q] = v;
        }
      }
      if (lesions.length > 0) {
        const offset = isCt ? -1024 : 0;
        for (let q = 0; q < n; q++) {
          const lab = maskSlice[q]!;
          if (lab !== 0) lesionStats[lab - 1]!.sums[sIndex]! += pixels[q]! + offset;
        }
      }
      const sopInstanceUid = uidFor(o.seed, 'series', seriesNumber, 'instance', k + 1);
      const ipp = slicePosition(g, k);
      const acqTime = addSeconds(seriesTime, k * 0.5);
      const dataset: NaturalDataset = {
        ...base,
        SOPInstanceUID: sopInstanceUid,
        AcquisitionTime: acqTime,
        ContentTime: acqTime,
        InstanceNumber: k + 1,
        ImagePositionPatient: [ds(ipp[0]), ds(ipp[1]), ds(ipp[2])],
        SliceLocation: ds(ipp[2]),
      };
      instances.push(
        writePart10({ dataset, pixelData: pixels.buffer as ArrayBuffer, sourceAeTitle: facility.aeTitle }),
      );
      sopInstanceUids.push(sopInstanceUid);
    }
    series.push({
      seriesUid,
      seriesNumber,
      kind,
      modality: o.modality,
      description: seriesDescription,
      sopClassUid,
      instances,
      sopInstanceUids,
    });
  });

  const vv = voxelVolume(g);
  const gtLesions: GroundTruthLesion[] = lesions.map((l: Lesion, li) => {
    const st = lesionStats[li]!;
    return {
      id: l.id,
      label: li + 1,
      organ: l.organ,
      centreMm: l.centre.map((v) => round(v, 3)) as Vec3,
      centreVoxel: patientToVoxel(g, l.centre[0], l.centre[1], l.centre[2]).map((v) => round(v, 3)) as Vec3,
      radiiMm: l.radii.map((v) => round(v, 3)) as Vec3,
      rotation: l.rotation.map((v) => round(v, 6)),
      irregularity: round(
        l.wobble.reduce((a, w) => a + Math.abs(w.amp), 0),
        4,
      ),
      minRadiusMm: round(l.minRadiusMm, 3),
      maxRadiusMm: round(l.maxRadiusMm, 3),
      longestDiameterMm: round(l.longestDiameterMm, 3),
      axialLongestDiameterMm: round(l.axialLongestDiameterMm, 3),
      volumeMm3: round(l.volumeMm3, 1),
      contrast: round(l.contrast, 2),
      intensity: series.map((s, si) => {
        const table = tissueTable(s.kind);
        const host = table[l.hostTissue]!;
        return {
          seriesUid: s.seriesUid,
          kind: s.kind,
          nominal: round(host + (l.contrast * host) / primaryTable[l.hostTissue]!, 2),
          host,
          measuredMean: st.count > 0 ? round(st.sums[si]! / st.count, 2) : Number.NaN,
        };
      }),
      maskVoxelCount: st.count,
      maskVolumeMm3: round(st.count * vv, 1),
    };
  });

  const groundTruth: GroundTruth = {
    format: 'radlink-synth-ground-truth',
    version: 1,
    seed: o.seed,
    study,
    geometry: g,
    indexConvention: INDEX_CONVENTION,
    series: series.map((s) => ({
      seriesUid: s.seriesUid,
      seriesNumber: s.seriesNumber,
      kind: s.kind,
      description: s.description,
      sopInstanceUids: s.sopInstanceUids,
    })),
    lesions: gtLesions,
  };
  const out: SynthStudy = { study, series, groundTruth };
  if (o.withMask) out.lesionMask = mask;
  return out;
}

function round(v: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}
