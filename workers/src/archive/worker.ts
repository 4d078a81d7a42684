/**
 * Starts the archive queue's BullMQ Worker. Each job first yields to STOW-RS uploads in progress
 * (yield.ts), then copies (processor.ts). A job that fails for good (UnrecoverableError, or
 * its last attempt) is reported as `archive-failed`, so the gateway can show it and an operator
 * can act; transient failures are only logged while attempts remain.
 */
import { type Job, type Queue, UnrecoverableError, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import type pino from 'pino';
import { type ArchiveJob, ingestBusyKey, QUEUES, type ResultMessage } from '../../../contracts/jobs.js';
import { type ArchiveDeps, type ArchivedMessage, archiveProcessor, publish } from './processor.js';
import { yieldToUploads } from './yield.js';

export interface ArchiveWorkerOptions {
  connection: Redis;
  prefix: string;
  concurrency: number;
  log: pino.Logger;
}

export function startArchiveWorker(
  deps: ArchiveDeps,
  o: ArchiveWorkerOptions,
): Worker<ArchiveJob, ArchivedMessage> {
  const archive = archiveProcessor(deps);
  const ingestKey = ingestBusyKey(o.prefix);
  // Uploads in progress first: the copy waits for them to pause, for a bounded time (yield.ts).
  const processor = async (job: Job<ArchiveJob>): Promise<ArchivedMessage> => {
    await yieldToUploads(o.connection, ingestKey, job.timestamp);
    return archive(job);
  };
  const worker = new Worker<ArchiveJob, ArchivedMessage>(QUEUES.archive, processor, {
    connection: o.connection,
    prefix: o.prefix,
    concurrency: o.concurrency,
  });
  worker.on('completed', (job, r) =>
    o.log.info({ jobId: job.id, archiveKey: r.archiveKey, bytes: r.sizeBytes }, 'archived'),
  );
  worker.on('failed', (job: Job<ArchiveJob> | undefined, err: Error) => {
    if (!job) return;
    const final =
      err instanceof UnrecoverableError ||
      err.name === 'UnrecoverableError' ||
      job.attemptsMade >= (job.opts.attempts ?? 1);
    o.log.warn(
      { jobId: job.id, attempt: job.attemptsMade, final, err: err.message },
      'archive attempt failed',
    );
    if (final) {
      void publishFailure(deps.results, job.data.sopInstanceUid, err.message).catch((e: unknown) =>
        o.log.error({ err: (e as Error).message, jobId: job.id }, 'could not report archive-failed'),
      );
    }
  });
  worker.on('error', (err) => o.log.error({ err: err.message }, 'archive worker error'));
  return worker;
}

function publishFailure(
  results: Queue<ResultMessage>,
  sopInstanceUid: string,
  reason: string,
): Promise<void> {
  return publish(results, { kind: 'archive-failed', sopInstanceUid, reason: reason.slice(0, 500) });
}
