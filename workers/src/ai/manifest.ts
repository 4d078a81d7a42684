/**
 * Model loading and validation, run when workers start and when a model is uploaded:
 *  1. the manifest against the TypeBox schema (contracts/model-manifest.ts) — every problem with
 *     its JSON path and reason;
 *  2. semantic checks the schema cannot express (folder = id/version, channel indices, regular
 *     expressions compile, clinical label);
 *  3. the ONNX file: SHA-256 equals the manifest's, the graph has the declared input and output
 *     names, the input is a rank-5 float32 NCDHW tensor with one channel whose fixed spatial
 *     sizes (if any) equal the patch size and whose fixed batch (if any) equals the batch size,
 *     the declared signature equals the graph's, and a dry run on a zero tensor of the patch
 *     shape returns [batch, channels, ...patch].
 * onnxruntime-node ≥ 1.22 exposes `inputMetadata`/`outputMetadata` (type and shape with symbolic
 * dimensions as strings), so no protobuf parsing is needed here.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { Value } from '@sinclair/typebox/value';
import type { InferenceSession } from 'onnxruntime-node';
import { Tensor } from 'onnxruntime-node';
import {
  type ModelManifest,
  ModelManifestSchema,
  NOT_FOR_CLINICAL_USE_LABEL,
} from '../../../contracts/model-manifest.js';
import type { SessionCache } from './session-cache.js';

export interface ManifestProblem {
  /** JSON pointer into the manifest ('' for the file itself), or `onnx:<what>`. */
  path: string;
  reason: string;
}

export class ModelValidationError extends Error {
  constructor(
    readonly model: string,
    readonly problems: ManifestProblem[],
  ) {
    super(
      `Invalid model ${model}:\n  - ${problems.map((p) => `${p.path || '/'}: ${p.reason}`).join('\n  - ')}`,
    );
    this.name = 'ModelValidationError';
  }
}

export interface LoadedModel {
  manifest: ModelManifest;
  dir: string;
  onnxPath: string;
  session: InferenceSession;
}

/** Schema and semantic checks of a parsed manifest.json. */
export function checkManifest(json: unknown, folder?: { id: string; version: string }): ManifestProblem[] {
  const problems: ManifestProblem[] = [];
  for (const e of Value.Errors(ModelManifestSchema, json)) problems.push({ path: e.path, reason: e.message });
  if (problems.length > 0) return dedupe(problems);
  const m = json as ModelManifest;
  if (folder && (folder.id !== m.id || folder.version !== m.version))
    problems.push({
      path: '/id',
      reason: `manifest says ${m.id}/${m.version} but lives in ${folder.id}/${folder.version}`,
    });
  if (m.clinicalUse === 'not-for-clinical-use' && m.label !== NOT_FOR_CLINICAL_USE_LABEL)
    problems.push({
      path: '/label',
      reason: `must be "${NOT_FOR_CLINICAL_USE_LABEL}" until the model is cleared`,
    });
  m.output.channels.forEach((c, n) => {
    if (c.index !== n)
      problems.push({
        path: `/output/channels/${n}/index`,
        reason: `expected ${n} (channels listed in order)`,
      });
  });
  m.seriesSelection.forEach((r, n) => {
    for (const key of ['seriesDescription', 'excludeSeriesDescription'] as const) {
      const re = r[key];
      if (re === undefined) continue;
      try {
        new RegExp(re, 'i');
      } catch (err) {
        problems.push({
          path: `/seriesSelection/${n}/${key}`,
          reason: `not a regular expression: ${(err as Error).message}`,
        });
      }
    }
    if (r.sliceThicknessMm && r.sliceThicknessMm.min > r.sliceThicknessMm.max)
      problems.push({ path: `/seriesSelection/${n}/sliceThicknessMm`, reason: 'min is greater than max' });
  });
  m.input.preprocessing.forEach((s, n) => {
    if (s.op === 'clip' && s.min >= s.max)
      problems.push({ path: `/input/preprocessing/${n}`, reason: 'min must be below max' });
    if (s.op === 'percentile' && s.lower >= s.upper)
      problems.push({ path: `/input/preprocessing/${n}`, reason: 'lower must be below upper' });
  });
  if (m.output.kind !== 'probabilities')
    problems.push({
      path: '/output/kind',
      reason: `${m.output.kind} outputs are not supported by this engine yet`,
    });
  if (m.output.activation === 'softmax' && m.output.channels.length < 2)
    problems.push({
      path: '/output/activation',
      reason: 'softmax needs at least two channels (background included)',
    });
  return problems;
}

