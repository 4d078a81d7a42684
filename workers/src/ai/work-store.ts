/**
 * Where a run's intermediate results live between its stages: S3, under flat keys
 * `ai-work-<runId>-<attempt>-<name>`, so stages may run in different processes or on different
 * machines (Redis carries the job ids only; volumes are tens of megabytes). The final stage, and
 * a run's failure, remove every object of the attempt.
 */
import type { Client } from 'minio';

export class WorkStore {
  constructor(
    private readonly s3: Client,
    private readonly bucket: string,
  ) {}

  private prefix(runId: string, attempt: number): string {
    return `ai-work-${runId}-${attempt}-`;
  }

  key(runId: string, attempt: number, name: string): string {
    return `${this.prefix(runId, attempt)}${name}`;
  }

  async putBytes(key: string, bytes: Uint8Array): Promise<void> {
    await this.s3.putObject(this.bucket, key, Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  }

  async getBytes(key: string): Promise<Buffer> {
    const stream = await this.s3.getObject(this.bucket, key);
    const chunks: Buffer[] = [];
    for await (const c of stream) chunks.push(c as Buffer);
    return Buffer.concat(chunks);
  }

  async putJson(key: string, value: unknown): Promise<void> {
    await this.s3.putObject(this.bucket, key, Buffer.from(JSON.stringify(value)), undefined, {
      'Content-Type': 'application/json',
    });
  }

  async getJson<T>(key: string): Promise<T> {
    return JSON.parse((await this.getBytes(key)).toString('utf8')) as T;
  }

  /** Removes every object of one attempt of a run (idempotent). */
  async removeRun(runId: string, attempt: number): Promise<void> {
    const keys: string[] = [];
    const stream = this.s3.listObjectsV2(this.bucket, this.prefix(runId, attempt), true);
    for await (const o of stream) if ((o as { name?: string }).name) keys.push((o as { name: string }).name);
    if (keys.length) await this.s3.removeObjects(this.bucket, keys);
  }
}
