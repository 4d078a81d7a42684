/**
 * WADO-RS retrieval of DICOM objects (PS3.18 10.4): study, series and instance, as
 * multipart/related; type="application/dicom".
 *
 * Invariant: with `transfer-syntax=*` (and whenever the negotiated syntax is the stored one) each
 * part is `/instances/{id}/file` streamed through untouched — byte-identical to what was stored.
 * Other syntaxes are produced by Orthanc's transcoder (orthanc-dicomweb.ts) from the allow-list
 * only. Single instances are immutable (ETag, Cache-Control, 304); studies and series grow, so
 * they are revalidated.
 */
import type { OutgoingHttpHeaders } from 'node:http';
import { PassThrough } from 'node:stream';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { AppError } from '../plugins/errors.js';
import { boundaryFor, immutableOrNotModified, REVALIDATE, strongEtag } from './http-cache.js';
import { AS_STORED, negotiateWado, type WadoRepresentation } from './media-types.js';
import { MultipartRelatedWriter, multipartContentType, onePartFraming } from './multipart.js';
import { transcodedParts } from './orthanc-dicomweb.js';
import { openStoredFile } from './orthanc-files.js';
import {
  authorizeStudy,
  type IndexedInstanceRow,
  indexedInstances,
  uidParamsSchema,
  type WadoParams,
} from './wado-resolve.js';

/**
 * Answers of negotiateWado, a pure function of its arguments: a viewer sends the same Accept
 * header with every frame, and parsing it was a measurable share of a frame's CPU. Bounded;
 * long headers are not kept.
 */
const negotiated = new Map<string, ReturnType<typeof negotiateWado>>();
const NEGOTIATED_MAX = 512;
const NEGOTIATED_MAX_ACCEPT = 1024;

export function negotiateOrThrow(
  kind: Parameters<typeof negotiateWado>[0],
  accept: string | undefined,
  storedTransferSyntax?: string | null,
): WadoRepresentation {
  const key = `${kind}\n${storedTransferSyntax ?? ''}\n${accept ?? '\u0000'}`;
  let n = negotiated.get(key);
  if (!n) {
    n = negotiateWado(kind, accept, storedTransferSyntax ? { storedTransferSyntax } : {});
    if ((accept?.length ?? 0) <= NEGOTIATED_MAX_ACCEPT) {
      if (negotiated.size >= NEGOTIATED_MAX) negotiated.clear();
      negotiated.set(key, n);
    }
  }
  if (!n.ok) throw new AppError('RADLINK_NOT_ACCEPTABLE', n.reason);
  // A copy: callers may not alter what the next request is answered with.
  return { ...n.representation };
}

/** True when the stored bytes already are the representation asked for. */
export function servesStoredBytes(rep: WadoRepresentation, storedTs: string | null): boolean {
  return rep.orthancTransferSyntax === AS_STORED || (storedTs !== null && rep.transferSyntax === storedTs);
}

/**
 * Answers a one-part multipart/related body already in memory (as the chunks it arrived in) with a
 * Content-Length, in one corked write and without copying the chunks. The reply is hijacked: the
 * stream machinery of reply.send (a stream per answer, a write per chunk) was most of the
 * gateway's CPU per frame under 16 concurrent readers. Hooks are unaffected where they matter:
 * headers set so far (CORS, rate limit, caching) are written from reply.getHeaders(), and
 * onResponse hooks (audit, metrics) run when the raw response finishes. No cookie is ever set on
 * these answers, and multipart is never compressed, so the skipped onSend hooks have nothing to do.
 */
export function sendOnePart(
  reply: FastifyReply,
  type: string,
  boundary: string,
  partType: string,
  body: readonly Buffer[],
): FastifyReply {
  const { head, tail } = onePartFraming(boundary, partType);
  const length = head.length + body.reduce((n, c) => n + c.length, 0) + tail.length;
  void reply.header('content-type', multipartContentType(type, boundary)).header('content-length', length);
  reply.hijack();
  const res = reply.raw;
  res.writeHead(reply.statusCode, reply.getHeaders() as OutgoingHttpHeaders);
  res.cork();
  res.write(head);
  for (const chunk of body) res.write(chunk);
  res.end(tail);
  return reply;
}

