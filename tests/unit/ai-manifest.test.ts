/**
 * Model contract: the committed JSON Schema equals the TypeBox one; bad manifests are refused
 * with a path and a reason; a manifest is checked against its ONNX file (input name, dtype,
 * rank, channels, fixed sizes vs patch, output channels, signature, SHA-256, dry run) using real
 * .onnx files written by models/build/onnx-proto.ts and loaded by onnxruntime-node.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { type ModelManifest, manifestJsonSchema } from '../../contracts/model-manifest.js';
import { MODEL_CONFIGS } from '../../models/build/model-configs.js';
import { type Dim, identityModel } from '../../models/build/onnx-proto.js';
import {
  checkManifest,
  loadModel,
  loadModelsDir,
  ModelValidationError,
  sha256File,
} from '../../workers/src/ai/manifest.js';
import { selectSeries } from '../../workers/src/ai/select-series.js';
import { SessionCache } from '../../workers/src/ai/session-cache.js';

const REPO = join(import.meta.dirname, '..', '..');
const tmp = mkdtempSync(join(tmpdir(), 'radlink-ai-manifest-'));
const sessions = new SessionCache();
afterAll(async () => {
  await sessions.close();
  rmSync(tmp, { recursive: true, force: true });
});

const DYNAMIC: Dim[] = ['batch', 1, 'depth', 'height', 'width'];

function baseManifest(): ModelManifest {
  // A deep copy: tests edit it.
  const { provenance, ...rest } = structuredClone(MODEL_CONFIGS['liver-lesion-ct'].manifest);
  return {
    ...rest,
    id: 'test-model',
    version: '0.1.0',
    provenance: { ...provenance, trainingSeeds: [1] },
    inference: { ...rest.inference, patchSize: [8, 16, 16] },
    signature: {
      inputs: [{ name: 'image', dtype: 'float32', shape: DYNAMIC }],
      outputs: [{ name: 'logits', dtype: 'float32', shape: DYNAMIC }],
    },
    evaluation: [],
    sha256: '0'.repeat(64),
  };
}

let n = 0;
/** A model folder with `onnx` bytes and the manifest (sha256 filled in unless overridden). */
function modelDir(onnx: Uint8Array, edit: (m: ModelManifest) => void = () => {}, sha?: string): string {
  const dir = join(tmp, `m${n++}`, 'test-model', '0.1.0');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'model.onnx'), onnx);
  const m = baseManifest();
  m.sha256 = sha ?? sha256File(join(dir, 'model.onnx'));
  edit(m);
  writeFileSync(join(dir, 'manifest.json'), JSON.stringify(m));
  return dir;
}

async function problemsOf(dir: string): Promise<string[]> {
  try {
    await loadModel(dir, sessions);
    return [];
  } catch (err) {
    expect(err).toBeInstanceOf(ModelValidationError);
    return (err as ModelValidationError).problems.map((p) => `${p.path}: ${p.reason}`);
  }
}

