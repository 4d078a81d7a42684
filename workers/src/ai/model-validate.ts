/**
 * `ai-models` jobs: the full validation of an uploaded model (the same loadModel the workers
 * use: schema, folder identity, SHA-256 of the network, graph signature, a dry run), on the
 * objects the gateway put in S3. Answers the list of problems; the gateway registers the model
 * only when there are none.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Job } from 'bullmq';
import type { Client } from 'minio';
import type { ModelValidateJob, ModelValidateResult } from '../../../contracts/jobs.js';
import { loadModel, ModelValidationError } from './manifest.js';
import { SessionCache } from './session-cache.js';

async function read(s3: Client, bucket: string, key: string): Promise<Buffer> {
  const stream = await s3.getObject(bucket, key);
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

export function modelValidateProcessor(o: { s3: Client; bucket: string; scratchDir: string }) {
  return async (job: Job<ModelValidateJob>): Promise<ModelValidateResult> => {
    const manifestBytes = await read(o.s3, o.bucket, job.data.manifestKey);
    let parsed: { id?: unknown; version?: unknown };
    try {
      parsed = JSON.parse(manifestBytes.toString('utf8')) as typeof parsed;
    } catch (err) {
      return {
        ok: false,
        problems: [{ path: '', reason: `manifest.json is not JSON: ${(err as Error).message}` }],
      };
    }
    const id =
      typeof parsed.id === 'string' && /^[a-z0-9][a-z0-9-]{1,62}$/.test(parsed.id) ? parsed.id : 'model';
    const version =
      typeof parsed.version === 'string' && /^[0-9A-Za-z.+-]{1,64}$/.test(parsed.version)
        ? parsed.version
        : '0.0.0';
    await mkdir(o.scratchDir, { recursive: true });
    const root = await mkdtemp(join(o.scratchDir, 'ai-validate-'));
    const dir = join(root, id, version);
    const sessions = new SessionCache();
    try {
      await mkdir(dir, { recursive: true });
      await writeFile(join(dir, 'manifest.json'), manifestBytes);
      await writeFile(join(dir, 'model.onnx'), await read(o.s3, o.bucket, job.data.onnxKey));
      await loadModel(dir, sessions);
      return { ok: true, problems: [] };
    } catch (err) {
      if (err instanceof ModelValidationError) return { ok: false, problems: err.problems };
      throw err;
    } finally {
      await sessions.close();
      await rm(root, { recursive: true, force: true });
    }
  };
}
