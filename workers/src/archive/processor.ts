/**
 * The archive worker: copies one instance from Orthanc to S3 under a content-addressed key,
 * verifies the copy, and reports the result to the gateway on the results queue (the gateway is
 * the only database writer).
 *
 * - Key: `dicom-<sha256>` (flat: s3rver mis-lists nested prefixes). Content addressing makes the
 *   job idempotent and lets an existing object of the same size stand: a different file with the
 *   same SHA-256 and size is not a practical concern.
 * - An object Orthanc declares at most IN_MEMORY_MAX_BYTES long (a CT or MR slice, a radiograph)
 *   is held in memory from Orthanc to S3: no scratch file to write, stat, read back and remove
 *   (those syscalls, and the copies between stream chunks, cost the worker more CPU than the
 *   hashing). A larger one is streamed to a scratch file while SHA-256 and MD5 are computed in
 *   one pass, so memory stays flat for a 1 GB multi-frame object.
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
import { type Readable, Transform } from 'node:stream';
import { finished, pipeline } from 'node:stream/promises';
import { type Job, type Queue, UnrecoverableError } from 'bullmq';
import type { Client as MinioClient } from 'minio';
import type { ArchiveJob, ResultMessage } from '../../../contracts/jobs.js';
import { jobId } from '../../../contracts/jobs.js';
import { OrthancNotFound, type OrthancReader } from '../orthanc.js';

export interface ArchiveDeps {
  orthanc: OrthancReader;
  s3: MinioClient;
  /** The S3 endpoint is HTTPS (see putDigested). */
  s3Tls?: boolean;
  bucket: string;
  results: Queue<ResultMessage>;
  /** Scratch directory for files in transit. */
  scratchDir: string;
  /** Largest object copied in memory (default IN_MEMORY_MAX_BYTES); larger ones use a scratch file. */
  inMemoryMaxBytes?: number;
}

/** What copying needs (the results queue is the processor's business). */
export type CopyDeps = Omit<ArchiveDeps, 'results'>;

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
  deps: CopyDeps,
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

/**
 * One PUT of bytes whose digests are known. The minio client's putObject would hash them twice
 * more (MD5 for Content-MD5, SHA-256 for the request signature over plain HTTP) — as much CPU as
 * our own hashing again, per copy. Given ours instead, exactly as putObject would send them: the
 * payload's SHA-256 in the signature over HTTP (none over HTTPS, where the client signs
 * UNSIGNED-PAYLOAD); Content-MD5 always, so MinIO and S3 refuse bytes damaged on the way
 * (BadDigest; s3rver does not check it, and the copy is verified afterwards all the same).
 */
async function putDigested(deps: CopyDeps, key: string, bytes: Buffer, sha256: string, md5hex: string) {
  const res = await deps.s3.makeRequestStreamAsync(
    {
      method: 'PUT',
      bucketName: deps.bucket,
      objectName: key,
      headers: {
        'Content-Length': bytes.length,
        'Content-Type': 'application/dicom',
        'Content-MD5': Buffer.from(md5hex, 'hex').toString('base64'),
      },
    },
    bytes,
    deps.s3Tls ? '' : sha256,
    [200],
    '',
  );
  res.resume();
  await finished(res);
}

/** Objects up to this size go from Orthanc to S3 in memory; larger ones through a scratch file. */
export const IN_MEMORY_MAX_BYTES = 8 * 1024 * 1024;

/** The whole body, refusing one longer than Orthanc declared (then the copy is retried). */
async function readDeclared(body: Readable, length: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += (chunk as Buffer).length;
    if (size > length) {
      body.destroy();
      throw new Error(`Orthanc sent more than the ${length} bytes it declared`);
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks, size);
}

export async function archiveOne(deps: CopyDeps, job: ArchiveJob): Promise<ArchivedMessage> {
  let source: Awaited<ReturnType<OrthancReader['instanceFile']>>;
  try {
    source = await deps.orthanc.instanceFile(job.orthancId);
  } catch (err) {
    if (err instanceof OrthancNotFound)
      throw new UnrecoverableError(`instance ${job.orthancId}: ${err.message}`);
    throw err;
  }
  if (source.length !== null && source.length <= (deps.inMemoryMaxBytes ?? IN_MEMORY_MAX_BYTES)) {
    const bytes = await readDeclared(source.body, source.length);
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    const md5hex = createHash('md5').update(bytes).digest('hex');
    return store(deps, job, { sha256, md5hex, size: bytes.length }, (key) =>
      putDigested(deps, key, bytes, sha256, md5hex),
    );
  }
  await mkdir(deps.scratchDir, { recursive: true });
  const tmp = join(deps.scratchDir, `archive-${randomUUID()}.dcm`);
  try {
    const sha = createHash('sha256');
    const md5 = createHash('md5');
    await pipeline(
      source.body,
      new Transform({
        transform(chunk: Buffer, _enc, cb) {
          sha.update(chunk);
          md5.update(chunk);
          cb(null, chunk);
        },
      }),
      createWriteStream(tmp),
    );
    const { size } = await stat(tmp);
    return await store(deps, job, { sha256: sha.digest('hex'), md5hex: md5.digest('hex'), size }, (key) =>
      deps.s3.fPutObject(deps.bucket, key, tmp, { 'Content-Type': 'application/dicom' }),
    );
  } finally {
    await rm(tmp, { force: true });
  }
}

/**
 * Puts the copy under its content-addressed key unless a verified one is there already, and
 * verifies what S3 then holds.
 */
async function store(
  deps: CopyDeps,
  job: ArchiveJob,
  h: { sha256: string; md5hex: string; size: number },
  upload: (key: string) => Promise<unknown>,
): Promise<ArchivedMessage> {
  const key = archiveKeyOf(h.sha256);
  // A verified copy already there stands (content addressing); one HEAD decides it.
  if (!(await verified(deps, key, h.size, h.md5hex, h.sha256))) {
    await upload(key);
    if (!(await verified(deps, key, h.size, h.md5hex, h.sha256))) {
      throw new UnrecoverableError(`archive copy of ${job.orthancId} failed verification`);
    }
  }
  return {
    kind: 'archived',
    sopInstanceUid: job.sopInstanceUid,
    archiveKey: key,
    sha256: h.sha256,
    sizeBytes: h.size,
    archivedAt: new Date().toISOString(),
  };
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
