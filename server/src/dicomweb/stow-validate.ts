/**
 * Validation of one STOW-RS part before anything is stored (PS3.18 10.5). Pure: bytes in, a
 * verdict out, so it is unit-tested table-driven and the route only orchestrates.
 *
 * Failure reasons (PS3.18 10.5.3, codes from PS3.4 Annex B.2.3 Storage Service statuses and the
 * general statuses of PS3.7 Annex C), as used here:
 *   0xC000 Cannot understand        — not Part 10, unparsable, a required UID missing or malformed
 *   0xC122 Transfer syntax not supported — a transfer syntax this archive does not know
 *   0xA900 Data set does not match SOP class — pixel data inconsistent with its description,
 *                                      or the study UID differs from the request URL's
 *   0xA700 Out of resources         — the part is larger than the per-instance limit
 *   0x0122 SOP class not supported  — a non-storage SOP class (e.g. a DICOMDIR)
 * The route adds 0x0110 (processing failure), 0x0111 (duplicate SOP instance) and 0x0124
 * (refused: not authorised) for conditions that need the database or Orthanc.
 *
 * Warnings (PS3.4 B.2.3; PS3.18 10.5.3: the instance is stored, the answer is 202 and its
 * ReferencedSOPSequence item carries WarningReason): 0xB007 "data set does not match SOP class"
 * for objects this archive stores as received although they contradict their own SOP class —
 * an image storage class without pixel data, pixel data without the Image Pixel module's other
 * Type 1 attributes, or file meta information naming another SOP class or instance than the
 * data set. 0xB000 (coercion) and 0xB006 (elements discarded) never apply: the stored object is
 * byte for byte what was sent.
 */
import type { DicomJson } from '../index/dicom-json.js';
import { type DataSet, dicomParser } from './dicom-parser.js';
import { isSafeUid, TS } from './media-types.js';
import { ownDicomJson } from './own-dicom-json.js';
import { MAX_SEQUENCE_DEPTH, nestsDeeperThan } from './sequence-depth.js';
import { structuralProblem } from './structure-check.js';

export const FAILURE = {
  PROCESSING_FAILURE: 0x0110,
  DUPLICATE_SOP_INSTANCE: 0x0111,
  SOP_CLASS_NOT_SUPPORTED: 0x0122,
  NOT_AUTHORISED: 0x0124,
  OUT_OF_RESOURCES: 0xa700,
  DATASET_DOES_NOT_MATCH_SOP_CLASS: 0xa900,
  CANNOT_UNDERSTAND: 0xc000,
  TRANSFER_SYNTAX_NOT_SUPPORTED: 0xc122,
} as const;
export type FailureReason = (typeof FAILURE)[keyof typeof FAILURE];

export const WARNING = {
  DATASET_DOES_NOT_MATCH_SOP_CLASS: 0xb007,
} as const;
export type WarningReason = (typeof WARNING)[keyof typeof WARNING];

/**
 * Image storage SOP classes (PS3.4 B.5): objects of these classes are images, whose IODs require
 * the Image Pixel module, hence Pixel Data (Float / Double Float Pixel Data classes excepted).
 */
const IMAGE_STORAGE_CLASSES: ReadonlySet<string> = new Set(
  [
    '1', // CR
    '1.1',
    '1.1.1',
    '1.2',
    '1.2.1',
    '1.3',
    '1.3.1', // DX, MG, IO (presentation / processing)
    '2',
    '2.1',
    '2.2', // CT, Enhanced CT, Legacy Converted Enhanced CT
    '3.1', // US Multi-frame
    '4',
    '4.1',
    '4.3',
    '4.4', // MR, Enhanced MR, Enhanced MR Color, Legacy Converted Enhanced MR
    '6.1',
    '6.2', // US, Enhanced US Volume
    '7',
    '7.1',
    '7.2',
    '7.3',
    '7.4', // Secondary Capture family
    '12.1',
    '12.1.1',
    '12.2',
    '12.2.1', // XA, Enhanced XA, RF, Enhanced XRF
    '13.1.1',
    '13.1.3', // X-Ray 3D Angiographic, Breast Tomosynthesis
    '20', // NM
    '77.1.1',
    '77.1.2',
    '77.1.4',
    '77.1.5.1',
    '77.1.5.2', // VL endoscopic, microscopic, photographic, ophthalmic photography
    '128',
    '130', // PET, Enhanced PET
    '481.1', // RT Image
  ].map((s) => `1.2.840.10008.5.1.4.1.1.${s}`),
);