describe('manifest schema', () => {
  it('models/manifest.schema.json is generated from contracts/model-manifest.ts', () => {
    const committed = JSON.parse(readFileSync(join(REPO, 'models/manifest.schema.json'), 'utf8'));
    expect(committed).toEqual(manifestJsonSchema());
  });

  it('accepts a complete manifest', () => {
    expect(checkManifest(baseManifest())).toEqual([]);
  });

  it.each<[string, (m: Record<string, unknown> & ModelManifest) => void, RegExp]>([
    ['missing id', (m) => delete (m as Partial<ModelManifest>).id, /^\/id: /],
    ['bad semver', (m) => (m.version = '1.0'), /^\/version: Expected string to match/],
    ['unknown clinicalUse', (m) => ((m as Record<string, unknown>).clinicalUse = 'maybe'), /^\/clinicalUse/],
    ['overlap ≥ 1', (m) => (m.inference.overlap = 1), /^\/inference\/overlap/],
    [
      'patch of 2 axes',
      (m) => ((m.inference as Record<string, unknown>).patchSize = [8, 8]),
      /^\/inference\/patchSize/,
    ],
    [
      'unknown preprocessing op',
      (m) => (m.input.preprocessing as unknown[]).push({ op: 'gamma', value: 2 }),
      /^\/input\/preprocessing\/2/,
    ],
    ['bad colour', (m) => (m.output.channels[0]!.colour = [300, 0, 0]), /^\/output\/channels\/0\/colour\/0/],
    ['sha256 not hex', (m) => (m.sha256 = 'abc'), /^\/sha256/],
    ['extra property', (m) => ((m as Record<string, unknown>).surprise = true), /^\/surprise: /],
    [
      'wrong label while not cleared',
      (m) => (m.label = 'AI'),
      /^\/label: must be "AI generated — not for clinical use"/,
    ],
    [
      'bad regex',
      (m) => (m.seriesSelection[0]!.excludeSeriesDescription = '(unclosed'),
      /^\/seriesSelection\/0\/excludeSeriesDescription: not a regular expression/,
    ],
    ['channel order', (m) => (m.output.channels[0]!.index = 3), /^\/output\/channels\/0\/index: expected 0/],
    [
      'clip min ≥ max',
      (m) => (m.input.preprocessing[0] = { op: 'clip', min: 5, max: 5 }),
      /^\/input\/preprocessing\/0: min must be below max/,
    ],
  ])('refuses %s with the path and the reason', (_name, edit, expected) => {
    const m = baseManifest() as Record<string, unknown> & ModelManifest;
    edit(m);
    const problems = checkManifest(m).map((p) => `${p.path}: ${p.reason}`);
    expect(problems.length).toBeGreaterThan(0);
    expect(
      problems.some((p) => expected.test(p)),
      problems.join('\n'),
    ).toBe(true);
  });

  it('the default models’ static manifests are valid', () => {
    for (const cfg of Object.values(MODEL_CONFIGS)) {
      const { provenance, ...rest } = cfg.manifest;
      const m = {
        ...rest,
        provenance: { ...provenance, trainingSeeds: [] },
        signature: { inputs: [], outputs: [] },
        evaluation: [],
        sha256: 'a'.repeat(64),
      };
      expect(checkManifest(m)).toEqual([]);
    }
  });
});

