/**
 * One Part 10 image → a decoded slice (Modality LUT applied) plus the attributes series
 * selection needs. Native (uncompressed) little-endian pixel data: 8- or 16-bit, signed or
 * unsigned, with BitsStored < BitsAllocated masked and sign-extended as PS3.5 §8 requires.
 * Compressed pixel data is decoded by Orthanc (load-series.ts) and passed in as stored values;
 * anything else is refused with a reason.
 */
import { createRequire } from 'node:module';
import type { DataSet } from 'dicom-parser';
import type { DecodedSlice, Vec3 } from './volume.js';

const dicomParser = createRequire(import.meta.url)('dicom-parser') as typeof import('dicom-parser');

export const IMPLICIT_VR_LITTLE_ENDIAN = '1.2.840.10008.1.2';
export const EXPLICIT_VR_LITTLE_ENDIAN = '1.2.840.10008.1.2.1';
const NATIVE = new Set([IMPLICIT_VR_LITTLE_ENDIAN, EXPLICIT_VR_LITTLE_ENDIAN]);

/** Attributes series-selection rules and the outputs need (no patient data). */
export interface SeriesAttributes {
  studyUid: string;
  seriesUid: string;
  sopInstanceUid: string;
  sopClassUid: string;
  frameOfReferenceUid: string;
  modality: string;
  bodyPartExamined: string | undefined;
  seriesDescription: string;
  sliceThickness: number | undefined;
  transferSyntaxUid: string;
}

export class DecodeError extends Error {
  constructor(
    readonly code: 'not-an-image' | 'unsupported-transfer-syntax' | 'unsupported-pixels' | 'missing-geometry',
    message: string,
  ) {
    super(message);
    this.name = 'DecodeError';
  }
}

function numbers(ds: DataSet, tag: string): number[] | undefined {
  const s = ds.string(tag);
  if (s === undefined || s.trim() === '') return undefined;
  return s.split('\\').map(Number);
}

export function transferSyntaxOf(bytes: Uint8Array): string {
  const meta = dicomParser.readPart10Header(bytes, { untilTag: 'x00020010' });
  return meta.string('x00020010')?.trim() ?? IMPLICIT_VR_LITTLE_ENDIAN;
}

export function seriesAttributes(ds: DataSet): SeriesAttributes {
  return {
    studyUid: ds.string('x0020000d') ?? '',
    seriesUid: ds.string('x0020000e') ?? '',
    sopInstanceUid: ds.string('x00080018') ?? '',
    sopClassUid: ds.string('x00080016') ?? '',
    frameOfReferenceUid: ds.string('x00200052') ?? '',
    modality: ds.string('x00080060') ?? '',
    bodyPartExamined: ds.string('x00180015') || undefined,
    seriesDescription: ds.string('x0008103e') ?? '',
    sliceThickness: ds.floatString('x00180050'),
    transferSyntaxUid: ds.string('x00020010')?.trim() ?? IMPLICIT_VR_LITTLE_ENDIAN,
  };
}

/**
 * Decode one image. `singleSliceOk` accepts images without ImagePositionPatient/Orientation
 * (then an axial identity geometry is assumed) — only for one-image test files, never for
 * volumes, where position decides slice order.
 */
