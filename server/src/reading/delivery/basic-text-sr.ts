/**
 * The report as a Basic Text SR (PS3.3 A.35.1, SOP class 1.2.840.10008.5.1.4.1.1.88.11) in the
 * study, beside the Encapsulated PDF: PACS and viewers that show SR but not PDF (and systems that
 * read report text out of the archive) get the signed text itself, structured after TID 2000
 * (Basic Diagnostic Imaging Report): observer context, then one TEXT item per section.
 *
 * Invariants: as encapsulated-pdf.ts — Orthanc's own patient/study attributes, dates from the
 * signing time, UIDs from uids.ts, so the bytes are a pure function of the signed record.
 * VerificationFlag is VERIFIED: the content is exactly what the named radiologist signed.
 */
import { da, tm, withPatientStudy, writePart10 } from './part10.js';

export const BASIC_TEXT_SR_STORAGE = '1.2.840.10008.5.1.4.1.1.88.11';

export interface SrSection {
  /** Template field key ('findings', 'impression', …) or 'comment' for free text. */
  key: string;
  label: string;
  text: string;
}

export interface BasicTextSrInput {
  studyUid: string;
  seriesUid: string;
  sopInstanceUid: string;
  instanceNumber: number;
  patientStudy: Record<string, string>;
  seriesDescription: string;
  signedAt: Date;
  signerName: string;
  organisation: string;
  sections: SrSection[];
  /** The main report's SR, on an addendum (PredecessorDocumentsSequence). */
  predecessor: { seriesUid: string; sopInstanceUid: string } | null;
}

const code = (value: string, scheme: string, meaning: string) => ({
  CodeValue: value,
  CodingSchemeDesignator: scheme,
  CodeMeaning: meaning,
});

/** TID 2000 concept names for the template fields RadLink uses; anything else is a Comment. */
const CONCEPTS: Record<string, ReturnType<typeof code>> = {
  findings: code('121071', 'DCM', 'Finding'),
  impression: code('121073', 'DCM', 'Impression'),
  recommendation: code('121075', 'DCM', 'Recommendation'),
  technique: code('121065', 'DCM', 'Procedure Description'),
};
const COMMENT = code('121106', 'DCM', 'Comment');

/** A display name as a DICOM PN: the whole name in the family component (its parts are not guessed). */
const pn = (name: string) =>
  name
    .replace(/[\^=\\]/g, ' ')
    .trim()
    .slice(0, 64);

export function buildBasicTextSr(i: BasicTextSrInput): Buffer {
  const when = `${da(i.signedAt)}${tm(i.signedAt)}`;
  const items = [
    {
      RelationshipType: 'HAS OBS CONTEXT',
      ValueType: 'PNAME',
      ConceptNameCodeSequence: [code('121008', 'DCM', 'Person Observer Name')],
      PersonName: pn(i.signerName),
    },
    ...i.sections
      .filter((s) => s.text.trim() !== '')
      .map((s) => ({
        RelationshipType: 'CONTAINS',
        ValueType: 'TEXT',
        ConceptNameCodeSequence: [CONCEPTS[s.key] ?? COMMENT],
        // The section's own label first when it is not one of the coded concepts (e.g. "Xuất huyết: Có").
        TextValue: CONCEPTS[s.key] ? s.text : `${s.label}: ${s.text}`,
      })),
  ];
  const ds: Record<string, unknown> = {
    SpecificCharacterSet: 'ISO_IR 192',
    SOPClassUID: BASIC_TEXT_SR_STORAGE,
    SOPInstanceUID: i.sopInstanceUid,
    InstanceCreationDate: da(i.signedAt),
    InstanceCreationTime: tm(i.signedAt),
    StudyInstanceUID: i.studyUid,
    SeriesInstanceUID: i.seriesUid,
    Modality: 'SR',
    SeriesNumber: 9002,
    SeriesDescription: i.seriesDescription,
    ReferencedPerformedProcedureStepSequence: [],
    Manufacturer: 'RadLink',
    InstanceNumber: i.instanceNumber,
    ContentDate: da(i.signedAt),
    ContentTime: tm(i.signedAt),
    CompletionFlag: 'COMPLETE',
    VerificationFlag: 'VERIFIED',
    VerifyingObserverSequence: [
      {
        VerifyingObserverName: pn(i.signerName),
        VerifyingOrganization: i.organisation.slice(0, 64),
        VerificationDateTime: when,
        VerifyingObserverIdentificationCodeSequence: [],
      },
    ],
    PerformedProcedureCodeSequence: [],
    ...(i.predecessor
      ? {
          PredecessorDocumentsSequence: [
            {
              StudyInstanceUID: i.studyUid,
              ReferencedSeriesSequence: [
                {
                  SeriesInstanceUID: i.predecessor.seriesUid,
                  ReferencedSOPSequence: [
                    {
                      ReferencedSOPClassUID: BASIC_TEXT_SR_STORAGE,
                      ReferencedSOPInstanceUID: i.predecessor.sopInstanceUid,
                    },
                  ],
                },
              ],
            },
          ],
        }
      : {}),
    ValueType: 'CONTAINER',
    ConceptNameCodeSequence: [code('18748-4', 'LN', 'Diagnostic imaging report')],
    ContinuityOfContent: 'SEPARATE',
    ContentTemplateSequence: [{ MappingResource: 'DCMR', TemplateIdentifier: '2000' }],
    ContentSequence: items,
  };
  withPatientStudy(ds, i.patientStudy);
  return writePart10(BASIC_TEXT_SR_STORAGE, i.sopInstanceUid, ds);
}
