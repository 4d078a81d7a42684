/**
 * The gateway's job producer. One BullMQ Queue per queue name, created once per app and closed
 * with it. Jobs retry transient failures with exponential backoff; completed jobs are removed
 * (their outcome is persisted from the results queue), failed ones kept for inspection.
 */
import { type JobsOptions, Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { type ArchiveJob, jobId, QUEUES, type ThumbnailJob } from '../../../contracts/jobs.js';
import { Batcher } from '../db/batcher.js';

const DEFAULTS: JobsOptions = {
  attempts: 8,
  backoff: { type: 'exponential', delay: 1000 },
  removeOnComplete: true,
  removeOnFail: { count: 10_000 },
};

export class Queues {
  readonly archive: Queue<ArchiveJob>;
  readonly thumbnails: Queue<ThumbnailJob>;

  constructor(connection: Redis, prefix: string) {
    this.archive = new Queue<ArchiveJob>(QUEUES.archive, { connection, prefix, defaultJobOptions: DEFAULTS });
    this.thumbnails = new Queue<ThumbnailJob>(QUEUES.thumbnails, {
      connection,
      prefix,
      defaultJobOptions: DEFAULTS,
    });
  }

  /**
   * Archive jobs offered while an earlier offer is on its way to Redis go in one `addBulk` (one
   * round trip for a burst of STOW or feed instances instead of one each).
   */
  private readonly archiveOffers = Batcher.ofWrites<ArchiveJob>(async (jobs) => {
    await this.archive.addBulk(
      jobs.map((job) => ({
        name: 'archive',
        data: job,
        opts: { jobId: jobId('archive', job.sopInstanceUid) },
      })),
    );
  }, 200);

  /** Idempotent: one archive job per SOP Instance UID while it exists. */
  async enqueueArchive(job: ArchiveJob): Promise<void> {
    await this.archiveOffers.call(job);
  }

  async enqueueThumbnail(job: ThumbnailJob): Promise<void> {
    await this.thumbnails.add('thumbnail', job, { jobId: jobId('thumb', job.seriesUid) });
  }

  async close(): Promise<void> {
    await this.archiveOffers.idle();
    await Promise.allSettled([this.archive.close(), this.thumbnails.close()]);
  }
}