export function decodeImage(
  bytes: Uint8Array,
  opts: {
    assumeGeometry?: boolean;
    /**
     * Stored pixel values decoded elsewhere (Orthanc decodes compressed frames): then only the
     * header of `bytes` is read and the Modality LUT applied to these values.
     */
    storedValues?: ArrayLike<number>;
  } = {},
): { attributes: SeriesAttributes; slice: DecodedSlice } {
  const ds = dicomParser.parseDicom(bytes, opts.storedValues ? { untilTag: 'x7fe00010' } : undefined);
  const attributes = seriesAttributes(ds);
  if (!opts.storedValues && !NATIVE.has(attributes.transferSyntaxUid))
    throw new DecodeError(
      'unsupported-transfer-syntax',
      `transfer syntax ${attributes.transferSyntaxUid} is not native little endian (decode the frames first)`,
    );
  const px = ds.elements.x7fe00010;
  if (!px && !opts.storedValues) throw new DecodeError('not-an-image', 'no Pixel Data');
  const rows = ds.uint16('x00280010') ?? 0;
  const cols = ds.uint16('x00280011') ?? 0;
  const samples = ds.uint16('x00280002') ?? 1;
  const frames = Number(ds.string('x00280008') ?? '1');
  const bitsAllocated = ds.uint16('x00280100') ?? 16;
  const bitsStored = ds.uint16('x00280101') ?? bitsAllocated;
  const signed = ds.uint16('x00280103') === 1;
  const photometric = ds.string('x00280004')?.trim() ?? 'MONOCHROME2';
  if (samples !== 1 || !photometric.startsWith('MONOCHROME'))
    throw new DecodeError(
      'unsupported-pixels',
      `${photometric} with ${samples} samples per pixel is not a grey-scale image`,
    );
  if (frames > 1)
    throw new DecodeError(
      'unsupported-pixels',
      `multi-frame images (${frames} frames) are not supported yet`,
    );
  if (bitsAllocated !== 8 && bitsAllocated !== 16)
    throw new DecodeError('unsupported-pixels', `BitsAllocated ${bitsAllocated} is not 8 or 16`);
  const n = rows * cols;
  const slope = ds.floatString('x00281053') ?? 1;
  const intercept = ds.floatString('x00281052') ?? 0;
  const pixels = new Float32Array(n);
  if (opts.storedValues) {
    if (opts.storedValues.length !== n)
      throw new DecodeError(
        'unsupported-pixels',
        `${opts.storedValues.length} decoded values for ${rows}×${cols}`,
      );
    for (let q = 0; q < n; q++) pixels[q] = opts.storedValues[q]! * slope + intercept;
  } else {
    if (!px || n === 0 || px.length < (n * bitsAllocated) / 8)
      throw new DecodeError(
        'unsupported-pixels',
        `Pixel Data holds ${px?.length ?? 0} bytes for ${rows}×${cols}×${bitsAllocated / 8}`,
      );
    const view = new DataView(
      ds.byteArray.buffer,
      ds.byteArray.byteOffset + px.dataOffset,
      (n * bitsAllocated) / 8,
    );
    const mask = bitsStored >= 32 ? 0xffffffff : (1 << bitsStored) - 1;
    const signBit = 1 << (bitsStored - 1);
    for (let q = 0; q < n; q++) {
      let v = (bitsAllocated === 16 ? view.getUint16(q * 2, true) : view.getUint8(q)) & mask;
      if (signed && v & signBit) v -= 1 << bitsStored;
      pixels[q] = v * slope + intercept;
    }
  }
  // MONOCHROME1 (inverted display) does not change the stored values' meaning for CT/MR here.
  const ipp = numbers(ds, 'x00200032');
  const iop = numbers(ds, 'x00200037');
  const ps = numbers(ds, 'x00280030');
  if (ipp?.length !== 3 || !iop || iop.length !== 6 || !ps || ps.length !== 2) {
    if (!opts.assumeGeometry)
      throw new DecodeError(
        'missing-geometry',
        'ImagePositionPatient, ImageOrientationPatient or PixelSpacing missing',
      );
  }
  const pixelSpacing = (ps && ps.length === 2 ? ps : [1, 1]) as [number, number];
  return {
    attributes,
    slice: {
      rows,
      cols,
      position: (ipp && ipp.length === 3 ? ipp : [0, 0, 0]) as Vec3,
      orientation: (iop && iop.length === 6 ? iop : [1, 0, 0, 0, 1, 0]) as DecodedSlice['orientation'],
      pixelSpacing,
      ...(attributes.sliceThickness !== undefined ? { sliceThickness: attributes.sliceThickness } : {}),
      pixels,
    },
  };
}
