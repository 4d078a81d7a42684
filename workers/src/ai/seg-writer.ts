/**
 * The run's DICOM Segmentation (PS3.3 A.51, BINARY): one segment per finding, labelled with the
 * manifest channel's name and numbered like the finding; property category/type and anatomic
 * region codes and the display colour come from the manifest. Frames are the source slices
 * a segment touches, each a 1-bit mask on the source grid, with the per-frame derivation
 * image (the source slice), plane position and segment identification. The SEG shares the
 * source's Frame of Reference and names its series in ReferencedSeriesSequence.
 *
 * Bit packing (PS3.5 8.1.1): frames follow one another bit by bit, least significant bit first;
 * the total is padded to an even byte count.
 */

import { cieLab, type Dataset, writePart10 } from './dcmjs.js';
import { code, type OutputContext, patientStudyModules, seriesAndEquipment } from './output-context.js';
import type { Finding } from './postprocess.js';
import { findingUid } from './uids.js';
import { voxelToPatient } from './volume.js';

export const SEGMENTATION_STORAGE = '1.2.840.10008.5.1.4.1.1.66.4';

const ds = (x: number) => {
  const r = Math.round(x * 1e4) / 1e4;
  return Object.is(r, -0) ? 0 : r;
};

/** The segment number of a finding (findings are numbered from 1, as segments are). */
export const segmentNumberOf = (f: Pick<Finding, 'index'>) => f.index;

