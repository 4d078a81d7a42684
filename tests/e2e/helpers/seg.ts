/**
 * A DICOM Segmentation (PS3.3 A.51, BINARY) of a synthetic study's lesion mask, written with
 * dcmjs, for browser tests of segmentation overlays: one segment per lesion label, one frame per
 * (segment, slice) the lesion touches, each referencing its source slice and plane position.
 * The mask is the generator's own ground truth (study.ts `withMask`), so where the overlay must
 * appear is known exactly.
 */
import { createRequire } from 'node:module';
import { slicePosition } from '../../../scripts/demo/synth/geometry.js';
import type { SynthStudy } from '../../../scripts/demo/synth/study.js';

type Dataset = Record<string, unknown>;
interface Dcmjs {
  data: {
    DicomDict: new (meta: unknown) => { dict: unknown; write(): ArrayBuffer };
    DicomMetaDictionary: { denaturalizeDataset(ds: Dataset): unknown };
  };
}
const dcmjs = createRequire(import.meta.url)('dcmjs') as Dcmjs;

const SEGMENTATION_STORAGE = '1.2.840.10008.5.1.4.1.1.66.4';
const EXPLICIT_LE = '1.2.840.10008.1.2.1';
const code = (v: string, s: string, m: string) => ({
  CodeValue: v,
  CodingSchemeDesignator: s,
  CodeMeaning: m,
});
const r4 = (x: number) => Math.round(x * 1e4) / 1e4;

export interface SegOptions {
  /** UID root for the SEG series and instance (must be fresh per test run). */
  uidRoot: string;
  seriesDescription: string;
  softwareVersion: string;
}

export function writeLesionSeg(
  study: SynthStudy,
  o: SegOptions,
): { part10: Uint8Array; seriesUid: string; sopInstanceUid: string } {
  const mask = study.lesionMask;
  if (!mask) throw new Error('generate the study withMask');
  const g = study.groundTruth.geometry;
  const src = study.series[0]!;
  const plane = g.rows * g.cols;
  const frames: Array<{ label: number; k: number }> = [];
  for (const l of study.groundTruth.lesions)
    for (let k = 0; k < g.slices; k++) {
      const sl = mask.subarray(k * plane, (k + 1) * plane);
      if (sl.includes(l.label)) frames.push({ label: l.label, k });
    }
  if (frames.length === 0) throw new Error('the mask is empty');
  const totalBits = frames.length * plane;
  const nBytes = Math.ceil(totalBits / 8);
  const bytes = new Uint8Array(nBytes + (nBytes % 2));
  frames.forEach(({ label, k }, n) => {
    const base = n * plane;
    const off = k * plane;
    for (let q = 0; q < plane; q++)
      if (mask[off + q] === label) {
        const b = base + q;
        bytes[b >> 3]! |= 1 << (b & 7);
      }
  });
  const seriesUid = `${o.uidRoot}.1`;
  const sopInstanceUid = `${o.uidRoot}.1.1`;
  const ref = (k: number) => ({
    ReferencedSOPClassUID: src.sopClassUid,
    ReferencedSOPInstanceUID: src.sopInstanceUids[k],
  });
  const s = study.study;
  const dataset: Dataset = {
    SpecificCharacterSet: 'ISO_IR 192',
    SOPClassUID: SEGMENTATION_STORAGE,
    SOPInstanceUID: sopInstanceUid,
    StudyInstanceUID: s.studyUid,
    SeriesInstanceUID: seriesUid,
    StudyDate: s.studyDate,
    StudyTime: s.studyTime,
    AccessionNumber: s.accessionNumber,
    StudyID: s.studyId,
    PatientID: s.patientId,
    IssuerOfPatientID: s.issuerOfPatientId,
    Modality: 'SEG',
    SeriesNumber: 900,
    SeriesDescription: o.seriesDescription,
    Manufacturer: 'RadLink tests',
    SoftwareVersions: o.softwareVersion,
    InstanceNumber: 1,
    FrameOfReferenceUID: s.frameOfReferenceUid,
    PositionReferenceIndicator: '',
    ImageType: ['DERIVED', 'PRIMARY'],
    ContentLabel: 'LESIONS',
    ContentDescription: 'ground truth',
    ContentCreatorName: 'TEST',
    ContentDate: s.studyDate,
    ContentTime: s.studyTime,
    SegmentationType: 'BINARY',
    SamplesPerPixel: 1,
    PhotometricInterpretation: 'MONOCHROME2',
    Rows: g.rows,
    Columns: g.cols,
    BitsAllocated: 1,
    BitsStored: 1,
    HighBit: 0,
    PixelRepresentation: 0,
    LossyImageCompression: '00',
    NumberOfFrames: frames.length,
    SegmentSequence: study.groundTruth.lesions.map((l) => ({
      SegmentNumber: l.label,
      SegmentLabel: `Lesion ${l.label}`,
      SegmentAlgorithmType: 'MANUAL',
      SegmentedPropertyCategoryCodeSequence: [code('49755003', 'SCT', 'Morphologically Altered Structure')],
      SegmentedPropertyTypeCodeSequence: [code('4147007', 'SCT', 'Mass')],
    })),
    ReferencedSeriesSequence: [
      {
        SeriesInstanceUID: src.seriesUid,
        ReferencedInstanceSequence: [...new Set(frames.map((f) => f.k))].map(ref),
      },
    ],
    SharedFunctionalGroupsSequence: [
      {
        PlaneOrientationSequence: [{ ImageOrientationPatient: [...g.orientation] }],
        PixelMeasuresSequence: [
          {
            PixelSpacing: [...g.pixelSpacing],
            SliceThickness: g.sliceThickness,
            SpacingBetweenSlices: g.spacingBetweenSlices,
          },
        ],
      },
    ],
    PerFrameFunctionalGroupsSequence: frames.map(({ label, k }) => ({
      DerivationImageSequence: [
        {
          SourceImageSequence: [
            {
              ...ref(k),
              PurposeOfReferenceCodeSequence: [
                code('121322', 'DCM', 'Source image for image processing operation'),
              ],
            },
          ],
          DerivationCodeSequence: [code('113076', 'DCM', 'Segmentation')],
        },
      ],
      FrameContentSequence: [{ DimensionIndexValues: [label, k + 1] }],
      PlanePositionSequence: [{ ImagePositionPatient: slicePosition(g, k).map(r4) }],
      SegmentIdentificationSequence: [{ ReferencedSegmentNumber: label }],
    })),
    PixelData: bytes.buffer,
    _vrMap: { PixelData: 'OB' },
  };
  const { DicomDict, DicomMetaDictionary } = dcmjs.data;
  const meta = {
    FileMetaInformationVersion: new Uint8Array([0, 1]).buffer,
    MediaStorageSOPClassUID: SEGMENTATION_STORAGE,
    MediaStorageSOPInstanceUID: sopInstanceUid,
    TransferSyntaxUID: EXPLICIT_LE,
    ImplementationClassUID: '2.25.1',
    ImplementationVersionName: 'RADLINK_TEST',
  };
  const dict = new DicomDict(DicomMetaDictionary.denaturalizeDataset(meta));
  dict.dict = DicomMetaDictionary.denaturalizeDataset(dataset);
  return { part10: new Uint8Array(dict.write()), seriesUid, sopInstanceUid };
}
