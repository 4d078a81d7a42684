/**
 * Fetch a series from Orthanc's REST API and decode it into slices:
 *   POST /tools/lookup (SeriesInstanceUID → Orthanc series id)
 *   GET  /series/{id}/instances            (the instance ids)
 *   GET  /instances/{id}/file              (the stored Part 10 file, byte for byte)
 * Compressed transfer syntaxes: Orthanc 1.10 (this stack) has no `?transcode=` on /file (added
 * in 1.12.2), and its `/modify {"Transcode": …}` crashed the Orthanc of this stack (SIGSEGV,
 * tried with RLE and JPEG lossless) — a worker must never take the PACS down. So the frame is
 * decoded by Orthanc's image path, the one its own viewers use: GET
 * /instances/{id}/frames/0/image-uint16 (or image-int16 for signed data) with
 * `Accept: image/x-portable-arbitrarymap` returns the stored values as a 16-bit PAM; the header
 * (geometry, rescale, UIDs) comes from the original file. Values that do not fit in 16 bits and
 * what Orthanc cannot decode are refused with the reason.
 */
import { createRequire } from 'node:module';
import {
  DecodeError,
  decodeImage,
  EXPLICIT_VR_LITTLE_ENDIAN,
  IMPLICIT_VR_LITTLE_ENDIAN,
  type SeriesAttributes,
  seriesAttributes,
  transferSyntaxOf,
} from './decode-dicom.js';
import type { DecodedSlice } from './volume.js';

const dicomParser = createRequire(import.meta.url)('dicom-parser') as typeof import('dicom-parser');

export interface OrthancAccess {
  url: string;
  username: string;
  password: string;
}

export class SeriesLoadError extends Error {
  constructor(
    readonly code: 'not-found' | 'orthanc-error' | 'cannot-transcode' | 'decode-failed',
    message: string,
    /** Worth retrying (Orthanc unreachable or 5xx) — the pipeline maps false to UnrecoverableError. */
    readonly transient: boolean,
  ) {
    super(message);
    this.name = 'SeriesLoadError';
  }
}

export interface LoadedSeries {
  attributes: SeriesAttributes;
  slices: DecodedSlice[];
  /** SOPInstanceUID of each slice, in the same order (SEG derivation, finding references). */
  sopInstanceUids: string[];
  /** Orthanc instance ids, in the same order (empty when decoded from files). */
  orthancIds: string[];
  /** How many instances Orthanc had to decode (compressed transfer syntaxes). */
  transcoded: number;
}

const NATIVE = new Set([IMPLICIT_VR_LITTLE_ENDIAN, EXPLICIT_VR_LITTLE_ENDIAN]);

async function call(o: OrthancAccess, path: string, init: RequestInit = {}): Promise<Response> {
  const auth = Buffer.from(`${o.username}:${o.password}`).toString('base64');
  let res: Response;
  try {
    res = await fetch(`${o.url}${path}`, {
      ...init,
      headers: { ...init.headers, authorization: `Basic ${auth}` },
    });
  } catch (err) {
    throw new SeriesLoadError('orthanc-error', `Orthanc unreachable: ${(err as Error).message}`, true);
  }
  return res;
}

async function json<T>(o: OrthancAccess, path: string, init?: RequestInit): Promise<T> {
  const res = await call(o, path, init);
  if (!res.ok)
    throw new SeriesLoadError(
      'orthanc-error',
      `Orthanc ${path.split('/')[1]} answered ${res.status}`,
      res.status >= 500,
    );
  return (await res.json()) as T;
}

async function bytes(o: OrthancAccess, path: string, init?: RequestInit): Promise<Uint8Array> {
  const res = await call(o, path, init);
  if (!res.ok) {
    const detail = (await res.text()).slice(0, 200);
    throw new SeriesLoadError(
      'orthanc-error',
      `Orthanc ${path.replace(/\/instances\/[^/]+/, '/instances/{id}')} answered ${res.status}: ${detail}`,
      res.status >= 500,
    );
  }
  return new Uint8Array(await res.arrayBuffer());
}

/** Orthanc's id of a series given its SeriesInstanceUID. */
export async function orthancSeriesId(o: OrthancAccess, seriesUid: string): Promise<string> {
  const hits = await json<Array<{ ID: string; Type: string }>>(o, '/tools/lookup', {
    method: 'POST',
    body: seriesUid,
  });
  const hit = hits.find((h) => h.Type === 'Series');
  if (!hit) throw new SeriesLoadError('not-found', 'series not found in Orthanc', false);
  return hit.ID;
}

