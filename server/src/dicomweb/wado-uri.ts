/**
 * WADO-URI (PS3.18 chapter 9): `GET /wado?requestType=WADO&studyUID=…&seriesUID=…&objectUID=…`
 * with `contentType` (default image/jpeg), `transferSyntax`, and for images `frameNumber`,
 * `windowCenter`/`windowWidth`, `rows`/`columns`, `imageQuality`.
 * `contentType=application/dicom` without `transferSyntax` is Explicit VR Little Endian by the
 * standard's default; the gateway serves the stored file untouched whenever that is what was
 * stored, and for compressed objects… also the stored file: PS3.18 9.1.2.2.4 lets the server
 * keep the stored syntax when none is requested, and byte-identical retrieval is the point.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { AppError } from '../plugins/errors.js';
import { immutableOrNotModified, strongEtag } from './http-cache.js';
import { negotiateWadoUri } from './media-types.js';
import { transcodedParts } from './orthanc-dicomweb.js';
import { openStoredFile } from './orthanc-files.js';
import { renderFrame } from './render.js';
import { resolveInstance } from './wado-resolve.js';
import { parseQuality, parseWindowParam } from './windowing.js';

interface WadoUriQuery {
  requestType?: string;
  studyUID?: string;
  seriesUID?: string;
  objectUID?: string;
  contentType?: string;
  transferSyntax?: string;
  frameNumber?: string;
  windowCenter?: string;
  windowWidth?: string;
  rows?: string;
  columns?: string;
  imageQuality?: string;
}

const str = (max: number) => ({ type: 'string', maxLength: max });

export default async function wadoUriRoutes(app: FastifyInstance) {
  app.get(
    '/wado',
    {
      schema: {
        tags: ['dicomweb'],
        summary: 'WADO-URI: retrieve an object (application/dicom) or a rendered image.',
        querystring: {
          type: 'object',
          properties: {
            requestType: str(10),
            studyUID: str(64),
            seriesUID: str(64),
            objectUID: str(64),
            contentType: str(200),
            transferSyntax: str(64),
            frameNumber: str(9),
            windowCenter: str(32),
            windowWidth: str(32),
            rows: str(5),
            columns: str(5),
            imageQuality: str(3),
            charset: str(64),
            anonymize: str(3),
          },
          required: ['requestType', 'studyUID', 'seriesUID', 'objectUID'],
        },
      },
    },
    async (request: FastifyRequest, reply: FastifyReply) => {
      const q = request.query as WadoUriQuery;
      if (q.requestType !== 'WADO') throw new AppError('RADLINK_BAD_REQUEST', 'requestType must be WADO.');
      const row = await resolveInstance(request, {
        studyUid: q.studyUID!,
        seriesUid: q.seriesUID!,
        sopInstanceUid: q.objectUID!,
      });
      const n = negotiateWadoUri(
        {
          ...(q.contentType !== undefined ? { contentType: q.contentType } : {}),
          ...(q.transferSyntax !== undefined ? { transferSyntax: q.transferSyntax } : {}),
        },
        row.transferSyntaxUid ? { storedTransferSyntax: row.transferSyntaxUid } : {},
      );
      if (!n.ok)
        throw new AppError(n.status === 400 ? 'RADLINK_BAD_REQUEST' : 'RADLINK_NOT_ACCEPTABLE', n.reason);
      const rep = n.representation;

      if (rep.mediaType === 'application/dicom') {
        const asStored = !q.transferSyntax || rep.storedOnly || rep.transferSyntax === row.transferSyntaxUid;
        const etag = strongEtag('wado-uri', row.orthancId, asStored ? '*' : rep.transferSyntax);
        if (immutableOrNotModified(request, reply, etag)) return reply;
        void reply.type('application/dicom');
        if (asStored) return reply.send((await openStoredFile(app.orthanc, row.orthancId)).body);
        const [part] = await transcodedParts(
          app.orthanc,
          `/dicom-web/studies/${row.studyUid}/series/${row.seriesUid}/instances/${row.sopInstanceUid}`,
          'application/dicom',
          rep.orthancTransferSyntax!,
        );
        if (!part) throw new AppError('RADLINK_UPSTREAM_UNAVAILABLE', 'The archive returned no object.');
        return reply.send(part);
      }

      let frame = 1;
      if (q.frameNumber !== undefined) {
        frame = Number(q.frameNumber);
        if (!Number.isInteger(frame) || frame < 1)
          throw new AppError('RADLINK_BAD_REQUEST', 'frameNumber must be a positive integer.');
        if (frame > row.numberOfFrames) throw new AppError('RADLINK_NOT_FOUND', 'No such frame.');
      }
      const format = rep.mediaType === 'image/png' ? 'png' : 'jpeg';
      const opts: Parameters<typeof renderFrame>[3] = { format };
      try {
        if ((q.windowCenter === undefined) !== (q.windowWidth === undefined)) {
          throw new RangeError('windowCenter and windowWidth go together');
        }
        if (q.windowCenter !== undefined)
          opts.window = parseWindowParam(`${q.windowCenter},${q.windowWidth}`);
        if (q.imageQuality !== undefined) opts.quality = parseQuality(q.imageQuality);
        if (q.rows !== undefined || q.columns !== undefined) {
          const h = q.rows !== undefined ? Number(q.rows) : 4096;
          const w = q.columns !== undefined ? Number(q.columns) : 4096;
          if (![h, w].every((x) => Number.isInteger(x) && x >= 1 && x <= 4096))
            throw new RangeError('rows/columns must be 1..4096');
          opts.viewport = { width: w, height: h };
        }
      } catch (err) {
        throw new AppError('RADLINK_BAD_REQUEST', (err as Error).message);
      }
      const etag = strongEtag(
        'wado-uri-img',
        row.orthancId,
        frame,
        format,
        q.windowCenter,
        q.windowWidth,
        q.rows,
        q.columns,
        q.imageQuality,
      );
      if (immutableOrNotModified(request, reply, etag)) return reply;
      return reply.type(rep.mediaType).send(await renderFrame(app, row.orthancId, frame, opts));
    },
  );
}
