/**
 * Frames of a native object, located in its stored Part 10 bytes as they arrived from Orthanc (a
 * list of socket chunks), without copying the pixels. Used for one frame of a single-frame object
 * (the common case: a viewer scrolling a CT or MR series) and for Explicit VR Big Endian objects,
 * whose stored bytes Orthanc's `/raw` does not return (it answers decoded little-endian pixels).
 *
 * Why: a viewer reads a series frame by frame, and on the frame path the gateway's cost is mostly
 * moving bytes. Orthanc's `/file` streams the stored bytes without parsing them, where
 * `/frames/0/raw` has DCMTK parse the whole object first (measured on this machine: ~0.4 vs
 * ~0.75 ms of Orthanc CPU per 512² CT frame); and every extra copy of half a megabyte per frame
 * is garbage that triggers V8's external-memory collections (a fifth of the gateway's CPU in the
 * frame benchmark when the frame was copied twice).
 *
 * Invariants: only the header (up to the PixelData element) is parsed, from the shortest prefix of
 * chunks that holds it; each frame is subarrays of the input chunks covering exactly that frame's
 * bytes (PS3.5 8.1.1: native frames are contiguous, without padding between them), so a trailing
 * pad byte of an odd-length value is never served. Anything unusual (no PixelData, undefined
 * length, a value shorter than the frames asked, a header the parser refuses) answers null: the
 * caller then asks Orthanc's `/raw` (for big-endian objects, answers 404) — for little-endian
 * objects this path is an optimisation, never a second opinion.
 */
import { type DataSet, dicomParser } from './dicom-parser.js';
import { expectedNativePixelBytes } from './stow-validate.js';

/** The parsed header, from the fewest leading chunks that contain the PixelData element's header. */
function parseHeader(chunks: readonly Buffer[]): DataSet | null {
  let prefix = chunks[0];
  let used = 1;
  while (prefix) {
    try {
      const ds = dicomParser.parseDicom(prefix, { untilTag: 'x7fe00010' });
      if (ds.elements.x7fe00010) return ds;
    } catch {
      // The prefix ends inside an element: read one chunk more.
    }
    if (used >= chunks.length) return null;
    prefix = Buffer.concat([prefix, chunks[used++]!]);
  }
  return null;
}

/** The bytes [start, end) of the concatenated chunks, as subarrays of them (no copy). */
export function sliceChunks(chunks: readonly Buffer[], start: number, end: number): Buffer[] {
  const out: Buffer[] = [];
  let offset = 0;
  for (const c of chunks) {
    const from = Math.max(start, offset);
    const to = Math.min(end, offset + c.length);
    if (from < to) out.push(c.subarray(from - offset, to - offset));
    offset += c.length;
    if (offset >= end) break;
  }
  return out;
}

/**
 * The frames `frameNumbers` (1-based) of a native (uncompressed, not deflated) object given as the
 * chunks of its Part 10 bytes, each as subarrays of the chunks; null when any of them cannot be
 * located safely (see the invariants above), including a frame the object does not have and,
 * for objects whose frames are not whole bytes (1-bit pixels), any frame but the first.
 */
export function locateNativeFrames(
  chunks: readonly Buffer[],
  frameNumbers: readonly number[],
): Buffer[][] | null {
  if (chunks.length === 0) return null;
  const ds = parseHeader(chunks);
  if (!ds) return null;
  const el = ds.elements.x7fe00010!;
  const rows = ds.uint16('x00280010');
  const columns = ds.uint16('x00280011');
  const bits = ds.uint16('x00280100');
  if (el.hadUndefinedLength || el.encapsulatedPixelData || !rows || !columns || !bits) return null;
  const framesText = ds.string('x00280008');
  const numberOfFrames = framesText === undefined ? 1 : Number.parseInt(framesText, 10);
  const geometry = {
    rows,
    columns,
    samplesPerPixel: ds.uint16('x00280002') ?? 1,
    bitsAllocated: bits,
    photometric: ds.string('x00280004') ?? '',
  };
  const size = expectedNativePixelBytes({ ...geometry, frames: 1 });
  const wholeBytes = expectedNativePixelBytes({ ...geometry, frames: 2 }) === 2 * size;
  const total = chunks.reduce((n, c) => n + c.length, 0);
  const out: Buffer[][] = [];
  for (const f of frameNumbers) {
    if (!Number.isInteger(f) || f < 1 || !(f <= numberOfFrames) || (f > 1 && !wholeBytes)) return null;
    const start = el.dataOffset + (f - 1) * size;
    if (start + size > el.dataOffset + el.length || start + size > total) return null;
    out.push(sliceChunks(chunks, start, start + size));
  }
  return out;
}
