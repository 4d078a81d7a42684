/**
 * Locating frames of a native object in its stored bytes as they arrive in socket chunks
 * (server/src/dicomweb/native-frame.ts): each answer equals the frame's pixel bytes for every way
 * the file can be cut into chunks, shares memory with the chunks (no copy), leaves out the pad
 * byte of an odd-length value, and is null (the caller then asks Orthanc's /raw, or answers 404)
 * for anything it cannot locate safely.
 */
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { dicomParser } from '../../server/src/dicomweb/dicom-parser.js';
import { locateNativeFrames, sliceChunks } from '../../server/src/dicomweb/native-frame.js';
import { makeInstance, newUid } from '../helpers/dicom.js';

const dcmjs = createRequire(import.meta.url)('dcmjs');

/** Cuts `bytes` into chunks of the given sizes, cycling through them (like socket reads). */
function chunked(bytes: Buffer, sizes: number[]): Buffer[] {
  const out: Buffer[] = [];
  for (let at = 0, k = 0; at < bytes.length; k++) {
    const n = sizes[k % sizes.length]!;
    out.push(bytes.subarray(at, at + n));
    at += n;
  }
  return out;
}

const CUTS = [[1], [7, 13], [64], [4096], [65_536], [3, 1_000_000]];

/** An 8-bit single-frame object of 3x3 pixels: a 9-byte value, padded to 10 when written. */
function eightBitOddLength(): { bytes: Buffer; pixels: Buffer } {
  const sop = newUid();
  const pixels = Buffer.from([1, 2, 3, 4, 5, 6, 7, 8, 9]);
  const meta = {
    FileMetaInformationVersion: new Uint8Array([0, 1]).buffer,
    MediaStorageSOPClassUID: '1.2.840.10008.5.1.4.1.1.7',
    MediaStorageSOPInstanceUID: sop,
    TransferSyntaxUID: '1.2.840.10008.1.2.1',
    ImplementationClassUID: '2.25.1',
  };
  const { DicomDict, DicomMetaDictionary } = dcmjs.data;
  const dict = new DicomDict(DicomMetaDictionary.denaturalizeDataset(meta));
  dict.dict = DicomMetaDictionary.denaturalizeDataset({
    SOPClassUID: '1.2.840.10008.5.1.4.1.1.7',
    SOPInstanceUID: sop,
    Rows: 3,
    Columns: 3,
    SamplesPerPixel: 1,
    PhotometricInterpretation: 'MONOCHROME2',
    BitsAllocated: 8,
    BitsStored: 8,
    HighBit: 7,
    PixelRepresentation: 0,
    PixelData: pixels.buffer.slice(pixels.byteOffset, pixels.byteOffset + pixels.length),
    _vrMap: { PixelData: 'OB' },
  });
  return { bytes: Buffer.from(dict.write()), pixels };
}

describe('locateNativeFrames', () => {
  for (const [name, ts] of [
    ['Explicit VR Little Endian', '1.2.840.10008.1.2.1'],
    ['Implicit VR Little Endian', '1.2.840.10008.1.2'],
    ['Explicit VR Big Endian', '1.2.840.10008.1.2.2'],
  ] as const) {
    it(`finds the frame of ${name} however the bytes are chunked, without copying it`, () => {
      const m = makeInstance({ rows: 24, columns: 32, transferSyntaxUid: ts });
      for (const sizes of CUTS) {
        const chunks = chunked(m.bytes, sizes);
        const frame = locateNativeFrames(chunks, [1])?.[0] ?? null;
        expect(frame, `${sizes}`).not.toBeNull();
        expect(Buffer.concat(frame!).equals(m.pixels), `${sizes}`).toBe(true);
        for (const part of frame!) expect(chunks.some((c) => c.buffer === part.buffer)).toBe(true);
      }
    });
  }

  it('leaves out the pad byte of an odd-length value', () => {
    const { bytes, pixels } = eightBitOddLength();
    expect(dicomParser.parseDicom(bytes).elements.x7fe00010!.length).toBe(10);
    const frame = locateNativeFrames(chunked(bytes, [5]), [1])?.[0] ?? null;
    expect(Buffer.concat(frame!).equals(pixels)).toBe(true);
  });

  it('finds the asked frames of a multi-frame object, in the order asked', () => {
    const m = makeInstance({ rows: 24, columns: 32, frames: 3 });
    const size = 24 * 32 * 2;
    const frames = locateNativeFrames(chunked(m.bytes, [1000]), [3, 1, 2]);
    expect(frames!.map((f) => Buffer.concat(f))).toEqual([
      m.pixels.subarray(2 * size, 3 * size),
      m.pixels.subarray(0, size),
      m.pixels.subarray(size, 2 * size),
    ]);
  });

  it('is null for what it cannot locate safely: a frame not there, too few pixels, a cut header, nothing', () => {
    const three = makeInstance({ frames: 3 }).bytes;
    expect(locateNativeFrames([three], [4])).toBeNull();
    expect(locateNativeFrames([three], [0])).toBeNull();
    expect(
      locateNativeFrames([makeInstance({ rows: 24, columns: 32, pixelBytes: 100 }).bytes], [1]),
    ).toBeNull();
    const m = makeInstance({ rows: 24, columns: 32 });
    expect(locateNativeFrames([m.bytes.subarray(0, 300)], [1])).toBeNull();
    // The file ends inside the pixel value: the frame is not all there.
    expect(locateNativeFrames([m.bytes.subarray(0, m.bytes.length - 10)], [1])).toBeNull();
    expect(locateNativeFrames([Buffer.from('not a DICOM file at all, just text')], [1])).toBeNull();
    expect(locateNativeFrames([], [1])).toBeNull();
  });
});

describe('sliceChunks', () => {
  it('returns exactly the bytes of a range across chunk boundaries', () => {
    const whole = Buffer.from('abcdefghijklmnopqrstuvwxyz');
    const chunks = chunked(whole, [3, 5, 1]);
    for (const [a, b] of [
      [0, 26],
      [2, 9],
      [8, 9],
      [25, 26],
      [4, 4],
    ] as const) {
      expect(Buffer.concat(sliceChunks(chunks, a, b)).toString()).toBe(whole.subarray(a, b).toString());
    }
  });
});
