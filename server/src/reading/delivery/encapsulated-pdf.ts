/**
 * The DICOM copy of a signed report: an Encapsulated PDF instance (PS3.3 A.45.1, SOP class
 * 1.2.840.10008.5.1.4.1.1.104.1) in the report's study, so any DICOM viewer or PACS shows it.
 *
 * Invariants:
 *  - Patient and study attributes are Orthanc's own for the study (the caller passes them), so
 *    Orthanc files the document under the same patient and study (its ids hash PatientID).
 *  - The bytes are a pure function of the inputs (no "now"): dates and times come from the
 *    signing time, UIDs from uids.ts; a re-run stores the identical object.
 *  - EncapsulatedDocument is padded to even length with one NUL (PS3.5 7.1.1) and
 *    EncapsulatedDocumentLength states the PDF's true length, so the PDF extracts byte-exact.
 */
import { da, readPart10, tm, withPatientStudy, writePart10 } from './part10.js';

export const ENCAPSULATED_PDF_STORAGE = '1.2.840.10008.5.1.4.1.1.104.1';

export interface EncapsulatedPdfInput {
  pdf: Uint8Array;
  studyUid: string;
  seriesUid: string;
  sopInstanceUid: string;
  instanceNumber: number;
  /** Patient and study attributes as Orthanc holds them for the study (DICOM keyword → value). */
  patientStudy: Record<string, string>;
  documentTitle: string;
  seriesDescription: string;
  signedAt: Date;
}

export function buildEncapsulatedPdf(i: EncapsulatedPdfInput): Buffer {
  const doc = Buffer.from(i.pdf);
  const padded = doc.length % 2 === 0 ? doc : Buffer.concat([doc, Buffer.alloc(1)]);
  const ds: Record<string, unknown> = {
    SpecificCharacterSet: 'ISO_IR 192',
    SOPClassUID: ENCAPSULATED_PDF_STORAGE,
    SOPInstanceUID: i.sopInstanceUid,
    InstanceCreationDate: da(i.signedAt),
    InstanceCreationTime: tm(i.signedAt),
    StudyInstanceUID: i.studyUid,
    SeriesInstanceUID: i.seriesUid,
    Modality: 'DOC',
    SeriesNumber: 9001,
    SeriesDescription: i.seriesDescription,
    Manufacturer: 'RadLink',
    ConversionType: 'WSD',
    InstanceNumber: i.instanceNumber,
    ContentDate: da(i.signedAt),
    ContentTime: tm(i.signedAt),
    AcquisitionDateTime: `${da(i.signedAt)}${tm(i.signedAt)}`,
    // The PDF shows the patient's name and ID.
    BurnedInAnnotation: 'YES',
    DocumentTitle: i.documentTitle.slice(0, 64),
    // LOINC 18748-4 "Diagnostic imaging study" (the document kind of a radiology report).
    ConceptNameCodeSequence: [
      { CodeValue: '18748-4', CodingSchemeDesignator: 'LN', CodeMeaning: 'Diagnostic imaging study' },
    ],
    MIMETypeOfEncapsulatedDocument: 'application/pdf',
    EncapsulatedDocumentLength: doc.length,
    EncapsulatedDocument: padded.buffer.slice(padded.byteOffset, padded.byteOffset + padded.byteLength),
    _vrMap: { EncapsulatedDocument: 'OB' },
  };
  withPatientStudy(ds, i.patientStudy);
  return writePart10(ENCAPSULATED_PDF_STORAGE, i.sopInstanceUid, ds);
}

/** The PDF inside an Encapsulated PDF file (exact length), or null when the file is not one. */
export function extractEncapsulatedPdf(file: Uint8Array): Buffer | null {
  try {
    const ds = readPart10(file);
    if (ds.SOPClassUID !== ENCAPSULATED_PDF_STORAGE) return null;
    const raw = ds.EncapsulatedDocument;
    const first = Array.isArray(raw) ? raw[0] : raw;
    if (!(first instanceof ArrayBuffer)) return null;
    const bytes = Buffer.from(first);
    const len =
      typeof ds.EncapsulatedDocumentLength === 'number' ? ds.EncapsulatedDocumentLength : bytes.length;
    return len <= bytes.length ? bytes.subarray(0, len) : null;
  } catch {
    return null;
  }
}
