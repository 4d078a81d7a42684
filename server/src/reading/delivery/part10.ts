/**
 * Writing and reading the DICOM Part 10 files of delivered copies (dcmjs, which ships no types:
 * the few calls used are typed here). Shared by the Encapsulated PDF and the Basic Text SR:
 * Explicit VR Little Endian, RadLink's implementation class UID, UTF-8 text (ISO_IR 192), and
 * the patient/study attributes copied from the study as Orthanc holds them.
 */
import { createRequire } from 'node:module';

export const EXPLICIT_LE = '1.2.840.10008.1.2.1';
/** RadLink's implementation class UID (a fixed 2.25 UID). */
export const IMPLEMENTATION_CLASS_UID = '2.25.161528104215727402431391513580410359427';

interface DcmjsDicomDict {
  dict: unknown;
  write(options?: Record<string, unknown>): ArrayBuffer;
}
interface Dcmjs {
  data: {
    DicomDict: new (meta: unknown) => DcmjsDicomDict;
    DicomMessage: { readFile(ab: ArrayBuffer): { dict: unknown; meta: unknown } };
    DicomMetaDictionary: {
      denaturalizeDataset(ds: Record<string, unknown>): unknown;
      naturalizeDataset(dict: unknown): Record<string, unknown>;
    };
  };
}
const dcmjs = createRequire(import.meta.url)('dcmjs') as Dcmjs;

/** The patient and study attributes a derived object copies from its study. */
export const PATIENT_STUDY_KEYWORDS = [
  'PatientName',
  'PatientID',
  'IssuerOfPatientID',
  'PatientBirthDate',
  'PatientSex',
  'StudyDate',
  'StudyTime',
  'AccessionNumber',
  'StudyID',
  'ReferringPhysicianName',
  'StudyDescription',
] as const;

/** DICOM DA and TM of an instant (UTC). */
export const da = (d: Date) => d.toISOString().slice(0, 10).replace(/-/g, '');
export const tm = (d: Date) => d.toISOString().slice(11, 19).replace(/:/g, '');

/** Copies the patient/study attributes (type 2: present, possibly empty; an absent issuer is left out). */
export function withPatientStudy(ds: Record<string, unknown>, patientStudy: Record<string, string>) {
  for (const k of PATIENT_STUDY_KEYWORDS) ds[k] = patientStudy[k] ?? '';
  if (!ds.IssuerOfPatientID) delete ds.IssuerOfPatientID;
  return ds;
}

/** A naturalized dataset (dcmjs keywords) as a Part 10 file. */
export function writePart10(
  sopClassUid: string,
  sopInstanceUid: string,
  ds: Record<string, unknown>,
): Buffer {
  const meta = {
    FileMetaInformationVersion: new Uint8Array([0, 1]).buffer,
    MediaStorageSOPClassUID: sopClassUid,
    MediaStorageSOPInstanceUID: sopInstanceUid,
    TransferSyntaxUID: EXPLICIT_LE,
    ImplementationClassUID: IMPLEMENTATION_CLASS_UID,
    ImplementationVersionName: 'RADLINK_1',
  };
  const { DicomDict, DicomMetaDictionary } = dcmjs.data;
  const dict = new DicomDict(DicomMetaDictionary.denaturalizeDataset(meta));
  dict.dict = DicomMetaDictionary.denaturalizeDataset(ds);
  return Buffer.from(dict.write());
}

/** A Part 10 file as a naturalized dataset; throws when it is not one. */
export function readPart10(file: Uint8Array): Record<string, unknown> {
  const ab = file.buffer.slice(file.byteOffset, file.byteOffset + file.byteLength) as ArrayBuffer;
  return dcmjs.data.DicomMetaDictionary.naturalizeDataset(dcmjs.data.DicomMessage.readFile(ab).dict);
}
