/**
 * The few dcmjs members the AI outputs use, typed here (dcmjs ships no declarations): write a
 * naturalized dataset as a Part 10 file (Explicit VR Little Endian), read a file's header back
 * as a naturalized dataset, and convert display colours to DICOM CIELab.
 */
import { createRequire } from 'node:module';
import { uuidUid } from './uids.js';

/** A dcmjs "naturalized" dataset: keyword → value (sequences are arrays of datasets). */
export type Dataset = Record<string, unknown>;

interface DcmjsApi {
  data: {
    DicomDict: new (meta: unknown) => { dict: unknown; write(): ArrayBuffer };
    DicomMessage: { readFile(buffer: ArrayBuffer, options?: Record<string, unknown>): { dict: unknown } };
    DicomMetaDictionary: {
      denaturalizeDataset(ds: Dataset): unknown;
      naturalizeDataset(ds: unknown): Dataset;
    };
    Colors: { rgb2DICOMLAB(rgb: [number, number, number]): [number, number, number] };
  };
}

const dcmjs = createRequire(import.meta.url)('dcmjs') as DcmjsApi;

export const EXPLICIT_VR_LITTLE_ENDIAN = '1.2.840.10008.1.2.1';
export const IMPLEMENTATION_CLASS_UID = uuidUid('radlink-ai-implementation');
export const IMPLEMENTATION_VERSION_NAME = 'RADLINK_AI1';

export function writePart10(dataset: Dataset): Uint8Array {
  const { DicomDict, DicomMetaDictionary } = dcmjs.data;
  const meta: Dataset = {
    FileMetaInformationVersion: new Uint8Array([0, 1]).buffer,
    MediaStorageSOPClassUID: dataset.SOPClassUID,
    MediaStorageSOPInstanceUID: dataset.SOPInstanceUID,
    TransferSyntaxUID: EXPLICIT_VR_LITTLE_ENDIAN,
    ImplementationClassUID: IMPLEMENTATION_CLASS_UID,
    ImplementationVersionName: IMPLEMENTATION_VERSION_NAME,
  };
  const dict = new DicomDict(DicomMetaDictionary.denaturalizeDataset(meta));
  dict.dict = DicomMetaDictionary.denaturalizeDataset(dataset);
  return new Uint8Array(dict.write());
}

/** The dataset of a Part 10 file, pixel data excluded. */
export function readDataset(bytes: Uint8Array): Dataset {
  const ab = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
  const file = dcmjs.data.DicomMessage.readFile(ab, { untilTag: '7FE00010', includeUntilTagValue: false });
  return dcmjs.data.DicomMetaDictionary.naturalizeDataset(file.dict);
}

/** sRGB 0–255 → RecommendedDisplayCIELabValue (PS3.3 C.10.7.1.1: scaled to 0–65535). */
export function cieLab(rgb: readonly [number, number, number]): [number, number, number] {
  const lab = dcmjs.data.Colors.rgb2DICOMLAB([rgb[0] / 255, rgb[1] / 255, rgb[2] / 255]);
  return lab.map((v) => Math.max(0, Math.min(65535, Math.round(v)))) as [number, number, number];
}
