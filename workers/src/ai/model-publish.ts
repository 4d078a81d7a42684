/**
 * Bundled models at worker start: every `<models>/<id>/<version>/` is validated (schema,
 * hash, graph signature, a dry run — manifest.ts), copied to S3 under the registry's keys and
 * announced to the gateway (`ai-model-available`), which registers it. An invalid bundled
 * model is logged with every problem and not announced; the others still are.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Queue } from 'bullmq';
import type { Client } from 'minio';
import type pino from 'pino';
import { jobId, modelObjectKeys, type ResultMessage } from '../../../contracts/jobs.js';
import { loadModelsDir } from './manifest.js';
import { SessionCache } from './session-cache.js';

async function exists(s3: Client, bucket: string, key: string): Promise<boolean> {
  try {
    await s3.statObject(bucket, key);
    return true;
  } catch {
    return false;
  }
}

export async function publishBundledModels(o: {
  modelsDir: string;
  s3: Client;
  bucket: string;
  results: Queue<ResultMessage>;
  log: pino.Logger;
}): Promise<string[]> {
  const sessions = new SessionCache();
  try {
    const { models, errors } = await loadModelsDir(o.modelsDir, sessions);
    for (const e of errors)
      o.log.error({ model: e.model, problems: e.problems }, 'bundled AI model is invalid; not registered');
    const published: string[] = [];
    for (const m of models) {
      const { id, version, sha256 } = m.manifest;
      const keys = modelObjectKeys(id, version, sha256);
      if (!(await exists(o.s3, o.bucket, keys.onnxKey)))
        await o.s3.putObject(o.bucket, keys.onnxKey, readFileSync(m.onnxPath));
      await o.s3.putObject(o.bucket, keys.manifestKey, readFileSync(join(m.dir, 'manifest.json')));
      await o.results.add(
        'ai-model-available',
        { kind: 'ai-model-available', modelId: id, version, sha256, ...keys },
        { jobId: jobId('ai-model-available', id, version, sha256) },
      );
      published.push(`${id}/${version}`);
    }
    o.log.info({ models: published }, 'bundled AI models validated and announced');
    return published;
  } finally {
    await sessions.close();
  }
}
