/**
 * Stage 3, preprocess + infer: a BullMQ sandboxed processor (default export), run in a child
 * process so onnxruntime's `run` — seconds of CPU — never blocks the event loop of the process
 * that renews job locks. Reads the volume from the work store, resamples and normalises it as
 * the manifest says, runs the MONAI-style sliding window and leaves the activated output (on
 * the model's grid, small) in the work store for post-processing.
 *
 * Per-process state (this module lives as long as the sandbox process): one SessionCache — one
 * onnxruntime session per model, single-threaded (session-cache.ts) — and the validated models.
 * Failures retrying cannot fix (invalid or missing model) throw UnrecoverableError.
 *
 * The worker registering this file lets the child load TypeScript:
 *   new Worker(queue, pathToThisFile, { workerForkOptions: { execArgv: ['--import', 'tsx'] } })
 */
import { join } from 'node:path';
import { Type } from '@sinclair/typebox';
import { type SandboxedJob, UnrecoverableError } from 'bullmq';
import { loadConfig } from '../../../contracts/config.js';
import type { InferJobData } from '../../../contracts/jobs.js';
import { WorkersConfigSchema } from '../config.js';
import { type LoadedModel, loadModel, ModelValidationError } from './manifest.js';
import { ModelSource, ModelUnavailable } from './model-source.js';
import { onnxPredictor } from './onnx-predictor.js';
import { inferOnVolume } from './run-model.js';
import { s3Client } from './s3.js';
import { SessionCache } from './session-cache.js';
import { advance, previousState, type RunState, WORK } from './stage-common.js';
import type { VolumeMeta } from './stage-volume.js';
import { decodeFloats, encodeFloats } from './volume-codec.js';
import { WorkStore } from './work-store.js';

const InferConfigSchema = Type.Pick(WorkersConfigSchema, [
  'RADLINK_DATA',
  'RADLINK_MODELS_DIR',
  'S3_ENDPOINT',
  'S3_REGION',
  'S3_ACCESS_KEY',
  'S3_SECRET_KEY',
  'S3_BUCKET',
]);

let state: { work: WorkStore; models: ModelSource } | undefined;
const sessions = new SessionCache();
const loaded = new Map<string, Promise<LoadedModel>>();

// A sandbox whose worker process died (SIGKILL, OOM killer) has lost its IPC channel: nothing it
// computes can be reported, and BullMQ's child wrapper exits only on SIGTERM/SIGINT. Worse, its
// uncaughtException handler reports the error to the parent, that send fails with EPIPE, which
// is uncaught again: the orphan spins on it for ever (seen in tests/fuzz/faults.test.ts) and
// never gets to the 'disconnect' event. The job's lock lapses with its worker and the restarted
// workers retry it as a stalled job, so leaving at once loses nothing; this listener runs before
// BullMQ's (registered earlier, so prepended).
const channelGone = (err: unknown) =>
  (process.send !== undefined && !process.connected) ||
  ['EPIPE', 'ERR_IPC_CHANNEL_CLOSED'].includes((err as NodeJS.ErrnoException | undefined)?.code ?? '');
process.prependListener('uncaughtException', (err) => {
  if (channelGone(err)) process.exit(1);
});
process.once('disconnect', () => process.exit(1));

function setup() {
  if (!state) {
    const cfg = loadConfig('ai-infer', InferConfigSchema);
    const s3 = s3Client(cfg);
    state = {
      work: new WorkStore(s3, cfg.S3_BUCKET),
      models: new ModelSource({
        modelsDir: cfg.RADLINK_MODELS_DIR,
        cacheDir: join(cfg.RADLINK_DATA, 'tmp', 'ai-models'),
        s3,
        bucket: cfg.S3_BUCKET,
      }),
    };
  }
  return state;
}

async function model(d: InferJobData): Promise<LoadedModel> {
  const key = `${d.modelId}/${d.modelVersion}/${d.modelSha256}`;
  let m = loaded.get(key);
  if (!m) {
    m = setup()
      .models.dir(d.modelId, d.modelVersion, d.modelSha256)
      .then((dir) => loadModel(dir, sessions));
    m.catch(() => loaded.delete(key));
    loaded.set(key, m);
  }
  try {
    return await m;
  } catch (err) {
    if (err instanceof ModelValidationError || (err instanceof ModelUnavailable && !err.transient))
      throw new UnrecoverableError(err.message);
    throw err;
  }
}

export default async function infer(job: SandboxedJob<InferJobData, RunState>): Promise<RunState> {
  const started = Date.now();
  const prev = await previousState(job);
  if (!prev.selected) return advance(job, 'infer', prev, started);
  const d = job.data;
  const { work } = setup();
  const m = await model(d);
  await job.updateProgress({ stage: 'infer', percent: 30 });
  const meta = await work.getJson<VolumeMeta>(work.key(d.runId, d.attempt, WORK.volumeMeta));
  const data = decodeFloats(await work.getBytes(work.key(d.runId, d.attempt, WORK.volume)));
  const manifest = m.manifest;
  const o = await inferOnVolume(
    manifest,
    onnxPredictor(m.session, manifest.input.name, manifest.output.name),
    { ...meta.geometry, data },
  );
  const { data: _input, ...prepared } = o.prepared;
  await work.putBytes(work.key(d.runId, d.attempt, WORK.output), encodeFloats(o.output));
  await work.putJson(work.key(d.runId, d.attempt, WORK.outputMeta), { channels: o.channels, prepared });
  await job.updateProgress({ stage: 'infer', percent: 70 });
  return advance(job, 'infer', prev, started, { inferenceMs: o.networkMs });
}
