/**
 * Where a worker finds the files of (model id, version, SHA-256): the bundled models directory
 * when its manifest names that hash, otherwise a local cache filled from S3 (uploaded models,
 * fetched by content hash, verified after download). The cache layout is `<cache>/<id>/<version>/`
 * because the validator checks that a manifest lives in its own id/version folder.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Client } from 'minio';
import { modelObjectKeys } from '../../../contracts/jobs.js';
import type { ModelManifest } from '../../../contracts/model-manifest.js';
import { checkManifest } from './manifest.js';

export class ModelUnavailable extends Error {
  constructor(
    message: string,
    /** False when retrying cannot help (no such object, hash mismatch, invalid manifest). */
    readonly transient: boolean,
  ) {
    super(message);
    this.name = 'ModelUnavailable';
  }
}

async function readObject(s3: Client, bucket: string, key: string): Promise<Buffer> {
  try {
    const stream = await s3.getObject(bucket, key);
    const chunks: Buffer[] = [];
    for await (const c of stream) chunks.push(c as Buffer);
    return Buffer.concat(chunks);
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code === 'NoSuchKey' || code === 'NotFound')
      throw new ModelUnavailable(`model object ${key} is not in S3`, false);
    throw new ModelUnavailable(`S3 read of ${key} failed: ${(err as Error).message}`, true);
  }
}

function manifestSha(dir: string): string | null {
  try {
    return (
      (JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as { sha256?: string }).sha256 ?? null
    );
  } catch {
    return null;
  }
}

export class ModelSource {
  private readonly pending = new Map<string, Promise<string>>();
  constructor(private readonly o: { modelsDir: string; cacheDir: string; s3: Client; bucket: string }) {}

  /** The directory holding manifest.json + model.onnx of exactly this model. */
  dir(modelId: string, version: string, sha256: string): Promise<string> {
    const bundled = join(this.o.modelsDir, modelId, version);
    if (manifestSha(bundled) === sha256) return Promise.resolve(bundled);
    const cached = join(this.o.cacheDir, modelId, version);
    if (manifestSha(cached) === sha256 && existsSync(join(cached, 'model.onnx')))
      return Promise.resolve(cached);
    const key = `${modelId}/${version}/${sha256}`;
    let p = this.pending.get(key);
    if (!p) {
      p = this.download(modelId, version, sha256, cached).finally(() => this.pending.delete(key));
      this.pending.set(key, p);
    }
    return p;
  }

  /** The manifest only (stages that need no network), checked against the schema. */
  async manifest(modelId: string, version: string, sha256: string): Promise<ModelManifest> {
    const dir = await this.dir(modelId, version, sha256);
    const json = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as unknown;
    const problems = checkManifest(json, { id: modelId, version });
    if (problems.length)
      throw new ModelUnavailable(
        `manifest of ${modelId}/${version} is invalid: ${problems.map((p) => `${p.path} ${p.reason}`).join('; ')}`,
        false,
      );
    return json as ModelManifest;
  }

  private async download(modelId: string, version: string, sha256: string, dir: string): Promise<string> {
    const keys = modelObjectKeys(modelId, version, sha256);
    const manifest = await readObject(this.o.s3, this.o.bucket, keys.manifestKey);
    const onnx = await readObject(this.o.s3, this.o.bucket, keys.onnxKey);
    const got = createHash('sha256').update(onnx).digest('hex');
    if (got !== sha256)
      throw new ModelUnavailable(`model.onnx from S3 has SHA-256 ${got}, expected ${sha256}`, false);
    // Written beside, then renamed: a concurrent reader never sees half a model.
    const tmp = `${dir}.tmp-${process.pid}-${Date.now()}`;
    await mkdir(tmp, { recursive: true });
    await writeFile(join(tmp, 'model.onnx'), onnx);
    await writeFile(join(tmp, 'manifest.json'), manifest);
    await rm(dir, { recursive: true, force: true });
    await mkdir(join(dir, '..'), { recursive: true });
    await rename(tmp, dir);
    return dir;
  }
}
