/**
 * WADO-RS frames (PS3.18 10.4.1.1.3) and bulk data (10.4.1.1.4), multipart/related.
 *
 * Invariants: frames are never gzipped (multipart and image types are outside the compressible
 * set); with `transfer-syntax=*`, or when the negotiated syntax is the stored one, each part is
 * Orthanc's `/frames/{n}/raw` — the stored frame bytes untouched (for encapsulated syntaxes the
 * frame's compressed bitstream, for native little-endian ones the frame's pixel bytes). Other
 * syntaxes come from Orthanc's transcoder, never JPEG-LS (media-types.ts).
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { AppError } from '../plugins/errors.js';
import type { OrthancResponse } from '../plugins/orthanc.js';
import { boundaryFor, immutableOrNotModified, strongEtag } from './http-cache.js';
import { AS_STORED, TS, type WadoRepresentation } from './media-types.js';
import { parseMultipartRelated } from './multipart.js';
import { locateNativeFrames } from './native-frame.js';
import { transcodedParts } from './orthanc-dicomweb.js';
import { openStoredFile } from './orthanc-files.js';
import { negotiateOrThrow, sendMultipart, sendOnePart } from './wado.js';
import { forgetSeries, type IndexedInstanceRow, resolveInstance, uidParamsSchema } from './wado-resolve.js';

/** The media type that carries frames of a stored transfer syntax (PS3.18 8.7.3.5.1 / 8.7.4). */
export function frameMediaTypeOf(ts: string | null): string {
  if (!ts) return 'application/octet-stream';
  if (ts === TS.JPEG_LS_LOSSLESS || ts === TS.JPEG_LS_NEAR_LOSSLESS) return 'image/jls';
  if (
    ts === TS.JPEG_2000 ||
    ts === TS.JPEG_2000_LOSSLESS ||
    ts === '1.2.840.10008.1.2.4.92' ||
    ts === '1.2.840.10008.1.2.4.93'
  )
    return 'image/jp2';
  if (ts === TS.RLE) return 'image/dicom-rle';
  if (/^1\.2\.840\.10008\.1\.2\.4\.(50|51|57|70)$/.test(ts)) return 'image/jpeg';
  if (/^1\.2\.840\.10008\.1\.2\.4\.10[0-8]$/.test(ts)) return 'video/mpeg';
  return 'application/octet-stream';
}

/** Little-endian native syntaxes whose raw frame bytes are Explicit/Implicit VR Little Endian pixel data. */
const NATIVE_LE = new Set<string>([TS.IMPLICIT_LE, TS.EXPLICIT_LE, '1.2.840.10008.1.2.1.99']);

function rawServes(rep: WadoRepresentation, storedTs: string | null): boolean {
  if (rep.orthancTransferSyntax === AS_STORED || (storedTs !== null && rep.transferSyntax === storedTs))
    return true;
  return (
    storedTs !== null &&
    NATIVE_LE.has(storedTs) &&
    rep.mediaType === 'application/octet-stream' &&
    (rep.transferSyntax === TS.EXPLICIT_LE || rep.transferSyntax === TS.IMPLICIT_LE)
  );
}

/** "1,3,2" → [1,3,2]; 400 for syntax, 404 for a frame the instance does not have. */
export function parseFrameList(text: string, numberOfFrames: number): number[] {
  if (!/^[1-9][0-9]{0,8}(,[1-9][0-9]{0,8}){0,9999}$/.test(text)) {
    throw new AppError(
      'RADLINK_BAD_REQUEST',
      'Frames must be a comma-separated list of frame numbers (1-based).',
    );
  }
  const frames = text.split(',').map(Number);
  if (frames.some((f) => f > numberOfFrames)) throw new AppError('RADLINK_NOT_FOUND', 'No such frame.');
  return frames;
}

const EXPLICIT_BE = '1.2.840.10008.1.2.2';

/**
 * Frames of a stored Explicit VR Big Endian object, cut from the stored file (native-frame.ts):
 * Orthanc's `/raw` hands back its decoded (little-endian) pixels there, which are not the stored
 * bytes.
 */
async function bigEndianFrames(
  app: FastifyInstance,
  orthancId: string,
  frames: number[],
): Promise<Buffer[][]> {
  const res = await openStoredFile(app.orthanc, orthancId);
  const chunks: Buffer[] = [];
  for await (const chunk of res.body) chunks.push(chunk as Buffer);
  const located = locateNativeFrames(chunks, frames);
  if (!located) throw new AppError('RADLINK_NOT_FOUND', 'No such frame.');
  return located;
}

