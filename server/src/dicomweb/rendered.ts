/**
 * WADO-RS rendered resources (PS3.18 10.4.1.1.5, query parameters 8.3.5.1): an instance (its first
 * frame) or one frame as JPEG (default) or PNG, with `window`, `quality` and `viewport`. The same
 * parameters give the same bytes, so responses are immutable and carry a strong ETag.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { AppError } from '../plugins/errors.js';
import { parseFrameList } from './frames.js';
import { immutableOrNotModified, strongEtag } from './http-cache.js';
import { type RenderOptions, renderFrame } from './render.js';
import { negotiateOrThrow } from './wado.js';
import { resolveInstance, uidParamsSchema } from './wado-resolve.js';
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
  const I = '/dicom-web/studies/:studyUid/series/:seriesUid/instances/:sopInstanceUid';
  const params = uidParamsSchema('studyUid', 'seriesUid', 'sopInstanceUid');
  const tags = ['dicomweb'];
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
