/**
 * The two default models: how their training and evaluation studies are drawn from the
 * synthetic generator (scripts/demo/synth), and the static part of their manifests. One file
 * so the dataset exporter, the manifest writer and the benchmark cannot disagree.
 *
 * Seed ranges never overlap: training 100000+, in-distribution evaluation 200000+,
 * out-of-distribution evaluation 300000+ (for both models; the modality differs).
 */
import type { ModelManifest } from '../../contracts/model-manifest.js';
import { NOT_FOR_CLINICAL_USE_LABEL } from '../../contracts/model-manifest.js';
import { DEMO_PATIENTS } from '../../scripts/demo/patients.js';
import { Rng } from '../../scripts/demo/synth/random.js';
import type { GenerateStudyOptions } from '../../scripts/demo/synth/study.js';
import type { SeriesKind } from '../../scripts/demo/synth/tissues.js';

export type ModelKey = 'liver-lesion-ct' | 'liver-lesion-mr';
export type Split = 'train' | 'eval-in-distribution' | 'eval-out-of-distribution' | 'eval-excluded-series';

export const SEED_BASE: Record<Split, number> = {
  train: 100_000,
  'eval-in-distribution': 200_000,
  'eval-out-of-distribution': 300_000,
  'eval-excluded-series': 400_000,
};

export interface StudyDraw {
  options: GenerateStudyOptions;
  /** Which generated series the model reads. */
  seriesKind: SeriesKind;
}

export interface ModelConfig {
  key: ModelKey;
  version: string;
  trainingStudies: number;
  /** Spatial crop (D, H, W) the network is trained on; any size divisible by 4 runs at inference. */
  trainCrop: [number, number, number];
  draw(split: Split, n: number): StudyDraw;
  /** Manifest fields that do not depend on the trained file. */
  manifest: Omit<ModelManifest, 'sha256' | 'signature' | 'evaluation' | 'provenance'> & {
    provenance: Omit<ModelManifest['provenance'], 'trainingSeeds'>;
  };
}

const SCT = (codeValue: string, codeMeaning: string) => ({
  codeValue,
  codingSchemeDesignator: 'SCT',
  codeMeaning,
});
const LESION_CHANNEL = (region: { codeValue: string; codeMeaning: string }) => ({
  index: 0,
  label: 'Focal liver lesion',
  colour: [255, 96, 32] as [number, number, number],
  category: SCT('49755003', 'Morphologically Altered Structure'),
  type: SCT('52988006', 'Lesion'),
  anatomicRegion: SCT(region.codeValue, region.codeMeaning),
  finding: true,
});

const pick = <T>(rng: Rng, xs: readonly T[]): T => xs[Math.floor(rng.next() * xs.length)]!;

function ctDraw(split: Split, n: number): StudyDraw {
  const seed = SEED_BASE[split] + n;
  const rng = new Rng(seed, 'model-config/ct');
  const patient = DEMO_PATIENTS[n % DEMO_PATIENTS.length]!;
  const ood = split === 'eval-out-of-distribution';
  // In distribution: portal-venous CT, 2–3 mm slices, 1.5–3 mm pixels, noise 6–14 HU.
  // Out of distribution: thick 5 mm slices, 2.4 mm pixels, noise 16–19 HU, and every third study
  // a non-contrast series (liver 60 HU instead of 110, lesion contrast scaled down with it).
  const thickness = ood ? 5 : pick(rng, [2, 2.5, 3]);
  const rows = ood ? 160 : pick(rng, [128, 192, 256]);
  const coverage = rng.range(240, 290);
  const seriesKind: SeriesKind = ood && n % 3 === 2 ? 'ct-non-contrast' : 'ct-portal-venous';
  return {
    seriesKind,
    options: {
      seed,
      patient,
      modality: 'CT',
      rows,
      slices: Math.round(coverage / thickness),
      sliceThickness: thickness,
      noise: ood ? rng.range(16, 19) : rng.range(6, 14),
      lesions: rng.int(3, 5),
      series: [seriesKind],
      withMask: true,
    },
  };
}