function dedupe(p: ManifestProblem[]): ManifestProblem[] {
  const seen = new Set<string>();
  return p.filter((x) => {
    const k = `${x.path} ${x.reason}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

export function sha256File(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

const sameShape = (a: ReadonlyArray<number | string>, b: ReadonlyArray<number | string>) =>
  a.length === b.length && a.every((v, n) => v === b[n]);

/** Checks of the graph's I/O against the manifest (pure: testable with fabricated metadata). */
export function checkSignature(
  m: ModelManifest,
  inputs: readonly InferenceSession.ValueMetadata[],
  outputs: readonly InferenceSession.ValueMetadata[],
): ManifestProblem[] {
  const problems: ManifestProblem[] = [];
  const input = inputs.find((i) => i.name === m.input.name);
  if (!input) {
    problems.push({
      path: '/input/name',
      reason: `the ONNX graph has no input "${m.input.name}" (it has ${inputs.map((i) => `"${i.name}"`).join(', ')})`,
    });
  } else if (!input.isTensor) {
    problems.push({ path: '/input/name', reason: `input "${input.name}" is not a tensor` });
  } else {
    if (input.type !== m.input.dtype)
      problems.push({
        path: '/input/dtype',
        reason: `the graph's input is ${input.type}, the manifest says ${m.input.dtype}`,
      });
    const s = input.shape;
    if (s.length !== 5) {
      problems.push({
        path: '/input/layout',
        reason: `NCDHW needs a rank-5 input, the graph's is rank ${s.length} [${s.join(', ')}]`,
      });
    } else {
      const [n, c, ...spatial] = s;
      if (typeof c === 'number' && c !== m.input.channels)
        problems.push({
          path: '/input/channels',
          reason: `the graph's input has ${c} channels, the manifest says ${m.input.channels}`,
        });
      if (typeof n === 'number' && n !== m.inference.batchSize)
        problems.push({
          path: '/inference/batchSize',
          reason: `the graph's batch size is fixed at ${n}, the manifest says ${m.inference.batchSize}`,
        });
      spatial.forEach((d, a) => {
        if (typeof d === 'number' && d !== m.inference.patchSize[a])
          problems.push({
            path: `/inference/patchSize/${a}`,
            reason: `the graph's input is fixed at ${d} along axis ${'DHW'[a]}, the patch size is ${m.inference.patchSize[a]}`,
          });
      });
    }
  }
  const output = outputs.find((o) => o.name === m.output.name);
  if (!output) {
    problems.push({
      path: '/output/name',
      reason: `the ONNX graph has no output "${m.output.name}" (it has ${outputs.map((o) => `"${o.name}"`).join(', ')})`,
    });
  } else if (output.isTensor) {
    if (output.type !== 'float32')
      problems.push({
        path: '/output/name',
        reason: `output "${output.name}" is ${output.type}, expected float32`,
      });
    const c = output.shape[1];
    if (output.shape.length === 5 && typeof c === 'number' && c !== m.output.channels.length)
      problems.push({
        path: '/output/channels',
        reason: `the graph outputs ${c} channels, the manifest lists ${m.output.channels.length}`,
      });
  }
  // The declared signature must be the graph's (a manifest copied from another model fails here).
  const describe = (v: InferenceSession.ValueMetadata) =>
    v.isTensor
      ? { name: v.name, dtype: v.type as string, shape: [...v.shape] }
      : { name: v.name, dtype: 'non-tensor', shape: [] };
  const pairs: Array<['inputs' | 'outputs', readonly InferenceSession.ValueMetadata[]]> = [
    ['inputs', inputs],
    ['outputs', outputs],
  ];
  for (const [key, actual] of pairs) {
    const declared = m.signature[key];
    const got = actual.map(describe);
    if (
      declared.length !== got.length ||
      declared.some(
        (d, n) => d.name !== got[n]!.name || d.dtype !== got[n]!.dtype || !sameShape(d.shape, got[n]!.shape),
      )
    )
      problems.push({
        path: `/signature/${key}`,
        reason: `declared ${JSON.stringify(declared)} but the graph has ${JSON.stringify(got)}`,
      });
  }
  return problems;
}

