/**
 * Small, valid DICOM Part 10 files for index and QIDO tests, written with dcmjs: a tiny
 * 8x8 CT/MR slice with whatever patient/study attributes the test needs. Names are written
 * as given (NFC or NFD), as UTF-8, with SpecificCharacterSet `ISO_IR 192` unless the test asks
 * for a file without a declared character set (real archives have those too).
 */
import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';

interface DcmjsApi {
  data: {
    DicomDict: new (meta: unknown) => { dict: unknown; write(): ArrayBuffer };
    DicomMetaDictionary: { denaturalizeDataset(ds: Record<string, unknown>): unknown };
  };
}
// dcmjs ships no type declarations: the two calls used here are typed above.
const { DicomDict, DicomMetaDictionary } = (createRequire(import.meta.url)('dcmjs') as DcmjsApi).data;

/** A fresh UID under the 2.25 root (UUID-derived), unique across test files sharing Orthanc. */
export function freshUid(): string {
  return `2.25.${BigInt(`0x${randomBytes(16).toString('hex')}`).toString(10)}`;
}

export interface TinyInstance {
  studyUid?: string;
  seriesUid?: string;
  sopInstanceUid?: string;
  patientName?: string;
  patientId?: string;
  issuerOfPatientId?: string;
  patientBirthDate?: string;
  patientSex?: string;
  studyDate?: string;
  studyTime?: string;
  accessionNumber?: string;
  studyId?: string;
  studyDescription?: string;
  referringPhysicianName?: string;
  modality?: string;
  seriesNumber?: number;
  seriesDescription?: string;
  instanceNumber?: number;
  institutionName?: string;
  /** false: omit SpecificCharacterSet (UTF-8 bytes, no declared charset). Default true. */
  declareUtf8?: boolean;
}

export interface TinyFile {
  bytes: Buffer;
  studyUid: string;
  seriesUid: string;
  sopInstanceUid: string;
}

const CT_IMAGE_STORAGE = '1.2.840.10008.5.1.4.1.1.2';
const MR_IMAGE_STORAGE = '1.2.840.10008.5.1.4.1.1.4';
const EXPLICIT_LE = '1.2.840.10008.1.2.1';

export function tinyDicom(o: TinyInstance = {}): TinyFile {
  const studyUid = o.studyUid ?? freshUid();
  const seriesUid = o.seriesUid ?? freshUid();
  const sopInstanceUid = o.sopInstanceUid ?? freshUid();
  const modality = o.modality ?? 'CT';
  const sopClassUid = modality === 'MR' ? MR_IMAGE_STORAGE : CT_IMAGE_STORAGE;
  const dataset: Record<string, unknown> = {
    ...(o.declareUtf8 === false ? {} : { SpecificCharacterSet: 'ISO_IR 192' }),
    SOPClassUID: sopClassUid,
    SOPInstanceUID: sopInstanceUid,
    StudyDate: o.studyDate ?? '20240115',
    StudyTime: o.studyTime ?? '101530',
    AccessionNumber: o.accessionNumber ?? '',
    Modality: modality,
    ReferringPhysicianName: o.referringPhysicianName ?? '',
    StudyDescription: o.studyDescription ?? 'Test study',
    SeriesDescription: o.seriesDescription ?? 'Test series',
    PatientName: o.patientName ?? 'Test^Patient',
    PatientID: o.patientId ?? `PID-${randomBytes(4).toString('hex')}`,
    ...(o.issuerOfPatientId ? { IssuerOfPatientID: o.issuerOfPatientId } : {}),
    PatientBirthDate: o.patientBirthDate ?? '19800101',
    PatientSex: o.patientSex ?? 'F',
    StudyInstanceUID: studyUid,
    SeriesInstanceUID: seriesUid,
    ...(o.institutionName ? { InstitutionName: o.institutionName } : {}),
    StudyID: o.studyId ?? '1',
    SeriesNumber: String(o.seriesNumber ?? 1),
    InstanceNumber: String(o.instanceNumber ?? 1),
    SamplesPerPixel: 1,
    PhotometricInterpretation: 'MONOCHROME2',
    Rows: 8,
    Columns: 8,
    BitsAllocated: 16,
    BitsStored: 16,
    HighBit: 15,
    PixelRepresentation: 0,
    PixelData: new Uint16Array(64).buffer,
    _vrMap: { PixelData: 'OW' },
  };
  const meta = {
    FileMetaInformationVersion: new Uint8Array([0, 1]).buffer,
    MediaStorageSOPClassUID: sopClassUid,
    MediaStorageSOPInstanceUID: sopInstanceUid,
    TransferSyntaxUID: EXPLICIT_LE,
    ImplementationClassUID: '2.25.1234567890',
  };
  const dict = new DicomDict(DicomMetaDictionary.denaturalizeDataset(meta));
  dict.dict = DicomMetaDictionary.denaturalizeDataset(dataset);
  const bytes = Buffer.from(dict.write());
  return { bytes, studyUid, seriesUid, sopInstanceUid };
}
