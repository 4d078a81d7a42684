/**
 * Writes models/<id>/<version>/manifest.json for a freshly trained model.onnx: the static part
 * from model-configs.ts, the training seeds, the SHA-256 of the file, the graph's I/O signature
 * as onnxruntime reads it, and the evaluation summary from bench/results/ai-eval-<id>.json when
 * that file exists (run bench/ai-eval.ts, then this script again: the .onnx does not change).
 * Finally the whole model is loaded through the validator the workers use.
 *
 *   npx tsx models/build/write-manifest.ts liver-lesion-ct <seeds.json>
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { InferenceSession } from 'onnxruntime-node';
import type { ModelManifest } from '../../contracts/model-manifest.js';
import { loadModel, sha256File } from '../../workers/src/ai/manifest.js';
import { SessionCache } from '../../workers/src/ai/session-cache.js';
import { MODEL_CONFIGS, type ModelKey } from './model-configs.js';

const REPO = join(import.meta.dirname, '..', '..');
const [key, seedsFile] = process.argv.slice(2) as [ModelKey, string | undefined];
const cfg = MODEL_CONFIGS[key];
if (!cfg) {
  console.error('usage: write-manifest.ts <model id> [seeds.json]');
  process.exit(2);
}
const dir = join(REPO, 'models', cfg.key, cfg.version);
const onnx = join(dir, 'model.onnx');
const manifestPath = join(dir, 'manifest.json');
const previous = existsSync(manifestPath)
  ? (JSON.parse(readFileSync(manifestPath, 'utf8')) as ModelManifest)
  : undefined;
const seeds: number[] = seedsFile
  ? JSON.parse(readFileSync(seedsFile, 'utf8'))
  : (previous?.provenance.trainingSeeds ?? []);

const session = await InferenceSession.create(onnx);
const describe = (v: InferenceSession.ValueMetadata) =>
  v.isTensor
    ? { name: v.name, dtype: String(v.type), shape: [...v.shape] }
    : { name: v.name, dtype: 'non-tensor', shape: [] };
const signature = {
  inputs: session.inputMetadata.map(describe),
  outputs: session.outputMetadata.map(describe),
};
await session.release();

const evaluation: ModelManifest['evaluation'] = [];
const resultsRel = `bench/results/ai-eval-${cfg.key}.json`;
if (existsSync(join(REPO, resultsRel))) {
  const r = JSON.parse(readFileSync(join(REPO, resultsRel), 'utf8')) as {
    splits: Array<{
      split: string;
      studies: number;
      atLeast10mm: { lesions: number; sensitivity: number; ci95: [number, number] };
      falsePositivesPerStudy: number;
    }>;
  };
  for (const s of r.splits)
    evaluation.push({
      split: s.split,
      resultsFile: resultsRel,
      studies: s.studies,
      lesionsAtLeast10mm: s.atLeast10mm.lesions,
      sensitivityAtLeast10mm: s.atLeast10mm.sensitivity,
      sensitivityCi95: s.atLeast10mm.ci95,
      falsePositivesPerStudy: s.falsePositivesPerStudy,
    });
}

const { provenance, ...rest } = cfg.manifest;
const manifest: ModelManifest = {
  $schema: '../../manifest.schema.json',
  ...rest,
  provenance: { ...provenance, trainingSeeds: seeds },
  signature,
  evaluation,
  sha256: sha256File(onnx),
};
writeFileSync(manifestPath, `${JSON.stringify(manifest, null, 2)}\n`);
const sessions = new SessionCache();
await loadModel(dir, sessions);
await sessions.close();
console.log(`wrote and validated ${manifestPath}`);