/**
 * Streams parts produced one at a time into a multipart/related reply, with back-pressure.
 * Headers are final before the first byte; a failure mid-stream aborts the response (the client
 * sees a truncated multipart, never a wrong one).
 */
export function sendMultipart(
  request: FastifyRequest,
  reply: FastifyReply,
  type: string,
  boundary: string | undefined,
  produce: (w: MultipartRelatedWriter) => Promise<void>,
): FastifyReply {
  const out = new PassThrough();
  const writer = new MultipartRelatedWriter(out, type, boundary ? { boundary } : {});
  void reply.header('content-type', writer.contentType);
  produce(writer)
    .then(() => writer.end())
    .then(() => out.end())
    .catch((err: unknown) => {
      request.log.warn({ err }, 'multipart response aborted');
      out.destroy(err as Error);
    });
  return reply.send(out);
}

async function writeInstance(
  app: FastifyInstance,
  w: MultipartRelatedWriter,
  row: IndexedInstanceRow,
  rep: WadoRepresentation,
  location: string,
): Promise<void> {
  if (servesStoredBytes(rep, row.transferSyntaxUid)) {
    const file = await openStoredFile(app.orthanc, row.orthancId);
    const ct = row.transferSyntaxUid
      ? `application/dicom; transfer-syntax=${row.transferSyntaxUid}`
      : 'application/dicom';
    await w.writePart(ct, file.body, { 'Content-Location': location });
    return;
  }
  const [part] = await transcodedParts(
    app.orthanc,
    `/dicom-web/studies/${row.studyUid}/series/${row.seriesUid}/instances/${row.sopInstanceUid}`,
    'application/dicom',
    rep.orthancTransferSyntax!,
  );
  if (!part) throw new AppError('RADLINK_UPSTREAM_UNAVAILABLE', 'The archive returned no object.');
  await w.writePart(`application/dicom; transfer-syntax=${rep.transferSyntax}`, part, {
    'Content-Location': location,
  });
}

export default async function wadoRoutes(app: FastifyInstance) {
  const retrieve = async (request: FastifyRequest, reply: FastifyReply) => {
    const p = request.params as WadoParams;
    await authorizeStudy(request, p);
    const rows = await indexedInstances(request, p);
    const single = p.sopInstanceUid !== undefined ? rows[0]! : undefined;
    const rep = negotiateOrThrow('instance', request.headers.accept, single?.transferSyntaxUid);
    // JPEG-LS is only served as stored: a multi-instance answer with it must be JPEG-LS throughout.
    if (rep.storedOnly && rows.some((r) => r.transferSyntaxUid !== rep.transferSyntax)) {
      throw new AppError('RADLINK_NOT_ACCEPTABLE', 'JPEG-LS is only served for objects stored as JPEG-LS.');
    }
    let boundary: string | undefined;
    if (single) {
      const etag = strongEtag('instance', single.orthancId, rep.transferSyntax);
      if (immutableOrNotModified(request, reply, etag)) return reply;
      boundary = boundaryFor(etag);
    } else {
      void reply.header('cache-control', REVALIDATE);
    }
    const base = `/dicom-web/studies/${p.studyUid}`;
    return sendMultipart(request, reply, 'application/dicom', boundary, async (w) => {
      for (const row of rows) {
        await writeInstance(
          app,
          w,
          row,
          rep,
          `${base}/series/${row.seriesUid}/instances/${row.sopInstanceUid}`,
        );
      }
    });
  };
  const S = '/dicom-web/studies/:studyUid';
  const tags = ['dicomweb'];
  app.get(
    S,
    { schema: { tags, summary: 'WADO-RS: retrieve a study.', params: uidParamsSchema('studyUid') } },
    retrieve,
  );
  app.get(
    `${S}/series/:seriesUid`,
    {
      schema: {
        tags,
        summary: 'WADO-RS: retrieve a series.',
        params: uidParamsSchema('studyUid', 'seriesUid'),
      },
    },
    retrieve,
  );
  app.get(
    `${S}/series/:seriesUid/instances/:sopInstanceUid`,
    {
      schema: {
        tags,
        summary: 'WADO-RS: retrieve an instance.',
        params: uidParamsSchema('studyUid', 'seriesUid', 'sopInstanceUid'),
      },
    },
    retrieve,
  );
}
