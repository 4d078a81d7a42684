/**
 * Streams an object of unknown length into S3 with bounded memory: one part in memory at a time;
 * a stream that ends within the first part is a single PUT, a longer one a multipart upload
 * (aborted on error, so no orphaned parts stay behind). minio's own putObject for streams looks
 * for an unfinished upload first (ListMultipartUploads), which the embedded s3rver does not
 * implement; initiate/upload part/complete it does, as MinIO and S3 do.
 */
import type { ObjectStore } from '../plugins/s3.js';

/** S3's smallest part (but the last) is 5 MiB. */
export const MIN_PART_BYTES = 5 * 1024 * 1024;

export async function uploadStream(
  s3: ObjectStore,
  key: string,
  source: AsyncIterable<Buffer | Uint8Array>,
  contentType: string,
  partBytes = 16 * 1024 * 1024,
): Promise<number> {
  if (partBytes < MIN_PART_BYTES) throw new Error('S3 parts are at least 5 MiB');
  const headers = { 'Content-Type': contentType };
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  let total = 0;
  let uploadId: string | undefined;
  const etags: { part: number; etag: string }[] = [];
  const flush = async () => {
    const payload = Buffer.concat(pending);
    pending = [];
    pendingBytes = 0;
    uploadId ??= await s3.client.initiateNewMultipartUpload(s3.bucket, key, headers);
    const part = etags.length + 1;
    const r = await s3.client.uploadPart(
      { bucketName: s3.bucket, objectName: key, uploadID: uploadId, partNumber: part, headers: {} },
      payload,
    );
    etags.push({ part, etag: r.etag });
  };
  try {
    for await (const chunk of source) {
      const b = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk);
      pending.push(b);
      pendingBytes += b.length;
      total += b.length;
      if (pendingBytes >= partBytes) await flush();
    }
    if (uploadId === undefined) {
      const body = Buffer.concat(pending);
      await s3.client.putObject(s3.bucket, key, body, body.length, headers);
      return total;
    }
    if (pendingBytes > 0) await flush();
    await s3.client.completeMultipartUpload(s3.bucket, key, uploadId, etags);
    return total;
  } catch (err) {
    if (uploadId) await s3.client.abortMultipartUpload(s3.bucket, key, uploadId).catch(() => undefined);
    throw err;
  }
}