/** Native (uncompressed) transfer syntaxes: the pixel data length is checkable. Deflate inflates to native. */
const NATIVE = new Set([TS.IMPLICIT_LE, TS.EXPLICIT_LE, '1.2.840.10008.1.2.1.99', '1.2.840.10008.1.2.2']);

/** Every standard transfer syntax (PS3.6 Table A-1) that Orthanc stores byte for byte. */
export const KNOWN_TRANSFER_SYNTAXES: ReadonlySet<string> = new Set([
  ...NATIVE,
  '1.2.840.10008.1.2.4.50',
  '1.2.840.10008.1.2.4.51',
  '1.2.840.10008.1.2.4.57',
  '1.2.840.10008.1.2.4.70',
  '1.2.840.10008.1.2.4.80',
  '1.2.840.10008.1.2.4.81',
  '1.2.840.10008.1.2.4.90',
  '1.2.840.10008.1.2.4.91',
  '1.2.840.10008.1.2.4.92',
  '1.2.840.10008.1.2.4.93',
  '1.2.840.10008.1.2.4.100',
  '1.2.840.10008.1.2.4.101',
  '1.2.840.10008.1.2.4.102',
  '1.2.840.10008.1.2.4.103',
  '1.2.840.10008.1.2.4.104',
  '1.2.840.10008.1.2.4.105',
  '1.2.840.10008.1.2.4.106',
  '1.2.840.10008.1.2.4.107',
  '1.2.840.10008.1.2.4.108',
  '1.2.840.10008.1.2.4.201',
  '1.2.840.10008.1.2.4.202',
  '1.2.840.10008.1.2.4.203',
  TS.RLE,
]);

export interface ValidInstance {
  sopClassUid: string;
  sopInstanceUid: string;
  studyUid: string;
  seriesUid: string;
  transferSyntaxUid: string;
  /** PatientID as read here (trimmed; '' when absent): with the UIDs, Orthanc's instance id. */
  patientId: string;
  /** Stored with a warning (PS3.4 B.2.3): its code and a client-safe explanation. */
  warning?: { reason: WarningReason; comment: string };
  /** The DICOM JSON for the index, when this parse is certain to equal Orthanc's (own-dicom-json.ts). */
  dicomJson?: DicomJson;
}

export type Verdict =
  | { ok: true; instance: ValidInstance }
  | {
      ok: false;
      reason: FailureReason;
      /** Client-safe explanation, no patient data. */
      comment: string;
      sopClassUid?: string;
      sopInstanceUid?: string;
    };

export interface ValidateOptions {
  /** The study UID of the request URL, when the client gave one. */
  studyUid?: string;
  /** Largest instance accepted. */
  maxBytes: number;
}

/** dicom-parser pads nothing away for UI values with a trailing NUL; strip both kinds of padding. */
function uid(ds: DataSet, tag: string): string | undefined {
  const v = ds.string(tag);
  return v === undefined ? undefined : v.replace(/[\0 ]+$/, '');
}

/**
 * Never throws: dicom-parser's accessors throw (strings, not Errors) on values that run past the
 * buffer, and a throw here would fail the whole request instead of refusing this one part.
 */
export function validatePart10(bytes: Uint8Array, opts: ValidateOptions): Verdict {
  try {
    return validateUnsafe(bytes, opts);
  } catch (e) {
    const msg = typeof e === 'string' ? e : e instanceof Error ? e.message : 'parse error';
    return {
      ok: false,
      reason: FAILURE.CANNOT_UNDERSTAND,
      comment: `The DICOM file cannot be read (${msg.replace(/^dicomParser\.\w+: /, '').slice(0, 160)}).`,
    };
  }
}

