/**
 * Pre-renders a series thumbnail when Orthanc declares the series stable (the gateway's change
 * feed queues the job), into the S3 key the gateway serves it from, with the rendering code and
 * options the gateway's on-demand path uses (imaging/): the same series gives the same picture
 * whichever side drew it. The result goes back on the results queue as `{kind: 'thumbnail'}`.
 *
 * Idempotent: an object already under the key (rendered earlier by either side) is left as it
 * is — a cached thumbnail is immutable (its ETag is served to clients). Failures: Orthanc or S3
 * unreachable → retried with backoff (the job's options); the series gone from Orthanc or an
 * object that cannot be drawn (no pixels, e.g. an SR) → UnrecoverableError.
 */
import { type Job, type Queue, UnrecoverableError } from 'bullmq';
import type { Client as MinioClient } from 'minio';
import type { ResultMessage, ThumbnailJob } from '../../../contracts/jobs.js';
import { RenderError, renderFrame } from '../../../imaging/render-frame.js';
import {
  RENDERED_BY_META,
  seriesThumbnailSubject,
  thumbnailKey,
  thumbnailRenderOptions,
} from '../../../imaging/thumbnail.js';
import { publish } from '../archive/processor.js';
import type { ThumbnailOrthanc } from './orthanc-source.js';

export interface ThumbnailDeps {
  orthanc: ThumbnailOrthanc;
  s3: MinioClient;
  bucket: string;
  results: Queue<ResultMessage>;
  /** Longest side in pixels: the gateway's RADLINK_THUMBNAIL_SIZE (part of the S3 key). */
  size: number;
}

export type ThumbnailMessage = Extract<ResultMessage, { kind: 'thumbnail' }>;

async function exists(s3: MinioClient, bucket: string, key: string): Promise<boolean> {
  try {
    await s3.statObject(bucket, key);
    return true;
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code === 'NotFound' || code === 'NoSuchKey') return false;
    throw err;
  }
}

export async function renderSeriesThumbnail(
  deps: ThumbnailDeps,
  job: ThumbnailJob,
): Promise<ThumbnailMessage & { rendered: boolean }> {
  const key = thumbnailKey(job.seriesUid, deps.size);
  const message = {
    kind: 'thumbnail' as const,
    studyUid: job.studyUid,
    seriesUid: job.seriesUid,
    objectKey: key,
  };
  if (await exists(deps.s3, deps.bucket, key)) return { ...message, rendered: false };
  const subject = seriesThumbnailSubject(await deps.orthanc.seriesMembers(job.studyUid, job.seriesUid));
  if (!subject) throw new UnrecoverableError('the series is no longer in Orthanc');
  let jpeg: Buffer;
  try {
    jpeg = await renderFrame(
      deps.orthanc,
      subject.member.orthancId,
      subject.frame,
      thumbnailRenderOptions(deps.size),
    );
  } catch (err) {
    if (err instanceof RenderError) throw new UnrecoverableError(`not drawable: ${err.message}`);
    throw err;
  }
  await deps.s3.putObject(deps.bucket, key, jpeg, jpeg.length, {
    'Content-Type': 'image/jpeg',
    [RENDERED_BY_META]: 'thumbnails-worker',
  });
  return { ...message, rendered: true };
}

/** The BullMQ processor: render (unless cached), then tell the gateway. */
export function thumbnailProcessor(deps: ThumbnailDeps) {
  return async (job: Job<ThumbnailJob>): Promise<ThumbnailMessage & { rendered: boolean }> => {
    const result = await renderSeriesThumbnail(deps, job.data);
    const { rendered: _rendered, ...msg } = result;
    await publish(deps.results, msg);
    return result;
  };
}
