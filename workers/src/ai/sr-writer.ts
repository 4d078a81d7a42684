/**
 * The run's measurement report: a Comprehensive 3D SR following TID 1500 (Measurement Report),
 * one TID 1411 volumetric measurement group per finding referencing its SEG segment, with the
 * longest axial and 3-D diameters, volume, mean intensity (HU on CT), the model's confidence
 * and the centroid as a 3-D point in the source's Frame of Reference. The observer is the model
 * as a device (TID 1004), and every measurement carries TID 4019 Algorithm Identification.
 * A run without findings still gets a report (an empty Imaging Measurements container): "the
 * model looked and found nothing" is a result too.
 */

import { type Dataset, writePart10 } from './dcmjs.js';
import { code, type OutputContext, patientStudyModules, seriesAndEquipment } from './output-context.js';
import type { Finding } from './postprocess.js';
import { SEGMENTATION_STORAGE, segmentNumberOf } from './seg-writer.js';
import { findingUid, uuidUid } from './uids.js';

export const COMPREHENSIVE_3D_SR = '1.2.840.10008.5.1.4.1.1.88.34';

type Code = ReturnType<typeof code>;
const UNITS = {
  mm: code('mm', 'UCUM', 'millimeter'),
  ml: code('ml', 'UCUM', 'milliliter'),
  hu: code("[hnsf'U]", 'UCUM', 'Hounsfield unit'),
  none: code('1', 'UCUM', 'no units'),
};
/** RadLink's own codes where DICOM has none (PS3.16 8.2: a private coding scheme designator). */
const RADLINK = {
  diameter3d: code('RL-0001', '99RADLINK', 'Maximum 3D diameter'),
  confidence: code('RL-0002', '99RADLINK', 'Detection confidence'),
  signal: code('RL-0003', '99RADLINK', 'Signal intensity'),
};

const item = (relationship: string, valueType: string, concept: Code, value: Dataset = {}): Dataset => ({
  RelationshipType: relationship,
  ValueType: valueType,
  ConceptNameCodeSequence: [concept],
  ...value,
});
const text = (rel: string, concept: Code, v: string) =>
  item(rel, 'TEXT', concept, { TextValue: v.slice(0, 1024) });
const uidref = (rel: string, concept: Code, v: string) => item(rel, 'UIDREF', concept, { UID: v });
const codeItem = (rel: string, concept: Code, v: Code) =>
  item(rel, 'CODE', concept, { ConceptCodeSequence: [v] });
const num = (concept: Code, value: number, unit: Code, extra: Dataset[] = []) =>
  item('CONTAINS', 'NUM', concept, {
    MeasuredValueSequence: [
      { MeasurementUnitsCodeSequence: [unit], NumericValue: Number(value.toPrecision(6)) },
    ],
    ...(extra.length ? { ContentSequence: extra } : {}),
  });

