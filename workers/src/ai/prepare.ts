/**
 * Volume → network input: resample to the manifest's target spacing (trilinear, MONAI
 * `Spacing` semantics: same origin and axes), then the intensity steps. The training exporter
 * (models/build/export-dataset.ts) calls this same function, so training and inference cannot
 * drift apart.
 */
import type { ModelManifest } from '../../../contracts/model-manifest.js';
import { preprocess } from './preprocess.js';
import { resampleToSpacing } from './resample.js';
import type { Vec3, Volume } from './volume.js';

export function prepareInput(volume: Volume, input: ModelManifest['input']): Volume {
  const resampled = resampleToSpacing(volume, input.targetSpacingMm as Vec3, 'linear');
  preprocess(resampled.data, input.preprocessing);
  return resampled;
}