function mrDraw(split: Split, n: number): StudyDraw {
  const seed = SEED_BASE[split] + n;
  const rng = new Rng(seed, 'model-config/mr');
  const patient = DEMO_PATIENTS[n % DEMO_PATIENTS.length]!;
  const ood = split === 'eval-out-of-distribution';
  const excluded = split === 'eval-excluded-series';
  // In distribution: T2 TSE abdomen, 26–36 slices (~5–7 mm with a 20 % gap), noise 6–14, coil
  // shading ≤ 0.2, default lesion contrasts (70 % +150–400, 30 % +800–1200 over liver).
  // Out of distribution: 22 thick slices (~8 mm), 224 matrix, noise 18–22, strong shading 0.3,
  // and weaker lesions (+110–300, below the training minimum of +150 for a third of them).
  // Excluded series (informational): the fat-saturated T2 series, which the model's series
  // selection refuses — scored to show why the rule exists, not a target split.
  const seriesKind: SeriesKind = excluded ? 'mr-t2-fatsat' : 'mr-t2';
  // Draw order is part of the seeds' meaning (training data): rows, slices, noise, shading, count.
  const rows = ood ? 224 : pick(rng, [128, 192, 256]);
  const slices = ood ? 22 : pick(rng, [26, 30, 36]);
  const noise = ood ? rng.range(18, 22) : rng.range(6, 14);
  const biasField = ood ? 0.3 : rng.range(0.05, 0.2);
  const count = rng.int(3, 5);
  return {
    seriesKind,
    options: {
      seed,
      patient,
      modality: 'MR',
      region: 'abdomen',
      rows,
      slices,
      noise,
      biasField,
      lesions: ood ? Array.from({ length: count }, () => ({ contrast: rng.range(110, 300) })) : count,
      series: ['mr-t2', 'mr-t2-fatsat'],
      withMask: true,
    },
  };
}

const COMMON = {
  schemaVersion: 1 as const,
  creator: { name: 'RadLink contributors', contact: 'https://github.com/radlink' },
  licence: 'Apache-2.0',
  clinicalUse: 'not-for-clinical-use' as const,
  label: NOT_FOR_CLINICAL_USE_LABEL,
  inferenceBase: { overlap: 0.25, blending: 'gaussian' as const, sigmaScale: 0.125, batchSize: 1 },
};

const TRAINING_NOTE =
  'Synthetic phantoms generated by scripts/demo/synth (no patient data, nothing downloaded); ' +
  'lesion masks from the generator ground truth. Seeds listed in trainingSeeds. Not for clinical use.';