export function writeSr(
  ctx: OutputContext,
  findings: readonly Finding[],
  o: { segWritten: boolean; alertReason: string },
): Uint8Array {
  const m = ctx.manifest;
  const isCt = String(ctx.source.Modality ?? '').toUpperCase() === 'CT';
  const algorithm = [
    text('HAS CONCEPT MOD', code('111001', 'DCM', 'Algorithm Name'), m.name),
    text('HAS CONCEPT MOD', code('111003', 'DCM', 'Algorithm Version'), m.version),
  ];
  const groups = findings.map((f) => {
    const ch = m.output.channels[f.channel]!;
    const content: Dataset[] = [
      text('HAS OBS CONTEXT', code('112039', 'DCM', 'Tracking Identifier'), `${ch.label} ${f.index}`),
      uidref(
        'HAS OBS CONTEXT',
        code('112040', 'DCM', 'Tracking Unique Identifier'),
        findingUid(ctx.seriesUid, m.id, m.version, f.index),
      ),
    ];
    if (o.segWritten)
      content.push(
        item('CONTAINS', 'IMAGE', code('121191', 'DCM', 'Referenced Segment'), {
          ReferencedSOPSequence: [
            {
              ReferencedSOPClassUID: SEGMENTATION_STORAGE,
              ReferencedSOPInstanceUID: ctx.uids.segSopInstanceUid,
              ReferencedSegmentNumber: segmentNumberOf(f),
            },
          ],
        }),
      );
    content.push(
      uidref('CONTAINS', code('121232', 'DCM', 'Source series for segmentation'), ctx.seriesUid),
      codeItem(
        'HAS CONCEPT MOD',
        code('121071', 'DCM', 'Finding'),
        code(ch.type.codeValue, ch.type.codingSchemeDesignator, ch.type.codeMeaning),
      ),
    );
    if (ch.anatomicRegion)
      content.push(
        codeItem(
          'HAS CONCEPT MOD',
          code('363698007', 'SCT', 'Finding Site'),
          code(
            ch.anatomicRegion.codeValue,
            ch.anatomicRegion.codingSchemeDesignator,
            ch.anatomicRegion.codeMeaning,
          ),
        ),
      );
    content.push(
      num(code('103339001', 'SCT', 'Long Axis'), f.axialLongestDiameterMm, UNITS.mm, algorithm),
      num(RADLINK.diameter3d, f.longestDiameterMm, UNITS.mm, algorithm),
      num(code('118565006', 'SCT', 'Volume'), f.volumeMm3 / 1000, UNITS.ml, algorithm),
      num(
        isCt ? code('112031', 'DCM', 'Attenuation Coefficient') : RADLINK.signal,
        f.meanIntensity,
        isCt ? UNITS.hu : UNITS.none,
        [
          codeItem('HAS CONCEPT MOD', code('121401', 'DCM', 'Derivation'), code('373098007', 'SCT', 'Mean')),
          ...algorithm,
        ],
      ),
      num(RADLINK.confidence, f.confidence, UNITS.none, algorithm),
      item('CONTAINS', 'SCOORD3D', code('111010', 'DCM', 'Center'), {
        GraphicType: 'POINT',
        GraphicData: f.centroidMm.map((v) => Math.round(v * 1000) / 1000),
        ReferencedFrameOfReferenceUID: ctx.frameOfReferenceUid,
      }),
    );
    return item('CONTAINS', 'CONTAINER', code('125007', 'DCM', 'Measurement Group'), {
      ContinuityOfContent: 'SEPARATE',
      ContentTemplateSequence: [{ MappingResource: 'DCMR', TemplateIdentifier: '1411' }],
      ContentSequence: content,
    });
  });
  const evidenceSeries: Dataset[] = [
    {
      SeriesInstanceUID: ctx.seriesUid,
      ReferencedSOPSequence: ctx.sourceSops.map((uid) => ({
        ReferencedSOPClassUID: ctx.sopClassUid,
        ReferencedSOPInstanceUID: uid,
      })),
    },
  ];
  if (o.segWritten)
    evidenceSeries.push({
      SeriesInstanceUID: ctx.uids.segSeriesUid,
      ReferencedSOPSequence: [
        { ReferencedSOPClassUID: SEGMENTATION_STORAGE, ReferencedSOPInstanceUID: ctx.uids.segSopInstanceUid },
      ],
    });
  const dataset: Dataset = {
    ...patientStudyModules(ctx.source),
    SOPClassUID: COMPREHENSIVE_3D_SR,
    SOPInstanceUID: ctx.uids.srSopInstanceUid,
    ...seriesAndEquipment(ctx, {
      modality: 'SR',
      seriesUid: ctx.uids.srSeriesUid,
      seriesNumber: 9002,
      description: `SR ${m.name}`,
    }),
    InstanceNumber: 1,
    ReferencedPerformedProcedureStepSequence: [],
    ValueType: 'CONTAINER',
    ConceptNameCodeSequence: [code('126000', 'DCM', 'Imaging Measurement Report')],
    ContinuityOfContent: 'SEPARATE',
    ContentTemplateSequence: [{ MappingResource: 'DCMR', TemplateIdentifier: '1500' }],
    CompletionFlag: 'COMPLETE',
    VerificationFlag: 'UNVERIFIED',
    CurrentRequestedProcedureEvidenceSequence: [
      { StudyInstanceUID: ctx.source.StudyInstanceUID, ReferencedSeriesSequence: evidenceSeries },
    ],
    ContentSequence: [
      codeItem(
        'HAS CONCEPT MOD',
        code('121049', 'DCM', 'Language of Content Item and Descendants'),
        code('en-US', 'RFC5646', 'English (United States)'),
      ),
      codeItem('HAS OBS CONTEXT', code('121005', 'DCM', 'Observer Type'), code('121007', 'DCM', 'Device')),
      uidref(
        'HAS OBS CONTEXT',
        code('121012', 'DCM', 'Device Observer UID'),
        uuidUid('model', m.id, m.version, m.sha256),
      ),
      text('HAS OBS CONTEXT', code('121013', 'DCM', 'Device Observer Name'), `${m.name} ${m.version}`),
      text('HAS OBS CONTEXT', code('121014', 'DCM', 'Device Observer Manufacturer'), m.creator.name),
      text('HAS OBS CONTEXT', code('121015', 'DCM', 'Device Observer Model Name'), m.id),
      codeItem(
        'HAS CONCEPT MOD',
        code('121058', 'DCM', 'Procedure reported'),
        isCt
          ? code('77477000', 'SCT', 'Computerized axial tomography')
          : code('113091000', 'SCT', 'Magnetic resonance imaging'),
      ),
      item('CONTAINS', 'CONTAINER', code('126010', 'DCM', 'Imaging Measurements'), {
        ContinuityOfContent: 'SEPARATE',
        ContentSequence: groups,
      }),
      text('CONTAINS', code('121106', 'DCM', 'Comment'), `${m.label}. ${o.alertReason}`),
    ],
  };
  return writePart10(dataset);
}
