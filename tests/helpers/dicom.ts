/**
 * Small DICOM Part 10 instances made with dcmjs for gateway tests: Vietnamese names
 * (SpecificCharacterSet ISO_IR 192), fresh `2.25.<random>` UIDs so test files sharing one Orthanc
 * never collide, and a few knobs to make deliberately broken objects.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';

interface DcmjsDicomDict {
  dict: unknown;
  write(options?: Record<string, unknown>): ArrayBuffer;
}
interface DcmjsApi {
  data: {
    DicomDict: new (meta: unknown) => DcmjsDicomDict;
    DicomMetaDictionary: { denaturalizeDataset(ds: Record<string, unknown>): unknown };
  };
}
const dcmjs = createRequire(import.meta.url)('dcmjs') as DcmjsApi;

export const CT_IMAGE_STORAGE = '1.2.840.10008.5.1.4.1.1.2';
export const SECONDARY_CAPTURE = '1.2.840.10008.5.1.4.1.1.7';
export const EXPLICIT_LE = '1.2.840.10008.1.2.1';

/** A random UID under the 2.25 root (PS3.5 B.2): a 128-bit integer in decimal. */
export function newUid(): string {
  return `2.25.${BigInt(`0x${randomBytes(16).toString('hex')}`).toString()}`;
}

export interface InstanceOptions {
  studyUid?: string;
  seriesUid?: string;
  sopInstanceUid?: string;
  sopClassUid?: string;
  patientName?: string;
  patientId?: string;
  rows?: number;
  columns?: number;
  /** Frames of 16-bit pixels; default 1. */
  frames?: number;
  /** Pixel value pattern seed: different seeds give different bytes under the same UIDs. */
  seed?: number;
  /** Drop these keywords from the dataset (to make invalid objects). */
  omit?: string[];
  /** Truncate the PixelData to this many bytes (to make an object whose pixels do not fit). */
  pixelBytes?: number;
  instanceNumber?: number;
  transferSyntaxUid?: string;
}

export interface MadeInstance {
  bytes: Buffer;
  studyUid: string;
  seriesUid: string;
  sopInstanceUid: string;
  sopClassUid: string;
  /** The native pixel bytes, frame after frame. */
  pixels: Buffer;
  rows: number;
  columns: number;
}

export function makeInstance(o: InstanceOptions = {}): MadeInstance {
  const rows = o.rows ?? 16;
  const columns = o.columns ?? 16;
  const frames = o.frames ?? 1;
  const studyUid = o.studyUid ?? newUid();
  const seriesUid = o.seriesUid ?? newUid();
  const sopInstanceUid = o.sopInstanceUid ?? newUid();
  const sopClassUid = o.sopClassUid ?? CT_IMAGE_STORAGE;
  const seed = o.seed ?? 1;
  const pixels = Buffer.alloc(rows * columns * frames * 2);
  for (let i = 0; i < rows * columns * frames; i++) pixels.writeUInt16LE((i * 7 + seed * 131) % 4096, i * 2);
  const pixelData = o.pixelBytes === undefined ? pixels : pixels.subarray(0, o.pixelBytes);
  const ds: Record<string, unknown> = {
    SpecificCharacterSet: 'ISO_IR 192',
    SOPClassUID: sopClassUid,
    SOPInstanceUID: sopInstanceUid,
    StudyInstanceUID: studyUid,
    SeriesInstanceUID: seriesUid,
    PatientName: o.patientName ?? 'Nguyễn^Thị Minh Khai',
    // One patient per study unless told otherwise (Orthanc keys studies by PatientID + StudyUID).
    PatientID: o.patientId ?? `RL-${createHash('sha1').update(studyUid).digest('hex').slice(0, 8)}`,
    PatientBirthDate: '19800101',
    PatientSex: 'F',
    StudyDate: '20250101',
    StudyTime: '101010',
    StudyDescription: 'CT ổ bụng',
    SeriesDescription: 'Cửa sổ mô mềm',
    Modality: 'CT',
    AccessionNumber: 'ACC1',
    StudyID: '1',
    SeriesNumber: 1,
    InstanceNumber: o.instanceNumber ?? 1,
    Rows: rows,
    Columns: columns,
    SamplesPerPixel: 1,
    PhotometricInterpretation: 'MONOCHROME2',
    BitsAllocated: 16,
    BitsStored: 12,
    HighBit: 11,
    PixelRepresentation: 0,
    RescaleIntercept: 0,
    RescaleSlope: 1,
    WindowCenter: 2048,
    WindowWidth: 4096,
  };
  if (frames > 1) ds.NumberOfFrames = frames;
  for (const k of o.omit ?? []) delete ds[k];
  const meta = {
    FileMetaInformationVersion: new Uint8Array([0, 1]).buffer,
    MediaStorageSOPClassUID: sopClassUid,
    MediaStorageSOPInstanceUID: sopInstanceUid,
    TransferSyntaxUID: o.transferSyntaxUid ?? EXPLICIT_LE,
    ImplementationClassUID: '2.25.1',
    ImplementationVersionName: 'RADLINK_TEST',
  };
  const { DicomDict, DicomMetaDictionary } = dcmjs.data;
  const dict = new DicomDict(DicomMetaDictionary.denaturalizeDataset(meta));
  const ab = pixelData.buffer.slice(pixelData.byteOffset, pixelData.byteOffset + pixelData.byteLength);
  dict.dict = DicomMetaDictionary.denaturalizeDataset({ ...ds, PixelData: ab, _vrMap: { PixelData: 'OW' } });
  return {
    bytes: Buffer.from(dict.write()),
    studyUid,
    seriesUid,
    sopInstanceUid,
    sopClassUid,
    pixels,
    rows,
    columns,
  };
}
