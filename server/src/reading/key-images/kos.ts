/**
 * A study's key images as a DICOM Key Object Selection Document (PS3.3 A.35.4, SOP class
 * 1.2.840.10008.5.1.4.1.1.88.59, Modality KO), so that any DICOM viewer or PACS reading the study
 * sees the images RadLink's radiologists marked. Content after TID 2010 (Key Object Selection):
 * root CONTAINER titled (113000, DCM, "Of Interest"); observer context (a person: the
 * radiologist who made the latest change); one Key Object Description TEXT (TID 2010 allows one)
 * holding the notes, each line naming its image; then one IMAGE item per marked image or frame,
 * in reading order, its ReferencedSOPSequence naming SOP class and instance (and the frame of a
 * multi-frame image). CurrentRequestedProcedureEvidenceSequence lists every referenced instance
 * by series (PS3.3 C.17.2).
 *
 * Text is UTF-8 (ISO_IR 192): Vietnamese names and notes survive. Patient and study attributes are
 * Orthanc's own for the study (the caller passes them), so Orthanc files the KOS in that study.
 */
import { da, tm, withPatientStudy, writePart10 } from '../delivery/part10.js';

export const KEY_OBJECT_SELECTION = '1.2.840.10008.5.1.4.1.1.88.59';
/** Above the report copies' series (9001 PDF, 9002 SR). */
export const KOS_SERIES_NUMBER = 9003;

export interface KosReference {
  seriesUid: string;
  sopClassUid: string;
  sopInstanceUid: string;
  /** 1-based; stated only for a multi-frame image. */
  frame: number;
  multiFrame: boolean;
  /** Where the image is, for the notes' lines (series and instance numbers from the index). */
  seriesNumber: number | null;
  instanceNumber: number | null;
  note: string | null;
}

export interface KosInput {
  studyUid: string;
  seriesUid: string;
  sopInstanceUid: string;
  /** The publication revision: the instance number, so later ones sort after earlier ones. */
  instanceNumber: number;
  patientStudy: Record<string, string>;
  observerName: string;
  createdAt: Date;
  seriesDescription: string;
  references: KosReference[];
}

const code = (value: string, scheme: string, meaning: string) => ({
  CodeValue: value,
  CodingSchemeDesignator: scheme,
  CodeMeaning: meaning,
});

/** A display name as a DICOM PN: the whole name in the family component (its parts are not guessed). */
const pn = (name: string) =>
  name
    .replace(/[\^=\\]/g, ' ')
    .trim()
    .slice(0, 64);

/** The line naming one image in the Key Object Description: "Series 3, image 12, frame 2". */
export function imageLabel(
  r: Pick<KosReference, 'seriesNumber' | 'instanceNumber' | 'frame' | 'multiFrame'>,
) {
  const parts = [
    `Series ${r.seriesNumber ?? '?'}`,
    `image ${r.instanceNumber ?? '?'}`,
    ...(r.multiFrame ? [`frame ${r.frame}`] : []),
  ];
  return parts.join(', ');
}

/** The notes as the Key Object Description (UT: no practical length limit); null when none. */
export function keyObjectDescription(refs: KosReference[]): string | null {
  const lines = refs.filter((r) => r.note).map((r) => `${imageLabel(r)}: ${r.note}`);
  return lines.length > 0 ? lines.join('\n') : null;
}

export function buildKeyObjectSelection(i: KosInput): Buffer {
  if (i.references.length === 0) throw new Error('a Key Object Selection references at least one image');
  const description = keyObjectDescription(i.references);
  const items: Record<string, unknown>[] = [
    {
      RelationshipType: 'HAS OBS CONTEXT',
      ValueType: 'CODE',
      ConceptNameCodeSequence: [code('121005', 'DCM', 'Observer Type')],
      ConceptCodeSequence: [code('121006', 'DCM', 'Person')],
    },
    {
      RelationshipType: 'HAS OBS CONTEXT',
      ValueType: 'PNAME',
      ConceptNameCodeSequence: [code('121008', 'DCM', 'Person Observer Name')],
      PersonName: pn(i.observerName),
    },
    ...(description
      ? [
          {
            RelationshipType: 'CONTAINS',
            ValueType: 'TEXT',
            ConceptNameCodeSequence: [code('113012', 'DCM', 'Key Object Description')],
            TextValue: description,
          },
        ]
      : []),
    ...i.references.map((r) => ({
      RelationshipType: 'CONTAINS',
      ValueType: 'IMAGE',
      ReferencedSOPSequence: [
        {
          ReferencedSOPClassUID: r.sopClassUid,
          ReferencedSOPInstanceUID: r.sopInstanceUid,
          ...(r.multiFrame ? { ReferencedFrameNumber: r.frame } : {}),
        },
      ],
    })),
  ];
  // Evidence: each referenced instance once, grouped by series, in first-reference order.
  const bySeries = new Map<string, Map<string, string>>();
  for (const r of i.references) {
    const s = bySeries.get(r.seriesUid) ?? new Map<string, string>();
    s.set(r.sopInstanceUid, r.sopClassUid);
    bySeries.set(r.seriesUid, s);
  }
  const ds: Record<string, unknown> = {
    SpecificCharacterSet: 'ISO_IR 192',
    SOPClassUID: KEY_OBJECT_SELECTION,
    SOPInstanceUID: i.sopInstanceUid,
    InstanceCreationDate: da(i.createdAt),
    InstanceCreationTime: tm(i.createdAt),
    StudyInstanceUID: i.studyUid,
    SeriesInstanceUID: i.seriesUid,
    Modality: 'KO',
    SeriesNumber: KOS_SERIES_NUMBER,
    SeriesDescription: i.seriesDescription.slice(0, 64),
    ReferencedPerformedProcedureStepSequence: [],
    Manufacturer: 'RadLink',
    InstanceNumber: i.instanceNumber,
    ContentDate: da(i.createdAt),
    ContentTime: tm(i.createdAt),
    CurrentRequestedProcedureEvidenceSequence: [
      {
        StudyInstanceUID: i.studyUid,
        ReferencedSeriesSequence: [...bySeries].map(([seriesUid, sops]) => ({
          SeriesInstanceUID: seriesUid,
          ReferencedSOPSequence: [...sops].map(([sop, cls]) => ({
            ReferencedSOPClassUID: cls,
            ReferencedSOPInstanceUID: sop,
          })),
        })),
      },
    ],
    ValueType: 'CONTAINER',
    ConceptNameCodeSequence: [code('113000', 'DCM', 'Of Interest')],
    ContinuityOfContent: 'SEPARATE',
    ContentTemplateSequence: [{ MappingResource: 'DCMR', TemplateIdentifier: '2010' }],
    ContentSequence: items,
  };
  withPatientStudy(ds, i.patientStudy);
  return writePart10(KEY_OBJECT_SELECTION, i.sopInstanceUid, ds);
}