export const MODEL_CONFIGS: Record<ModelKey, ModelConfig> = {
  'liver-lesion-ct': {
    key: 'liver-lesion-ct',
    version: '1.0.0',
    trainingStudies: 48,
    trainCrop: [16, 48, 48],
    draw: ctDraw,
    manifest: {
      schemaVersion: COMMON.schemaVersion,
      id: 'liver-lesion-ct',
      version: '1.0.0',
      name: 'RadLink liver lesion CT',
      description:
        'Small 3-D U-Net (3 levels, 8-16-32 channels) segmenting focal liver lesions (hypo- and hyperdense) on ' +
        'portal-venous abdominal CT resampled to 3 mm; connected components become findings.',
      creator: COMMON.creator,
      licence: COMMON.licence,
      intendedUse:
        'Demonstration and testing of the RadLink AI pipeline: flags abdominal CT studies that show focal liver ' +
        'lesions of 10 mm or more. Trained on synthetic phantoms only; not validated on patient data.',
      clinicalUse: COMMON.clinicalUse,
      label: COMMON.label,
      provenance: {
        trainingData: `${TRAINING_NOTE} 48 CT studies (portal venous, 2–3 mm slices, 128–256 matrix, noise 6–14 HU, 3–5 lesions of 8–35 mm each).`,
        buildCommand:
          'models/build/build-all.sh (export-dataset.ts liver-lesion-ct; train_unet.py --crop 16 48 48 --iters 900 ' +
          '--seed 20250404 --pad-value -1 --gain 0.2 --offset 0.2 --noise 0.08 --bright-threshold 0.4 --threads 1)',
        framework: 'PyTorch (Debian python3-torch) → ONNX opset 13',
      },
      seriesSelection: [
        {
          modality: 'CT',
          bodyPartExamined: ['ABDOMEN', 'CHEST_TO_PELVIS', 'ABDOMENPELVIS', 'LIVER'],
          excludeSeriesDescription: '(scout|topogram|localizer|lung|dose)',
          sliceThicknessMm: { min: 0.5, max: 5.5 },
          minSlices: 20,
        },
      ],
      input: {
        name: 'image',
        layout: 'NCDHW',
        dtype: 'float32',
        channels: 1,
        targetSpacingMm: [3, 3, 3],
        preprocessing: [
          { op: 'clip', min: -150, max: 250 },
          { op: 'scale', from: [-150, 250], to: [-1, 1] },
        ],
      },
      inference: { patchSize: [64, 128, 128], padValue: -1, ...COMMON.inferenceBase },
      output: {
        name: 'logits',
        kind: 'probabilities',
        activation: 'sigmoid',
        channels: [LESION_CHANNEL({ codeValue: '10200004', codeMeaning: 'Liver' })],
      },
      postprocessing: {
        threshold: 0.5,
        connectivity: 26,
        minVolumeMm3: 200,
        minVoxels: 4,
        confidence: 'max',
      },
      alert: {
        description: 'Any focal liver lesion with an axial longest diameter ≥ 10 mm and confidence ≥ 0.5.',
        minLongestDiameterMm: 10,
        diameter: 'axial',
        minConfidence: 0.5,
        minCount: 1,
      },
    },
  },
  'liver-lesion-mr': {
    key: 'liver-lesion-mr',
    version: '1.0.0',
    trainingStudies: 48,
    trainCrop: [8, 64, 64],
    draw: mrDraw,
    manifest: {
      schemaVersion: COMMON.schemaVersion,
      id: 'liver-lesion-mr',
      version: '1.0.0',
      name: 'RadLink liver lesion MR',
      description:
        'Small 3-D U-Net (3 levels, 8-16-32 channels) segmenting focal liver lesions on axial T2 TSE MR of the ' +
        'abdomen resampled to 6 × 3 × 3 mm, intensities normalised by body percentiles.',
      creator: COMMON.creator,
      licence: COMMON.licence,
      intendedUse:
        'Demonstration and testing of the RadLink AI pipeline: flags abdominal T2 MR studies that show focal liver ' +
        'lesions of 10 mm or more. Trained on synthetic phantoms only; not validated on patient data.',
      clinicalUse: COMMON.clinicalUse,
      label: COMMON.label,
      provenance: {
        trainingData: `${TRAINING_NOTE} 48 MR abdomen studies (T2 TSE, 26–36 slices, 128–256 matrix, noise 6–14, coil shading 0.05–0.2, 3–5 lesions of 8–35 mm each).`,
        buildCommand:
          'models/build/build-all.sh (export-dataset.ts liver-lesion-mr; train_unet.py --crop 8 64 64 --iters 550 ' +
          '--seed 20250403 --pad-value 0 --gain 0.3 --offset 0.1 --noise 0.06 --threads 1)',
        framework: 'PyTorch (Debian python3-torch) → ONNX opset 13',
      },
      seriesSelection: [
        {
          modality: 'MR',
          bodyPartExamined: ['ABDOMEN', 'LIVER'],
          seriesDescription: 't2',
          excludeSeriesDescription: '(fs|fat ?sat|spair|stir|dwi|adc)',
          minSlices: 12,
        },
      ],
      input: {
        name: 'image',
        layout: 'NCDHW',
        dtype: 'float32',
        channels: 1,
        targetSpacingMm: [6, 3, 3],
        preprocessing: [
          { op: 'percentile', lower: 1, upper: 99, to: [0, 1], clip: false, over: 'above', threshold: 60 },
          { op: 'clip', min: -0.5, max: 2 },
        ],
      },
      inference: { patchSize: [32, 128, 128], padValue: 0, ...COMMON.inferenceBase },
      output: {
        name: 'logits',
        kind: 'probabilities',
        activation: 'sigmoid',
        channels: [LESION_CHANNEL({ codeValue: '10200004', codeMeaning: 'Liver' })],
      },
      postprocessing: {
        threshold: 0.5,
        connectivity: 26,
        minVolumeMm3: 200,
        minVoxels: 2,
        confidence: 'max',
      },
      alert: {
        description: 'Any focal liver lesion with an axial longest diameter ≥ 10 mm and confidence ≥ 0.5.',
        minLongestDiameterMm: 10,
        diameter: 'axial',
        minConfidence: 0.5,
        minCount: 1,
      },
    },
  },
};