/**
 * Largest single-frame answer read whole before it is sent (sendOnePart: one write with a
 * Content-Length, no per-chunk stream work). Larger frames (mammography) and multi-frame lists
 * stream part by part, so memory stays bounded: at most this much per request in flight.
 */
const BUFFERED_FRAME_BYTES = 8 * 1024 * 1024;

/** Native syntaxes whose frames are plain byte ranges of the stored file's PixelData value. */
const CUTTABLE = new Set<string>([TS.IMPLICIT_LE, TS.EXPLICIT_LE, EXPLICIT_BE]);

/** Reads a whole Orthanc body when it is at most `limit` bytes; null (body discarded) otherwise. */
async function readUpTo(res: OrthancResponse, limit: number): Promise<Buffer[] | null> {
  const declared = Number(res.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) {
    res.body.destroy();
    return null;
  }
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const chunk of res.body) {
    n += (chunk as Buffer).length;
    if (n > limit) {
      res.body.destroy();
      return null;
    }
    chunks.push(chunk as Buffer);
  }
  return chunks;
}

/**
 * Orthanc's answer for one stored frame, status checked, its body not yet read: the caller reads
 * it whole (one frame up to BUFFERED_FRAME_BYTES) or streams it into the reply as it arrives.
 */
async function openRawFrame(
  app: FastifyInstance,
  orthancId: string,
  frame: number,
): Promise<OrthancResponse> {
  const res = await app.orthanc.request('GET', `/instances/${orthancId}/frames/${frame - 1}/raw`);
  if (res.statusCode === 200) return res;
  res.body.resume();
  if (res.statusCode === 404) throw new AppError('RADLINK_NOT_FOUND', 'No such frame.');
  throw new AppError('RADLINK_UPSTREAM_UNAVAILABLE', `Orthanc answered ${res.statusCode} reading a frame.`);
}

type InstanceParams = { studyUid: string; seriesUid: string; sopInstanceUid: string };