export function writeSeg(
  ctx: OutputContext,
  findings: readonly Finding[],
  labelMap: Uint16Array,
): Uint8Array {
  if (findings.length === 0) throw new Error('a SEG needs at least one segment');
  const m = ctx.manifest;
  const g = ctx.geometry;
  const [D, H, W] = g.dims;
  const plane = H * W;
  const [, colDir, rowDir] = g.direction;
  const frames: Array<{ finding: Finding; k: number }> = [];
  for (const f of findings)
    for (let k = f.bboxMin[0]; k <= f.bboxMax[0]; k++) {
      if (k < 0 || k >= D) continue;
      frames.push({ finding: f, k });
    }
  const totalBits = frames.length * plane;
  const bytes = new Uint8Array(Math.ceil(totalBits / 8) + (Math.ceil(totalBits / 8) % 2));
  frames.forEach(({ finding, k }, n) => {
    const base = n * plane;
    const off = k * plane;
    for (let q = 0; q < plane; q++)
      if (labelMap[off + q] === finding.index) {
        const b = base + q;
        bytes[b >> 3]! |= 1 << (b & 7);
      }
  });
  const position = (k: number): number[] => voxelToPatient(g, k, 0, 0).map(ds);
  const sourceRef = (k: number) => ({
    ReferencedSOPClassUID: ctx.sopClassUid,
    ReferencedSOPInstanceUID: ctx.sourceSops[k],
  });
  const segments = findings.map((f) => {
    const ch = m.output.channels[f.channel]!;
    const s: Dataset = {
      SegmentNumber: segmentNumberOf(f),
      SegmentLabel: `${ch.label} ${f.index}`.slice(0, 64),
      SegmentDescription: `${m.name} ${m.version}`.slice(0, 64),
      SegmentAlgorithmType: 'AUTOMATIC',
      SegmentAlgorithmName: m.name.slice(0, 64),
      SegmentedPropertyCategoryCodeSequence: [
        code(ch.category.codeValue, ch.category.codingSchemeDesignator, ch.category.codeMeaning),
      ],
      SegmentedPropertyTypeCodeSequence: [
        code(ch.type.codeValue, ch.type.codingSchemeDesignator, ch.type.codeMeaning),
      ],
      RecommendedDisplayCIELabValue: cieLab(ch.colour),
      TrackingID: `${ch.label} ${f.index}`.slice(0, 64),
      TrackingUID: findingUid(ctx.seriesUid, m.id, m.version, f.index),
    };
    if (ch.anatomicRegion)
      s.AnatomicRegionSequence = [
        code(
          ch.anatomicRegion.codeValue,
          ch.anatomicRegion.codingSchemeDesignator,
          ch.anatomicRegion.codeMeaning,
        ),
      ];
    return s;
  });
  const usedSlices = [...new Set(frames.map((f) => f.k))].sort((a, b) => a - b);
  const dimensionUid =
    `${ctx.uids.segSeriesUid}.1`.length <= 64 ? `${ctx.uids.segSeriesUid}.1` : ctx.uids.segSeriesUid;
  const dataset: Dataset = {
    ...patientStudyModules(ctx.source),
    SOPClassUID: SEGMENTATION_STORAGE,
    SOPInstanceUID: ctx.uids.segSopInstanceUid,
    ...seriesAndEquipment(ctx, {
      modality: 'SEG',
      seriesUid: ctx.uids.segSeriesUid,
      seriesNumber: 9001,
      description: `SEG ${m.name}`,
    }),
    InstanceNumber: 1,
    FrameOfReferenceUID: ctx.frameOfReferenceUid,
    PositionReferenceIndicator: '',
    ImageType: ['DERIVED', 'PRIMARY'],
    ContentLabel: 'AI_SEGMENTATION',
    ContentDescription: m.label.slice(0, 64),
    ContentCreatorName: m.name.replace(/\^/g, ' ').slice(0, 64),
    SegmentationType: 'BINARY',
    SamplesPerPixel: 1,
    PhotometricInterpretation: 'MONOCHROME2',
    Rows: H,
    Columns: W,
    BitsAllocated: 1,
    BitsStored: 1,
    HighBit: 0,
    PixelRepresentation: 0,
    LossyImageCompression: '00',
    NumberOfFrames: frames.length,
    SegmentSequence: segments,
    ReferencedSeriesSequence: [
      {
        SeriesInstanceUID: ctx.seriesUid,
        ReferencedInstanceSequence: usedSlices.map(sourceRef),
      },
    ],
    DimensionOrganizationSequence: [{ DimensionOrganizationUID: dimensionUid }],
    DimensionIndexSequence: [
      {
        DimensionOrganizationUID: dimensionUid,
        DimensionIndexPointer: 0x0062000b,
        FunctionalGroupPointer: 0x0062000a,
        DimensionDescriptionLabel: 'ReferencedSegmentNumber',
      },
      {
        DimensionOrganizationUID: dimensionUid,
        DimensionIndexPointer: 0x00200032,
        FunctionalGroupPointer: 0x00209113,
        DimensionDescriptionLabel: 'ImagePositionPatient',
      },
    ],
    SharedFunctionalGroupsSequence: [
      {
        PlaneOrientationSequence: [{ ImageOrientationPatient: [...rowDir, ...colDir].map(ds) }],
        PixelMeasuresSequence: [
          {
            PixelSpacing: [ds(g.spacing[1]), ds(g.spacing[2])],
            SliceThickness: ds(g.spacing[0]),
            SpacingBetweenSlices: ds(g.spacing[0]),
          },
        ],
      },
    ],
    PerFrameFunctionalGroupsSequence: frames.map(({ finding, k }) => ({
      DerivationImageSequence: [
        {
          SourceImageSequence: [
            {
              ...sourceRef(k),
              PurposeOfReferenceCodeSequence: [
                code('121322', 'DCM', 'Source image for image processing operation'),
              ],
            },
          ],
          DerivationCodeSequence: [code('113076', 'DCM', 'Segmentation')],
        },
      ],
      FrameContentSequence: [{ DimensionIndexValues: [segmentNumberOf(finding), usedSlices.indexOf(k) + 1] }],
      PlanePositionSequence: [{ ImagePositionPatient: position(k) }],
      SegmentIdentificationSequence: [{ ReferencedSegmentNumber: segmentNumberOf(finding) }],
    })),
    PixelData: bytes.buffer,
    _vrMap: { PixelData: 'OB' },
  };
  return writePart10(dataset);
}
