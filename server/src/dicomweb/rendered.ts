/**
 * WADO-RS rendered resources (PS3.18 10.4.1.1.5, query parameters 8.3.5.1) as JPEG (default) or
 * PNG, with `window`, `quality` and `viewport`:
 *  - an instance (its first frame) or one frame: one image; the same parameters give the same
 *    bytes, so these responses are immutable and carry a strong ETag;
 *  - a series: the series rendered, i.e. each of its instances (first frame) in series order as
 *    one part of a multipart/related answer (each part's Content-Location names the instance's
 *    rendered resource). A client that accepts only a single image (`Accept: image/jpeg`) gets
 *    the series' representative image instead: its middle instance's middle frame, the picture
 *    its thumbnail shows. A series grows, so these answers are revalidated (ETag over its
 *    instances), never immutable.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { seriesThumbnailSubject } from '../../../imaging/thumbnail.js';
import { AppError } from '../plugins/errors.js';
import { parseFrameList } from './frames.js';
import {
  boundaryFor,
  immutableOrNotModified,
  matchesIfNoneMatch,
  REVALIDATE,
  strongEtag,
} from './http-cache.js';
import { type RenderOptions, renderFrame } from './render.js';
import { negotiateOrThrow, sendMultipart } from './wado.js';
import { authorizeStudy, indexedInstances, resolveInstance, uidParamsSchema } from './wado-resolve.js';
import { parseQuality, parseViewport, parseWindowParam } from './windowing.js';

interface RenderedQuery {
  window?: string;
  quality?: string;
  viewport?: string;
}

export function renderOptionsFrom(q: RenderedQuery, format: 'jpeg' | 'png'): RenderOptions {
  try {
    const o: RenderOptions = { format };
    if (q.window !== undefined) o.window = parseWindowParam(q.window);
    if (q.quality !== undefined) o.quality = parseQuality(q.quality);
    if (q.viewport !== undefined) o.viewport = parseViewport(q.viewport);
    return o;
  } catch (err) {
    throw new AppError('RADLINK_BAD_REQUEST', (err as Error).message);
  }
}

const querySchema = {
  type: 'object',
  properties: {
    window: { type: 'string', maxLength: 100 },
    quality: { type: 'string', maxLength: 3 },
    viewport: { type: 'string', maxLength: 100 },
    annotation: { type: 'string', maxLength: 100 },
  },
} as const;

export default async function renderedRoutes(app: FastifyInstance) {
  const handler = async (request: FastifyRequest, reply: FastifyReply) => {
    const p = request.params as {
      studyUid: string;
      seriesUid: string;
      sopInstanceUid: string;
      frames?: string;
    };
    const row = await resolveInstance(request, p);
    let frame = 1;
    if (p.frames !== undefined) {
      const frames = parseFrameList(p.frames, row.numberOfFrames);
      if (frames.length !== 1)
        throw new AppError('RADLINK_BAD_REQUEST', 'Rendered frames are served one frame at a time.');
      frame = frames[0]!;
    }
    const rep = negotiateOrThrow('rendered', request.headers.accept);
    const format = rep.mediaType === 'image/png' ? 'png' : 'jpeg';
    const q = request.query as RenderedQuery;
    const opts = renderOptionsFrom(q, format);
    const etag = strongEtag('rendered', row.orthancId, frame, format, q.window, q.quality, q.viewport);
    if (immutableOrNotModified(request, reply, etag)) return reply;
    const image = await renderFrame(app, row.orthancId, frame, opts);
    return reply.type(rep.mediaType).send(image);
  };
  const seriesHandler = async (request: FastifyRequest, reply: FastifyReply) => {
    const p = request.params as { studyUid: string; seriesUid: string };
    await authorizeStudy(request, p);
    const rows = await indexedInstances(request, p);
    const rep = negotiateOrThrow('rendered-series', request.headers.accept);
    const format = rep.mediaType === 'image/png' ? 'png' : 'jpeg';
    const q = request.query as RenderedQuery;
    const opts = renderOptionsFrom(q, format);
    const etag = strongEtag(
      'rendered-series',
      rep.multipart ? 'multipart' : 'single',
      format,
      q.window,
      q.quality,
      q.viewport,
      ...rows.map((r) => r.orthancId),
    );
    void reply.header('etag', etag).header('cache-control', REVALIDATE);
    if (matchesIfNoneMatch(request, etag)) return reply.code(304).send();
    if (!rep.multipart) {
      const subject = seriesThumbnailSubject(rows)!;
      const image = await renderFrame(app, subject.member.orthancId, subject.frame, opts);
      return reply.type(rep.mediaType).send(image);
    }
    // The first image is rendered before the reply starts, so a series that cannot be rendered
    // at all is a proper error response; later instances that cannot be drawn (e.g. a key
    // object among images) are left out rather than cutting the answer short.
    const first = await renderFrame(app, rows[0]!.orthancId, 1, opts);
    const location = (sop: string) =>
      `/dicom-web/studies/${p.studyUid}/series/${p.seriesUid}/instances/${sop}/rendered`;
    return sendMultipart(request, reply, rep.mediaType, boundaryFor(etag), async (w) => {
      await w.writePart(rep.mediaType, first, { 'Content-Location': location(rows[0]!.sopInstanceUid) });
      for (const row of rows.slice(1)) {
        let image: Buffer;
        try {
          image = await renderFrame(app, row.orthancId, 1, opts);
        } catch (err) {
          if (err instanceof AppError && err.code === 'RADLINK_NOT_ACCEPTABLE') continue;
          throw err;
        }
        await w.writePart(rep.mediaType, image, { 'Content-Location': location(row.sopInstanceUid) });
      }
    });
  };

  const SE = '/dicom-web/studies/:studyUid/series/:seriesUid';
  const I = `${SE}/instances/:sopInstanceUid`;
  const params = uidParamsSchema('studyUid', 'seriesUid', 'sopInstanceUid');
  const tags = ['dicomweb'];
  app.get(
    `${SE}/rendered`,
    {
      schema: {
        tags,
        summary: 'WADO-RS: rendered series (multipart of its instances, or its representative image).',
        params: uidParamsSchema('studyUid', 'seriesUid'),
        querystring: querySchema,
        response: {
          200: {
            description:
              'multipart/related; type="image/jpeg" (or image/png): one rendered image per instance; or one image',
            type: 'string',
            format: 'binary',
          },
          304: { description: 'Not modified (If-None-Match matched the ETag).', type: 'null' },
        },
      },
    },
    seriesHandler,
  );
  app.get(
    `${I}/rendered`,
    {
      schema: {
        tags,
        summary: 'WADO-RS: rendered instance (first frame).',
        params,
        querystring: querySchema,
      },
    },
    handler,
  );
  app.get(
    `${I}/frames/:frames/rendered`,
    {
      schema: {
        tags,
        summary: 'WADO-RS: rendered frame.',
        params: {
          ...params,
          properties: { ...params.properties, frames: { type: 'string', maxLength: 16 } },
          required: [...params.required, 'frames'],
        },
        querystring: querySchema,
      },
    },
    handler,
  );
}