export default async function frameRoutes(app: FastifyInstance) {
  const I = '/dicom-web/studies/:studyUid/series/:seriesUid/instances/:sopInstanceUid';
  const tags = ['dicomweb'];

  app.get(
    `${I}/frames/:frames`,
    {
      // A viewer reads a series frame by frame (hundreds of requests per study): per-request
      // access lines at info would be most of the log and a measurable share of each frame's
      // CPU. Reads are in the audit trail (per user x study x hour); warnings and errors still log.
      logLevel: 'warn',
      schema: {
        tags,
        summary: 'WADO-RS: retrieve frames (stored bytes with transfer-syntax=*).',
        params: {
          ...uidParamsSchema('studyUid', 'seriesUid', 'sopInstanceUid'),
          properties: {
            ...uidParamsSchema('studyUid', 'seriesUid', 'sopInstanceUid').properties,
            frames: { type: 'string', maxLength: 4096 },
          },
          required: ['studyUid', 'seriesUid', 'sopInstanceUid', 'frames'],
        },
      },
    },
    async (request: FastifyRequest, reply: FastifyReply) => {
      const p = request.params as InstanceParams & { frames: string };
      const row = await resolveInstance(request, p);
      const frames = parseFrameList(p.frames, row.numberOfFrames);
      const rep = negotiateOrThrow('frames', request.headers.accept, row.transferSyntaxUid);
      const etag = strongEtag('frames', row.orthancId, p.frames, rep.mediaType, rep.transferSyntax);
      if (immutableOrNotModified(request, reply, etag)) return reply;
      const stored = rawServes(rep, row.transferSyntaxUid);
      let first: OrthancResponse | undefined;
      const actualTs =
        stored && rep.orthancTransferSyntax === AS_STORED ? row.transferSyntaxUid : rep.transferSyntax;
      const mediaType =
        rep.orthancTransferSyntax === AS_STORED ? frameMediaTypeOf(row.transferSyntaxUid) : rep.mediaType;
      const partType = actualTs ? `${mediaType}; transfer-syntax=${actualTs}` : mediaType;
      const cuttable = stored && CUTTABLE.has(row.transferSyntaxUid ?? '');
      const notInArchive = (err: unknown) => {
        // Deleted from Orthanc since the series' rows were cached: read them afresh next time.
        if (err instanceof AppError && err.statusCode === 404)
          forgetSeries(request, row.studyUid, row.seriesUid);
        throw err;
      };
      // One frame of a small object: read whole, answered in one write (BUFFERED_FRAME_BYTES).
      // Everything is read before the reply starts, so a missing frame or a dead Orthanc is a
      // proper 404/503 rather than a truncated multipart.
      if (stored && frames.length === 1) {
        let chunks: Buffer[] | null = null;
        if (cuttable && row.numberOfFrames === 1) {
          // The stored file, cut here (native-frame.ts); Orthanc's /raw when it cannot be.
          const file = await openStoredFile(app.orthanc, row.orthancId).catch(notInArchive);
          const bytes = await readUpTo(file, BUFFERED_FRAME_BYTES);
          chunks = (bytes && locateNativeFrames(bytes, [1])?.[0]) ?? null;
        }
        if (!chunks && row.transferSyntaxUid !== EXPLICIT_BE) {
          const res = await openRawFrame(app, row.orthancId, frames[0]!).catch(notInArchive);
          // A frame Orthanc declares too large to hold streams from this same answer.
          if (Number(res.headers['content-length']) > BUFFERED_FRAME_BYTES) first = res;
          else {
            chunks = await readUpTo(res, BUFFERED_FRAME_BYTES);
            if (!chunks) first = await openRawFrame(app, row.orthancId, frames[0]!).catch(notInArchive);
          }
        }
        if (chunks) return sendOnePart(reply, mediaType, boundaryFor(etag), partType, chunks);
      }
      const raw = stored && row.transferSyntaxUid !== EXPLICIT_BE;
      if (raw && !first) first = await openRawFrame(app, row.orthancId, frames[0]!).catch(notInArchive);
      return sendMultipart(request, reply, mediaType, boundaryFor(etag), async (w) => {
        if (stored && row.transferSyntaxUid === EXPLICIT_BE) {
          for (const part of await bigEndianFrames(app, row.orthancId, frames))
            await w.writePart(partType, Buffer.concat(part));
          return;
        }
        if (first) {
          await w.writePart(partType, first.body);
          for (const f of frames.slice(1))
            await w.writePart(partType, (await openRawFrame(app, row.orthancId, f)).body);
          return;
        }
        const parts = await transcodedParts(
          app.orthanc,
          `/dicom-web/studies/${row.studyUid}/series/${row.seriesUid}/instances/${row.sopInstanceUid}/frames/${frames.join(',')}`,
          rep.mediaType,
          rep.orthancTransferSyntax!,
        );
        for (const part of parts) await w.writePart(partType, part);
      });
    },
  );

  app.get(
    `${I}/bulk/:tag`,
    {
      schema: {
        tags,
        summary: 'WADO-RS: retrieve bulk data (BulkDataURIs of the metadata point here).',
        params: {
          type: 'object',
          properties: {
            ...uidParamsSchema('studyUid', 'seriesUid', 'sopInstanceUid').properties,
            tag: { type: 'string', maxLength: 512 },
          },
          required: ['studyUid', 'seriesUid', 'sopInstanceUid', 'tag'],
        },
      },
    },
    async (request: FastifyRequest, reply: FastifyReply) => {
      const p = request.params as InstanceParams & { tag: string };
      // A tag path: tag(.item.tag)* — the metadata writes nested paths with dots (one URL segment).
      if (!/^[0-9a-fA-F]{8}(\.[0-9]{1,6}\.[0-9a-fA-F]{8}){0,8}$/.test(p.tag)) {
        throw new AppError('RADLINK_BAD_REQUEST', 'Not a bulk data path.');
      }
      const row: IndexedInstanceRow = await resolveInstance(request, p);
      negotiateOrThrow('bulkdata', request.headers.accept, row.transferSyntaxUid);
      const etag = strongEtag('bulk', row.orthancId, p.tag);
      if (immutableOrNotModified(request, reply, etag)) return reply;
      const res = await app.orthanc.request(
        'GET',
        `/dicom-web/studies/${row.studyUid}/series/${row.seriesUid}/instances/${row.sopInstanceUid}/bulk/${p.tag.toLowerCase().replace(/\./g, '/')}`,
        { headers: { accept: 'multipart/related; type="application/octet-stream"' } },
      );
      const body = Buffer.from(await res.body.arrayBuffer());
      if (res.statusCode === 404) throw new AppError('RADLINK_NOT_FOUND', 'No such bulk data.');
      if (res.statusCode !== 200)
        throw new AppError(
          'RADLINK_UPSTREAM_UNAVAILABLE',
          `Orthanc answered ${res.statusCode} reading bulk data.`,
        );
      const ct = String(res.headers['content-type'] ?? '');
      const parts = ct.startsWith('multipart/') ? parseMultipartRelated(body, ct).map((x) => x.body) : [body];
      return sendMultipart(request, reply, 'application/octet-stream', boundaryFor(etag), async (w) => {
        for (const part of parts) await w.writePart('application/octet-stream', part);
      });
    },
  );
}