/** One instance as a native little-endian Part 10 file plus its original attributes. */
async function fetchInstance(
  o: OrthancAccess,
  id: string,
): Promise<{ slice: DecodedSlice; attributes: SeriesAttributes; transcoded: boolean }> {
  const original = await bytes(o, `/instances/${id}/file`);
  const header = dicomParser.parseDicom(original, { untilTag: 'x7fe00010' });
  const attributes = seriesAttributes(header);
  let storedValues: ArrayLike<number> | undefined;
  if (!NATIVE.has(transferSyntaxOf(original))) {
    const signed = header.uint16('x00280103') === 1;
    if ((header.uint16('x00280101') ?? 16) > 16)
      throw new SeriesLoadError(
        'cannot-transcode',
        'compressed pixel data of more than 16 bits per sample',
        false,
      );
    const pam = await bytes(o, `/instances/${id}/frames/0/image-${signed ? 'int16' : 'uint16'}`, {
      headers: { accept: 'image/x-portable-arbitrarymap' },
    });
    storedValues = parsePam16(pam, signed);
  }
  try {
    const { slice } = decodeImage(original, storedValues ? { storedValues } : {});
    return { slice, attributes, transcoded: storedValues !== undefined };
  } catch (err) {
    if (err instanceof DecodeError) throw new SeriesLoadError('decode-failed', err.message, false);
    throw err;
  }
}

/** A 16-bit greyscale PAM (Netpbm P7: text header up to ENDHDR, then big-endian samples). */
export function parsePam16(pam: Uint8Array, signed: boolean): Int32Array {
  const text = Buffer.from(pam.subarray(0, Math.min(pam.length, 512))).toString('latin1');
  const end = text.indexOf('ENDHDR\n');
  if (!text.startsWith('P7') || end < 0)
    throw new SeriesLoadError('cannot-transcode', 'Orthanc did not answer a PAM image', false);
  const field = (k: string) => Number(new RegExp(`\\n${k} (\\d+)`).exec(text)?.[1]);
  const w = field('WIDTH');
  const h = field('HEIGHT');
  const depth = field('DEPTH');
  const max = field('MAXVAL');
  if (depth !== 1 || max !== 65535)
    throw new SeriesLoadError('cannot-transcode', `PAM with depth ${depth}, maxval ${max}`, false);
  const view = new DataView(pam.buffer, pam.byteOffset + end + 7, w * h * 2);
  const out = new Int32Array(w * h);
  for (let q = 0; q < out.length; q++)
    out[q] = signed ? view.getInt16(q * 2, false) : view.getUint16(q * 2, false);
  return out;
}

/** All images of a series, decoded (in Orthanc's order; buildVolume sorts them spatially). */
export async function loadSeriesFromOrthanc(
  o: OrthancAccess,
  seriesUid: string,
  concurrency = 4,
): Promise<LoadedSeries> {
  const seriesId = await orthancSeriesId(o, seriesUid);
  const instances = await json<Array<{ ID: string }>>(o, `/series/${seriesId}/instances`);
  if (instances.length === 0) throw new SeriesLoadError('not-found', 'the series has no instances', false);
  const results = new Array<Awaited<ReturnType<typeof fetchInstance>>>(instances.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, instances.length) }, async () => {
      while (next < instances.length) {
        const n = next++;
        results[n] = await fetchInstance(o, instances[n]!.ID);
      }
    }),
  );
  return {
    attributes: results[0]!.attributes,
    slices: results.map((r) => r.slice),
    sopInstanceUids: results.map((r) => r.attributes.sopInstanceUid),
    orthancIds: instances.map((i) => i.ID),
    transcoded: results.filter((r) => r.transcoded).length,
  };
}

/** Decode Part 10 files already in memory (tests, local directories). */
export function decodeFiles(files: readonly Uint8Array[]): LoadedSeries {
  if (files.length === 0) throw new SeriesLoadError('not-found', 'no files', false);
  const decoded = files.map((f) => {
    try {
      return decodeImage(f);
    } catch (err) {
      if (err instanceof DecodeError) throw new SeriesLoadError('decode-failed', err.message, false);
      throw err;
    }
  });
  return {
    attributes: decoded[0]!.attributes,
    slices: decoded.map((d) => d.slice),
    sopInstanceUids: decoded.map((d) => d.attributes.sopInstanceUid),
    orthancIds: [],
    transcoded: 0,
  };
}