describe('manifest against the ONNX file', () => {
  it('loads a consistent model (and runs a dry patch)', async () => {
    const loaded = await loadModel(modelDir(identityModel()), sessions);
    expect(loaded.session.inputNames).toEqual(['image']);
  });

  it('missing input name', async () => {
    const p = await problemsOf(
      modelDir(identityModel({ input: 'input_0' }), (m) => (m.signature.inputs[0]!.name = 'input_0')),
    );
    expect(p.join('\n')).toMatch(/^\/input\/name: the ONNX graph has no input "image" \(it has "input_0"\)/m);
  });

  it('missing output name', async () => {
    const p = await problemsOf(
      modelDir(identityModel({ output: 'prob' }), (m) => (m.signature.outputs[0]!.name = 'prob')),
    );
    expect(p.join('\n')).toMatch(/^\/output\/name: the ONNX graph has no output "logits"/m);
  });

  it('dtype mismatch', async () => {
    const p = await problemsOf(
      modelDir(identityModel({ elemType: 2 }), (m) => {
        m.signature.inputs[0]!.dtype = 'uint8';
        m.signature.outputs[0]!.dtype = 'uint8';
      }),
    );
    expect(p.join('\n')).toMatch(/^\/input\/dtype: the graph's input is uint8, the manifest says float32/m);
  });

  it('fixed spatial size differs from the patch size', async () => {
    const shape: Dim[] = [1, 1, 8, 8, 8];
    const p = await problemsOf(
      modelDir(identityModel({ shape }), (m) => {
        m.signature.inputs[0]!.shape = shape;
        m.signature.outputs[0]!.shape = shape;
      }),
    );
    expect(p).toContain(
      "/inference/patchSize/1: the graph's input is fixed at 8 along axis H, the patch size is 16",
    );
    expect(p).toContain(
      "/inference/patchSize/2: the graph's input is fixed at 8 along axis W, the patch size is 16",
    );
  });

  it('rank and channel mismatches', async () => {
    const rank4: Dim[] = ['batch', 1, 'height', 'width'];
    const p4 = await problemsOf(
      modelDir(identityModel({ shape: rank4 }), (m) => {
        m.signature.inputs[0]!.shape = rank4;
        m.signature.outputs[0]!.shape = rank4;
      }),
    );
    expect(p4.join('\n')).toMatch(/^\/input\/layout: NCDHW needs a rank-5 input, the graph's is rank 4/m);
    const c2: Dim[] = ['batch', 2, 'depth', 'height', 'width'];
    const pc = await problemsOf(
      modelDir(identityModel({ shape: c2 }), (m) => {
        m.signature.inputs[0]!.shape = c2;
        m.signature.outputs[0]!.shape = c2;
      }),
    );
    expect(pc).toContain("/input/channels: the graph's input has 2 channels, the manifest says 1");
    expect(pc).toContain('/output/channels: the graph outputs 2 channels, the manifest lists 1');
  });

  it('declared signature differs from the graph', async () => {
    const p = await problemsOf(
      modelDir(identityModel(), (m) => (m.signature.inputs[0]!.shape = ['batch', 1, 8, 16, 16])),
    );
    expect(p.join('\n')).toMatch(/^\/signature\/inputs: declared/m);
  });

  it('SHA-256 mismatch', async () => {
    const p = await problemsOf(modelDir(identityModel(), () => {}, 'f'.repeat(64)));
    expect(p.join('\n')).toMatch(/^\/sha256: model.onnx has SHA-256 [0-9a-f]{64}, the manifest says f{64}/m);
  });

  it('folder must match id/version; the models directory reports each bad model', async () => {
    const dir = modelDir(identityModel(), (m) => (m.version = '0.2.0'));
    expect((await problemsOf(dir)).join('\n')).toMatch(
      /^\/id: manifest says test-model\/0.2.0 but lives in test-model\/0.1.0/m,
    );
    const { models, errors } = await loadModelsDir(join(dir, '..', '..'), sessions);
    expect(models).toHaveLength(0);
    expect(errors).toHaveLength(1);
  });

  it('the committed default models validate and their hashes match', async () => {
    for (const cfg of Object.values(MODEL_CONFIGS)) {
      const dir = join(REPO, 'models', cfg.key, cfg.version);
      const loaded = await loadModel(dir, sessions);
      expect(sha256File(join(dir, 'model.onnx'))).toBe(loaded.manifest.sha256);
    }
  });
});

describe('series selection rules', () => {
  const rules = MODEL_CONFIGS['liver-lesion-mr'].manifest.seriesSelection;
  const t2 = {
    modality: 'MR',
    bodyPartExamined: 'ABDOMEN',
    seriesDescription: 'T2 TSE AX 6mm',
    sliceThickness: 6,
    imageCount: 30,
  };
  it.each([
    ['plain T2', t2, true, ''],
    ['fat-saturated T2', { ...t2, seriesDescription: 'T2 TSE FS AX' }, false, 'excluded'],
    ['CT', { ...t2, modality: 'CT' }, false, 'modality CT is not MR'],
    ['pelvis', { ...t2, bodyPartExamined: 'PELVIS' }, false, 'body part PELVIS'],
    ['too few images', { ...t2, imageCount: 5 }, false, '5 images, fewer than 12'],
    ['no body part (passes)', { ...t2, bodyPartExamined: undefined }, true, ''],
  ])('%s', (_n, facts, selected, reason) => {
    const r = selectSeries(facts, rules);
    expect(r.selected).toBe(selected);
    if (!selected) expect(r.reasons.join(' ')).toContain(reason);
  });
});