/** A zero tensor of the patch shape through the network: the output must be [batch, channels, ...patch]. */
export async function dryRun(m: ModelManifest, session: InferenceSession): Promise<ManifestProblem[]> {
  const [d, h, w] = m.inference.patchSize;
  const b = m.inference.batchSize;
  const x = new Tensor('float32', new Float32Array(b * d * h * w), [b, 1, d, h, w]);
  try {
    const out = (await session.run({ [m.input.name]: x }, [m.output.name]))[m.output.name];
    if (!out) return [{ path: 'onnx:dry-run', reason: `no output ${m.output.name}` }];
    const want = [b, m.output.channels.length, d, h, w];
    const ok = sameShape(out.dims, want);
    out.dispose();
    return ok
      ? []
      : [
          {
            path: 'onnx:dry-run',
            reason: `a [${[b, 1, d, h, w].join(', ')}] input gave [${out.dims.join(', ')}], expected [${want.join(', ')}]`,
          },
        ];
  } catch (err) {
    return [
      {
        path: 'onnx:dry-run',
        reason: `running a zero patch failed: ${(err as Error).message.split('\n')[0]}`,
      },
    ];
  } finally {
    x.dispose();
  }
}

/** Load and fully validate `models/<id>/<version>/`; throws ModelValidationError listing every problem. */
export async function loadModel(dir: string, sessions: SessionCache): Promise<LoadedModel> {
  const abs = resolve(dir);
  const name = `${basename(dirname(abs))}/${basename(abs)}`;
  const manifestPath = join(abs, 'manifest.json');
  const onnxPath = join(abs, 'model.onnx');
  if (!existsSync(manifestPath))
    throw new ModelValidationError(name, [{ path: '', reason: 'manifest.json is missing' }]);
  if (!existsSync(onnxPath))
    throw new ModelValidationError(name, [{ path: '', reason: 'model.onnx is missing' }]);
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(manifestPath, 'utf8'));
  } catch (err) {
    throw new ModelValidationError(name, [
      { path: '', reason: `manifest.json is not JSON: ${(err as Error).message}` },
    ]);
  }
  const problems = checkManifest(json, { id: basename(dirname(abs)), version: basename(abs) });
  if (problems.length) throw new ModelValidationError(name, problems);
  const manifest = json as ModelManifest;
  const sha = sha256File(onnxPath);
  if (sha !== manifest.sha256)
    throw new ModelValidationError(name, [
      { path: '/sha256', reason: `model.onnx has SHA-256 ${sha}, the manifest says ${manifest.sha256}` },
    ]);
  let session: InferenceSession;
  try {
    session = await sessions.get(onnxPath, sha);
  } catch (err) {
    throw new ModelValidationError(name, [
      {
        path: 'onnx:load',
        reason: `onnxruntime cannot load model.onnx: ${(err as Error).message.split('\n')[0]}`,
      },
    ]);
  }
  const sig = checkSignature(manifest, session.inputMetadata, session.outputMetadata);
  if (sig.length) throw new ModelValidationError(name, sig);
  const dry = await dryRun(manifest, session);
  if (dry.length) throw new ModelValidationError(name, dry);
  return { manifest, dir: abs, onnxPath, session };
}

/** Every `<root>/<id>/<version>/` with a manifest: the valid models and the errors of the others. */
export async function loadModelsDir(
  root: string,
  sessions: SessionCache,
): Promise<{ models: LoadedModel[]; errors: ModelValidationError[] }> {
  const models: LoadedModel[] = [];
  const errors: ModelValidationError[] = [];
  if (!existsSync(root)) return { models, errors };
  for (const id of readdirSync(root, { withFileTypes: true })) {
    if (!id.isDirectory() || id.name === 'build') continue;
    for (const v of readdirSync(join(root, id.name), { withFileTypes: true })) {
      if (!v.isDirectory() || !existsSync(join(root, id.name, v.name, 'manifest.json'))) continue;
      try {
        models.push(await loadModel(join(root, id.name, v.name), sessions));
      } catch (err) {
        if (err instanceof ModelValidationError) errors.push(err);
        else throw err;
      }
    }
  }
  return { models, errors };
}