function validateUnsafe(bytes: Uint8Array, opts: ValidateOptions): Verdict {
  const fail = (reason: FailureReason, comment: string, ids: Partial<ValidInstance> = {}): Verdict => ({
    ok: false,
    reason,
    comment,
    ...(ids.sopClassUid ? { sopClassUid: ids.sopClassUid } : {}),
    ...(ids.sopInstanceUid ? { sopInstanceUid: ids.sopInstanceUid } : {}),
  });
  if (bytes.length > opts.maxBytes) {
    return fail(FAILURE.OUT_OF_RESOURCES, `The instance is larger than the limit of ${opts.maxBytes} bytes.`);
  }
  // PS3.10 7.1: 128-byte preamble then "DICM". STOW-RS carries Part 10 files (PS3.18 8.7.3.1).
  if (
    bytes.length < 132 ||
    bytes[128] !== 0x44 ||
    bytes[129] !== 0x49 ||
    bytes[130] !== 0x43 ||
    bytes[131] !== 0x4d
  ) {
    return fail(FAILURE.CANNOT_UNDERSTAND, 'Not a DICOM Part 10 file (no "DICM" prefix after the preamble).');
  }
  let ds: DataSet;
  try {
    ds = dicomParser.parseDicom(bytes);
  } catch (e) {
    // dicom-parser throws strings (and sometimes attaches the partial data set); either way the file is unusable.
    const msg = typeof e === 'string' ? e : e instanceof Error ? e.message : 'parse error';
    return fail(
      FAILURE.CANNOT_UNDERSTAND,
      `The DICOM file cannot be parsed (${msg.replace(/^dicomParser\.\w+: /, '').slice(0, 160)}).`,
    );
  }
  const ids: Partial<ValidInstance> = {};
  const sopClassUid = uid(ds, 'x00080016') ?? uid(ds, 'x00020002');
  const sopInstanceUid = uid(ds, 'x00080018');
  if (sopClassUid) ids.sopClassUid = sopClassUid;
  if (sopInstanceUid) ids.sopInstanceUid = sopInstanceUid;
  const required: [string, string | undefined][] = [
    ['SOPClassUID', sopClassUid],
    ['SOPInstanceUID', sopInstanceUid],
    ['StudyInstanceUID', uid(ds, 'x0020000d')],
    ['SeriesInstanceUID', uid(ds, 'x0020000e')],
  ];
  for (const [name, value] of required) {
    if (!value) return fail(FAILURE.CANNOT_UNDERSTAND, `${name} is missing.`, ids);
    if (!isSafeUid(value)) return fail(FAILURE.CANNOT_UNDERSTAND, `${name} is not a valid UID.`, ids);
  }
  const broken = structuralProblem(ds, bytes.length);
  if (broken) return fail(FAILURE.CANNOT_UNDERSTAND, broken, ids);
  if (nestsDeeperThan(ds, MAX_SEQUENCE_DEPTH)) {
    return fail(
      FAILURE.CANNOT_UNDERSTAND,
      `Sequences are nested more than ${MAX_SEQUENCE_DEPTH} levels deep; this archive refuses such objects.`,
      ids,
    );
  }
  // The meta header's copy of the instance UID (PS3.10 7.1) is what some readers use as a file
  // name: a path-like value there is refused like one in the data set.
  const metaSopInstanceUid = uid(ds, 'x00020003');
  if (metaSopInstanceUid !== undefined && !isSafeUid(metaSopInstanceUid)) {
    return fail(FAILURE.CANNOT_UNDERSTAND, 'MediaStorageSOPInstanceUID is not a valid UID.', ids);
  }
  const studyUid = required[2]![1]!;
  const seriesUid = required[3]![1]!;
  const ts = uid(ds, 'x00020010');
  if (!ts) return fail(FAILURE.CANNOT_UNDERSTAND, 'The file meta information has no TransferSyntaxUID.', ids);
  if (!KNOWN_TRANSFER_SYNTAXES.has(ts)) {
    return fail(
      FAILURE.TRANSFER_SYNTAX_NOT_SUPPORTED,
      `Transfer syntax ${isSafeUid(ts) ? ts : '(malformed)'} is not supported.`,
      ids,
    );
  }
  // Storage SOP classes live under 1.2.840.10008.5.1.4 (PS3.4 B.5); other standard classes (a
  // DICOMDIR, a verification class) are not storable objects. Private roots are accepted.
  if (sopClassUid!.startsWith('1.2.840.10008.') && !sopClassUid!.startsWith('1.2.840.10008.5.1.4.')) {
    return fail(FAILURE.SOP_CLASS_NOT_SUPPORTED, 'The SOP class is not a storage SOP class.', ids);
  }
  if (opts.studyUid !== undefined && studyUid !== opts.studyUid) {
    return fail(
      FAILURE.DATASET_DOES_NOT_MATCH_SOP_CLASS,
      'The StudyInstanceUID differs from the study in the request URL.',
      ids,
    );
  }
  const pixelProblem = checkPixelData(ds, ts);
  if (pixelProblem) return fail(FAILURE.DATASET_DOES_NOT_MATCH_SOP_CLASS, pixelProblem, ids);
  const mismatch = sopClassMismatch(ds, sopClassUid!, sopInstanceUid!);
  const dicomJson = ownDicomJson(ds, ts);
  return {
    ok: true,
    instance: {
      sopClassUid: sopClassUid!,
      sopInstanceUid: sopInstanceUid!,
      studyUid,
      seriesUid,
      transferSyntaxUid: ts,
      patientId: (ds.string('x00100020') ?? '').trim(),
      ...(mismatch
        ? { warning: { reason: WARNING.DATASET_DOES_NOT_MATCH_SOP_CLASS, comment: mismatch } }
        : {}),
      ...(dicomJson ? { dicomJson } : {}),
    },
  };
}

