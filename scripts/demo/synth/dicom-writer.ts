/**
 * DICOM Part 10 writer (Explicit VR Little Endian) on top of dcmjs.
 *
 * dcmjs ships no TypeScript declarations; rather than declaring the module globally (which
 * would collide with anyone else's declaration), it is loaded through createRequire and
 * narrowed to the few members used here.
 *
 * Verified by the tests with an independent parser (dicom-parser): dcmjs writes PN/LO values
 * as raw UTF-8 bytes (what ISO_IR 192 means), pads odd lengths with a space, and writes
 * PixelData as OW with the little-endian bytes we hand it.
 */
import { createRequire } from 'node:module';
import { IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION_NAME } from './uids.js';

export const EXPLICIT_VR_LITTLE_ENDIAN = '1.2.840.10008.1.2.1';
export const CT_IMAGE_STORAGE = '1.2.840.10008.5.1.4.1.1.2';
export const MR_IMAGE_STORAGE = '1.2.840.10008.5.1.4.1.1.4';

/** A dcmjs "naturalized" dataset: keyword → value (sequences are arrays of datasets). */
export type NaturalDataset = Record<string, unknown>;

interface DcmjsDicomDict {
  dict: unknown;
  write(options?: Record<string, unknown>): ArrayBuffer;
}
interface DcmjsApi {
  data: {
    DicomDict: new (meta: unknown) => DcmjsDicomDict;
    DicomMetaDictionary: { denaturalizeDataset(ds: NaturalDataset): unknown };
  };
}

const require = createRequire(import.meta.url);
const dcmjs = require('dcmjs') as DcmjsApi;

export interface Part10Input {
  /** Dataset without PixelData and without file meta elements. Must contain SOPClassUID and SOPInstanceUID. */
  dataset: NaturalDataset;
  /** Little-endian 16-bit pixel bytes (Rows × Columns × 2). */
  pixelData: ArrayBuffer;
  /** SourceApplicationEntityTitle in the file meta header (the sending modality's AE title). */
  sourceAeTitle?: string;
}

/** Serialise one instance as a Part 10 file (128-byte preamble, DICM, group 0002, dataset). */
export function writePart10(input: Part10Input): Uint8Array {
  const sopClassUid = input.dataset.SOPClassUID;
  const sopInstanceUid = input.dataset.SOPInstanceUID;
  if (typeof sopClassUid !== 'string' || typeof sopInstanceUid !== 'string') {
    throw new Error('dataset needs SOPClassUID and SOPInstanceUID');
  }
  const meta: NaturalDataset = {
    FileMetaInformationVersion: new Uint8Array([0, 1]).buffer,
    MediaStorageSOPClassUID: sopClassUid,
    MediaStorageSOPInstanceUID: sopInstanceUid,
    TransferSyntaxUID: EXPLICIT_VR_LITTLE_ENDIAN,
    ImplementationClassUID: IMPLEMENTATION_CLASS_UID,
    ImplementationVersionName: IMPLEMENTATION_VERSION_NAME,
  };
  if (input.sourceAeTitle) meta.SourceApplicationEntityTitle = input.sourceAeTitle;
  const { DicomDict, DicomMetaDictionary } = dcmjs.data;
  const dict = new DicomDict(DicomMetaDictionary.denaturalizeDataset(meta));
  dict.dict = DicomMetaDictionary.denaturalizeDataset({
    ...input.dataset,
    PixelData: input.pixelData,
    _vrMap: { PixelData: 'OW' },
  });
  return new Uint8Array(dict.write());
}

/**
 * Format a number for a DS (decimal string, ≤ 16 bytes): rounded to 4 decimals, no
 * exponent, so what is written is exactly what the geometry in the ground truth says
 * after the same rounding.
 */
export function ds(x: number): number {
  const r = Math.round(x * 1e4) / 1e4;
  return Object.is(r, -0) ? 0 : r;
}
