/**
 * Starts the thumbnails queue's BullMQ Worker. Rendering a thumbnail is short (one frame decoded
 * by Orthanc, a windowing pass over its pixels, a resize in libvips' thread pool), so it runs in
 * this process at RADLINK_WORKER_CONCURRENCY; a failure only costs the pre-render (the gateway
 * still renders on demand), so it is logged, not reported.
 */
import { type Job, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import type pino from 'pino';
import { QUEUES, type ThumbnailJob } from '../../../contracts/jobs.js';
import { type ThumbnailDeps, type ThumbnailMessage, thumbnailProcessor } from './processor.js';

export interface ThumbnailWorkerOptions {
  connection: Redis;
  prefix: string;
  concurrency: number;
  log: pino.Logger;
}

export function startThumbnailWorker(
  deps: ThumbnailDeps,
  o: ThumbnailWorkerOptions,
): Worker<ThumbnailJob, ThumbnailMessage & { rendered: boolean }> {
  const worker = new Worker<ThumbnailJob, ThumbnailMessage & { rendered: boolean }>(
    QUEUES.thumbnails,
    thumbnailProcessor(deps),
    { connection: o.connection, prefix: o.prefix, concurrency: o.concurrency },
  );
  worker.on('completed', (job, r) =>
    o.log.info({ jobId: job.id, objectKey: r.objectKey, rendered: r.rendered }, 'series thumbnail ready'),
  );
  worker.on('failed', (job: Job<ThumbnailJob> | undefined, err: Error) => {
    if (job) o.log.warn({ jobId: job.id, attempt: job.attemptsMade, err: err.message }, 'thumbnail failed');
  });
  worker.on('error', (err) => o.log.error({ err: err.message }, 'thumbnails worker error'));
  return worker;
}
