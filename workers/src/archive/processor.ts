/**
 * The archive worker: copies one instance from Orthanc to S3 under a content-addressed key,
 * verifies the copy, and reports the result to the gateway on the results queue (the gateway is
 * the only database writer).
 *
 * - Key: `dicom-<sha256>` (flat: s3rver mis-lists nested prefixes). Content addressing makes the
 *   job idempotent and lets an existing object of the same size stand: a different file with the
 *   same SHA-256 and size is not a practical concern.
 * - The file is streamed to a scratch file while SHA-256 and MD5 are computed in one pass, so
 *   memory stays flat for a 1 GB multi-frame object.
 * - Verification: stat the object; its size must match, and its ETag must equal the MD5 we
 *   computed (S3's ETag of a single-part upload is the MD5 of the bytes it stored: an end-to-end
 *   check without downloading). A multipart upload's ETag is not an MD5 ("…-N"); then the object
 *   is read back and hashed. Reading back always would double the I/O for no extra assurance.
 * - Failures: Orthanc or S3 unreachable → retried with exponential backoff (the job's options);
 *   the instance gone from Orthanc or a verification mismatch after re-upload → UnrecoverableError.
 *   When a job fails for good, `archive-failed` is published (see startArchiveWorker).
 */
import { createHash, randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { type Job, type Queue, UnrecoverableError } from 'bullmq';
import type { Client as MinioClient } from 'minio';
import type { ArchiveJob, ResultMessage } from '../../../contracts/jobs.js';
import { jobId } from '../../../contracts/jobs.js';
import { OrthancNotFound, type OrthancReader } from '../orthanc.js';

export interface ArchiveDeps {
  orthanc: OrthancReader;
  s3: MinioClient;
  bucket: string;
  results: Queue<ResultMessage>;
  /** Scratch directory for files in transit. */
  scratchDir: string;
}

export type ArchivedMessage = Extract<ResultMessage, { kind: 'archived' }>;

export const archiveKeyOf = (sha256: string) => `dicom-${sha256}`;

async function statOrNull(
  s3: MinioClient,
  bucket: string,
  key: string,
): Promise<{ size: number; etag: string } | null> {
  try {
    const st = await s3.statObject(bucket, key);
    return { size: st.size, etag: st.etag.replace(/"/g, '') };
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code === 'NotFound' || code === 'NoSuchKey') return null;
    throw err;
  }
}

async function sha256OfObject(s3: MinioClient, bucket: string, key: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of await s3.getObject(bucket, key)) h.update(chunk as Buffer);
  return h.digest('hex');
}

/** Verified when the size matches and the ETag is our MD5 — or, for multipart ETags, the bytes hash back to our SHA-256. */
async function verified(
  deps: ArchiveDeps,
  key: string,
  size: number,
  md5: string,
  sha256: string,
): Promise<boolean> {
  const st = await statOrNull(deps.s3, deps.bucket, key);
  if (!st || st.size !== size) return false;
  if (!st.etag.includes('-')) return st.etag === md5;
  return (await sha256OfObject(deps.s3, deps.bucket, key)) === sha256;
}

export async function archiveOne(deps: ArchiveDeps, job: ArchiveJob): Promise<ArchivedMessage> {
  await mkdir(deps.scratchDir, { recursive: true });
  const tmp = join(deps.scratchDir, `archive-${randomUUID()}.dcm`);
  try {
    const sha = createHash('sha256');
    const md5 = createHash('md5');
    let source: Awaited<ReturnType<OrthancReader['instanceFile']>>;
    try {
      source = await deps.orthanc.instanceFile(job.orthancId);
    } catch (err) {
      if (err instanceof OrthancNotFound)
        throw new UnrecoverableError(`instance ${job.orthancId}: ${err.message}`);
      throw err;
    }
    await pipeline(
      source,
      new Transform({
        transform(chunk: Buffer, _enc, cb) {
          sha.update(chunk);
          md5.update(chunk);
          cb(null, chunk);
        },
      }),
      createWriteStream(tmp),
    );
    const sha256 = sha.digest('hex');
    const md5hex = md5.digest('hex');
    const { size } = await stat(tmp);
    const key = archiveKeyOf(sha256);

    const existing = await statOrNull(deps.s3, deps.bucket, key);
    if (!existing || existing.size !== size || !(await verified(deps, key, size, md5hex, sha256))) {
      await deps.s3.fPutObject(deps.bucket, key, tmp, { 'Content-Type': 'application/dicom' });
      if (!(await verified(deps, key, size, md5hex, sha256))) {
        throw new UnrecoverableError(`archive copy of ${job.orthancId} failed verification`);
      }
    }
    return {
      kind: 'archived',
      sopInstanceUid: job.sopInstanceUid,
      archiveKey: key,
      sha256,
      sizeBytes: size,
      archivedAt: new Date().toISOString(),
    };
  } finally {
    await rm(tmp, { force: true });
  }
}

/** The BullMQ processor: archive, then hand the result to the gateway. */
export function archiveProcessor(deps: ArchiveDeps) {
  return async (job: Job<ArchiveJob>): Promise<ArchivedMessage> => {
    const result = await archiveOne(deps, job.data);
    await publish(deps.results, result);
    return result;
  };
}

export async function publish(
  results: Queue<ResultMessage>,
  msg: Extract<ResultMessage, { kind: 'archived' | 'archive-failed' | 'thumbnail' }>,
): Promise<void> {
  const id =
    msg.kind === 'thumbnail' ? jobId('thumbnail', msg.seriesUid) : jobId(msg.kind, msg.sopInstanceUid);
  await results.add(msg.kind, msg, { jobId: id });
}
