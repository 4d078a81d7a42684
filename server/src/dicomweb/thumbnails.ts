/**
 * Thumbnails (PS3.18 10.4.1.1.6; Orthanc 1.10's DICOMweb has none): a small JPEG of the study's
 * first series, of a series' middle instance, of an instance or of one frame, cached in S3 under
 * a flat key (imaging/thumbnail.ts). Series thumbnails are normally pre-rendered by the
 * thumbnails worker when Orthanc declares the series stable; anything not cached yet is rendered
 * here on first request with the same shared code and options. The cached object is never
 * rewritten, so a thumbnail is immutable: its ETag is the object's MD5 (S3's ETag of a
 * single-part upload), and If-None-Match is answered from a HEAD on S3 without reading the image.
 */
import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import {
  RENDERED_BY_META,
  seriesThumbnailSubject,
  thumbnailKey,
  thumbnailRenderOptions,
} from '../../../imaging/thumbnail.js';
import { AppError } from '../plugins/errors.js';
import { parseFrameList } from './frames.js';
import { IMMUTABLE, matchesIfNoneMatch } from './http-cache.js';
import { renderFrame } from './render.js';
import { negotiateOrThrow } from './wado.js';
import {
  authorizeStudy,
  type IndexedInstanceRow,
  indexedInstances,
  uidParamsSchema,
  type WadoParams,
} from './wado-resolve.js';

export { thumbnailKey } from '../../../imaging/thumbnail.js';

async function statEtag(app: FastifyInstance, key: string): Promise<string | undefined> {
  try {
    const st = await app.s3.client.statObject(app.s3.bucket, key);
    return `"${st.etag.replace(/"/g, '')}"`;
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code === 'NotFound' || code === 'NoSuchKey') return undefined;
    // S3 down: render without the cache rather than fail a thumbnail.
    app.log.warn({ err: (err as Error).message }, 'thumbnail cache unavailable');
    return undefined;
  }
}

/** The instance and frame a thumbnail shows. */
async function subjectOf(
  request: FastifyRequest,
  p: WadoParams & { frames?: string },
): Promise<{ row: IndexedInstanceRow; frame: number; uid: string }> {
  const rows = await indexedInstances(request, p);
  if (p.sopInstanceUid) {
    const row = rows[0]!;
    if (p.frames !== undefined) {
      const frames = parseFrameList(p.frames, row.numberOfFrames);
      if (frames.length !== 1) throw new AppError('RADLINK_BAD_REQUEST', 'A thumbnail shows one frame.');
      return { row, frame: frames[0]!, uid: row.sopInstanceUid };
    }
    return { row, frame: Math.ceil(row.numberOfFrames / 2), uid: row.sopInstanceUid };
  }
  // Study: its first series; series: its middle instance (the rule the worker applies too).
  const seriesUid = p.seriesUid ?? rows[0]!.seriesUid;
  const subject = seriesThumbnailSubject(rows.filter((r) => r.seriesUid === seriesUid))!;
  return { row: subject.member, frame: subject.frame, uid: p.seriesUid ?? p.studyUid };
}

export default async function thumbnailRoutes(app: FastifyInstance) {
  const size = app.config.RADLINK_THUMBNAIL_SIZE;
  const handler = async (request: FastifyRequest, reply: FastifyReply) => {
    const p = request.params as WadoParams & { frames?: string };
    await authorizeStudy(request, p);
    negotiateOrThrow('thumbnail', request.headers.accept);
    const { row, frame, uid } = await subjectOf(request, p);
    const key = thumbnailKey(uid, size, p.frames !== undefined ? frame : undefined);
    void reply.type('image/jpeg').header('cache-control', IMMUTABLE);

    const cachedEtag = await statEtag(app, key);
    if (cachedEtag) {
      void reply.header('etag', cachedEtag).header('x-radlink-cache', 'hit');
      if (matchesIfNoneMatch(request, cachedEtag)) return reply.code(304).send();
      try {
        return reply.send((await app.s3.client.getObject(app.s3.bucket, key)) as Readable);
      } catch (err) {
        app.log.warn({ err: (err as Error).message }, 'thumbnail cache read failed; rendering');
      }
    }
    const jpeg = await renderFrame(app, row.orthancId, frame, thumbnailRenderOptions(size));
    const etag = `"${createHash('md5').update(jpeg).digest('hex')}"`;
    try {
      await app.s3.client.putObject(app.s3.bucket, key, jpeg, jpeg.length, {
        'Content-Type': 'image/jpeg',
        [RENDERED_BY_META]: 'gateway',
      });
    } catch (err) {
      app.log.warn({ err: (err as Error).message }, 'thumbnail not cached');
    }
    void reply.header('etag', etag).header('x-radlink-cache', 'miss');
    if (matchesIfNoneMatch(request, etag)) return reply.code(304).send();
    return reply.send(jpeg);
  };

  const S = '/dicom-web/studies/:studyUid';
  const SE = `${S}/series/:seriesUid`;
  const I = `${SE}/instances/:sopInstanceUid`;
  const tags = ['dicomweb'];
  const iParams = uidParamsSchema('studyUid', 'seriesUid', 'sopInstanceUid');
  app.get(
    `${S}/thumbnail`,
    { schema: { tags, summary: 'Study thumbnail (JPEG).', params: uidParamsSchema('studyUid') } },
    handler,
  );
  app.get(
    `${SE}/thumbnail`,
    {
      schema: { tags, summary: 'Series thumbnail (JPEG).', params: uidParamsSchema('studyUid', 'seriesUid') },
    },
    handler,
  );
  app.get(
    `${I}/thumbnail`,
    { schema: { tags, summary: 'Instance thumbnail (JPEG).', params: iParams } },
    handler,
  );
  app.get(
    `${I}/frames/:frames/thumbnail`,
    {
      schema: {
        tags,
        summary: 'Frame thumbnail (JPEG).',
        params: {
          ...iParams,
          properties: { ...iParams.properties, frames: { type: 'string', maxLength: 16 } },
          required: [...iParams.required, 'frames'],
        },
      },
    },
    handler,
  );
}
