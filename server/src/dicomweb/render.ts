/**
 * The gateway's side of frame rendering (imaging/render-frame.ts, shared with the thumbnails
 * worker): Orthanc reached through the gateway's client, and rendering failures mapped to coded
 * errors (404 for a missing frame, 406 for an object that cannot be rendered, 400 for parameters
 * that do not fit the image).
 */
import type { FastifyInstance } from 'fastify';
import {
  type FrameSource,
  RenderError,
  type RenderOptions,
  renderFrame as renderShared,
  type ShortTags,
} from '../../../imaging/render-frame.js';
import { AppError } from '../plugins/errors.js';

export { parsePam16, type RenderOptions } from '../../../imaging/render-frame.js';

function sourceOf(app: FastifyInstance): FrameSource {
  return {
    tags: (orthancId) => app.orthanc.json<ShortTags>('GET', `/instances/${orthancId}/tags?short`),
    async get(path, accept) {
      const res = await app.orthanc.request('GET', path, { headers: { accept } });
      return { statusCode: res.statusCode, body: Buffer.from(await res.body.arrayBuffer()) };
    },
  };
}

export async function renderFrame(
  app: FastifyInstance,
  orthancId: string,
  frame: number,
  opts: RenderOptions,
): Promise<Buffer> {
  try {
    return await renderShared(sourceOf(app), orthancId, frame, opts);
  } catch (err) {
    if (!(err instanceof RenderError)) throw err;
    const code =
      err.kind === 'not-found'
        ? 'RADLINK_NOT_FOUND'
        : err.kind === 'not-renderable'
          ? 'RADLINK_NOT_ACCEPTABLE'
          : 'RADLINK_BAD_REQUEST';
    throw new AppError(code, err.message);
  }
}
