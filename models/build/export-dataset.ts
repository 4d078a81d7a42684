/**
 * Training-set exporter: draws the training studies of a model from the synthetic generator
 * (seeds in model-configs.ts), runs them through the engine's own input preparation
 * (workers/src/ai/prepare.ts) and writes, per study, `<n>.img.f32` (float32 input at the target
 * spacing), `<n>.seg.u8` (binary lesion mask on that grid: generator mask resampled
 * trilinearly, ≥ 0.5) and `<n>.json` (dims, spacing, seed). The data never enters git: it goes
 * to a scratch directory given on the command line.
 *
 *   npx tsx models/build/export-dataset.ts liver-lesion-ct /tmp/radlink-train-ct
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { generateStudy } from '../../scripts/demo/synth/study.js';
import { prepareInput } from '../../workers/src/ai/prepare.js';
import { resampleToSpacing } from '../../workers/src/ai/resample.js';
import { MODEL_CONFIGS, type ModelKey } from './model-configs.js';
import { synthSeriesVolume } from './synth-volume.js';

const [key, outDir] = process.argv.slice(2) as [ModelKey, string];
const cfg = MODEL_CONFIGS[key];
if (!cfg || !outDir) {
  console.error('usage: export-dataset.ts <liver-lesion-ct|liver-lesion-mr> <out-dir>');
  process.exit(2);
}
mkdirSync(outDir, { recursive: true });
const seeds: number[] = [];
const t0 = Date.now();
for (let n = 0; n < cfg.trainingStudies; n++) {
  const draw = cfg.draw('train', n);
  const study = generateStudy(draw.options);
  const { volume, labels } = synthSeriesVolume(study, draw.seriesKind);
  const input = prepareInput(volume, cfg.manifest.input);
  const maskF = resampleToSpacing(
    { ...volume, data: Float32Array.from(labels, (v) => (v > 0 ? 1 : 0)) },
    input.spacing,
  );
  const seg = Uint8Array.from(maskF.data, (v) => (v >= 0.5 ? 1 : 0));
  writeFileSync(join(outDir, `${n}.img.f32`), Buffer.from(input.data.buffer));
  writeFileSync(join(outDir, `${n}.seg.u8`), seg);
  writeFileSync(
    join(outDir, `${n}.json`),
    JSON.stringify({
      seed: draw.options.seed,
      dims: input.dims,
      spacing: input.spacing,
      lesions: study.groundTruth.lesions.length,
    }),
  );
  seeds.push(draw.options.seed);
}
writeFileSync(join(outDir, 'seeds.json'), JSON.stringify(seeds));
console.log(
  `exported ${cfg.trainingStudies} ${key} studies to ${outDir} in ${((Date.now() - t0) / 1000).toFixed(1)} s`,
);