/** Why a storable object contradicts its SOP class (stored anyway, with warning 0xB007), if it does. */
function sopClassMismatch(ds: DataSet, sopClassUid: string, sopInstanceUid: string): string | undefined {
  const metaClass = uid(ds, 'x00020002');
  const metaInstance = uid(ds, 'x00020003');
  if (metaClass && uid(ds, 'x00080016') && metaClass !== sopClassUid)
    return 'The file meta names another SOP class than the data set.';
  if (metaInstance && metaInstance !== sopInstanceUid)
    return 'The file meta names another SOP instance than the data set.';
  const pixels = ds.elements['x7fe00010'];
  if (!pixels) {
    return IMAGE_STORAGE_CLASSES.has(sopClassUid)
      ? 'An image storage SOP class without Pixel Data.'
      : undefined;
  }
  const missing = [
    ['x00280002', 'SamplesPerPixel'],
    ['x00280004', 'PhotometricInterpretation'],
    ['x00280101', 'BitsStored'],
    ['x00280102', 'HighBit'],
    ['x00280103', 'PixelRepresentation'],
  ].filter(([tag]) => !ds.elements[tag!] || ds.elements[tag!]!.length === 0);
  return missing.length > 0
    ? `Image Pixel module lacks ${missing.map(([, name]) => name).join(', ')}.`
    : undefined;
}

/** Expected bytes of native pixel data (PS3.5 8.1.1, 8.2), or undefined if the description is incomplete. */
export function expectedNativePixelBytes(d: {
  rows: number;
  columns: number;
  samplesPerPixel: number;
  bitsAllocated: number;
  frames: number;
  photometric?: string;
}): number {
  // YBR_*_422 native: two samples per pixel on average (PS3.3 C.7.6.3.1.2).
  const samples = d.photometric?.endsWith('_422') ? 2 : d.samplesPerPixel;
  const bits = d.rows * d.columns * samples * d.bitsAllocated * d.frames;
  return Math.ceil(bits / 8);
}

function checkPixelData(ds: DataSet, ts: string): string | undefined {
  const el = ds.elements['x7fe00010'];
  if (!el) return undefined; // SR, RT plan, …: no pixels to check
  const rows = ds.uint16('x00280010');
  const columns = ds.uint16('x00280011');
  const bitsAllocated = ds.uint16('x00280100');
  if (!rows || !columns || !bitsAllocated)
    return 'PixelData is present but Rows, Columns or BitsAllocated is missing or zero.';
  if (![1, 8, 16, 32, 64].includes(bitsAllocated)) return `BitsAllocated ${bitsAllocated} is not valid.`;
  const framesText = ds.string('x00280008');
  const frames = framesText === undefined ? 1 : Number.parseInt(framesText, 10);
  if (!Number.isFinite(frames) || frames < 1) return 'NumberOfFrames is not a positive integer.';
  if (el.encapsulatedPixelData) {
    if (NATIVE.has(ts)) return 'PixelData is encapsulated under a native transfer syntax.';
    if (!el.fragments || el.fragments.length === 0) return 'Encapsulated PixelData has no fragments.';
    if ((el.basicOffsetTable?.length ?? 0) > frames)
      return 'The basic offset table lists more frames than NumberOfFrames.';
    return undefined;
  }
  if (!NATIVE.has(ts)) return 'PixelData is not encapsulated under a compressed transfer syntax.';
  const photometric = ds.string('x00280004');
  const expected = expectedNativePixelBytes({
    rows,
    columns,
    samplesPerPixel: ds.uint16('x00280002') ?? 1,
    bitsAllocated,
    frames,
    ...(photometric ? { photometric } : {}),
  });
  if (el.length < expected) {
    return `PixelData holds ${el.length} bytes, fewer than the ${expected} its description requires.`;
  }
  return undefined;
}
