/**
 * The AI workers of one process: a BullMQ Worker per flow stage (the inference stage sandboxed
 * in a child process, one at a time, so one onnxruntime session per model per process), the
 * model-validation worker, and the announcement of the bundled models.
 *
 * A stage that fails for good (UnrecoverableError, or its last attempt) fails the rest of the
 * flow (the gateway sets failParentOnFailure) and is reported once as `ai-failed` with the
 * stage and reason; the run's work objects are removed. A stage that will be retried is not.
 */
import { join } from 'node:path';
import { type Job, type Processor, type Queue, UnrecoverableError, Worker, type WorkerOptions } from 'bullmq';
import type { Redis } from 'ioredis';
import type pino from 'pino';
import {
  type InferJobData,
  jobId,
  type ModelValidateJob,
  QUEUES,
  type ResultMessage,
} from '../../../contracts/jobs.js';
import type { WorkersConfig } from '../config.js';
import type { OrthancAccess } from './load-series.js';
import { publishBundledModels } from './model-publish.js';
import { ModelSource, ModelUnavailable } from './model-source.js';
import { modelValidateProcessor } from './model-validate.js';
import { s3Client } from './s3.js';
import type { RunState, StageName } from './stage-common.js';
import { dicomStage } from './stage-dicom.js';
import { fetchStage } from './stage-fetch.js';
import { postprocessStage } from './stage-postprocess.js';
import { reportStage } from './stage-report.js';
import { storeStage } from './stage-store.js';
import { volumeStage } from './stage-volume.js';
import { WorkStore } from './work-store.js';

export interface AiWorkersOptions {
  cfg: WorkersConfig;
  connection: Redis;
  results: Queue<ResultMessage>;
  log: pino.Logger;
}

const SANDBOX = join(import.meta.dirname, 'infer-sandbox.ts');

/** Missing or invalid model objects cannot heal by retrying. */
function permanentModelErrors<T>(fn: () => Promise<T>): Promise<T> {
  return fn().catch((err) => {
    if (err instanceof ModelUnavailable && !err.transient) throw new UnrecoverableError(err.message);
    throw err;
  });
}

export function startAiWorkers(o: AiWorkersOptions): { workers: Worker[]; ready: Promise<unknown> } {
  const { cfg, connection, results, log } = o;
  const s3 = s3Client(cfg);
  const work = new WorkStore(s3, cfg.S3_BUCKET);
  const models = new ModelSource({
    modelsDir: cfg.RADLINK_MODELS_DIR,
    cacheDir: join(cfg.RADLINK_DATA, 'tmp', 'ai-models'),
    s3,
    bucket: cfg.S3_BUCKET,
  });
  const orthanc: OrthancAccess = {
    url: cfg.ORTHANC_URL,
    username: cfg.ORTHANC_USERNAME,
    password: cfg.ORTHANC_PASSWORD,
  };
  const base: WorkerOptions = {
    connection,
    prefix: cfg.RADLINK_QUEUE_PREFIX,
    concurrency: cfg.RADLINK_WORKER_CONCURRENCY,
  };

  const onFailed = (stage: StageName) => async (job: Job<InferJobData> | undefined, err: Error) => {
    if (!job) return;
    try {
      if ((await job.getState()) !== 'failed') return; // will be retried
      const d = job.data;
      log.warn({ runId: d.runId, stage, reason: err.message }, 'AI run failed');
      const msg: ResultMessage = {
        kind: 'ai-failed',
        runId: d.runId,
        attempt: d.attempt,
        stage,
        reason: err.message.slice(0, 500),
        failedAt: new Date().toISOString(),
      };
      await results.add(msg.kind, msg, { jobId: jobId('ai-failed', d.runId, String(d.attempt)) });
      await work.removeRun(d.runId, d.attempt);
    } catch (e) {
      log.error({ err: (e as Error).message }, 'could not report an AI failure');
    }
  };

  const stage = (
    stageName: StageName,
    queue: string,
    processor: Processor<InferJobData, RunState> | string,
    opts: Partial<WorkerOptions> = {},
  ) => {
    const w = new Worker<InferJobData, RunState>(queue, processor, { ...base, ...opts });
    w.on('failed', onFailed(stageName));
    w.on('error', (err) => log.warn({ err: err.message, queue }, 'AI worker error'));
    return w;
  };

  const workers: Worker[] = [
    stage('fetch', QUEUES.aiFetch, (job, token) =>
      permanentModelErrors(() =>
        fetchStage(job, token, {
          orthanc,
          models,
          // Once the series is stable: the run is running from then on.
          started: async () => {
            const d = job.data;
            await results.add(
              'ai-started',
              { kind: 'ai-started', runId: d.runId, attempt: d.attempt, startedAt: new Date().toISOString() },
              { jobId: jobId('ai-started', d.runId, String(d.attempt)) },
            );
          },
        }),
      ),
    ),
    stage('volume', QUEUES.aiVolume, (job) => volumeStage(job, { orthanc, work })),
    stage('infer', QUEUES.aiInfer, SANDBOX, {
      concurrency: 1,
      workerForkOptions: {
        execArgv: ['--import', 'tsx'],
        env: {
          ...process.env,
          RADLINK_DATA: cfg.RADLINK_DATA,
          RADLINK_MODELS_DIR: cfg.RADLINK_MODELS_DIR,
          S3_ENDPOINT: cfg.S3_ENDPOINT,
          S3_REGION: cfg.S3_REGION,
          S3_ACCESS_KEY: cfg.S3_ACCESS_KEY,
          S3_SECRET_KEY: cfg.S3_SECRET_KEY,
          S3_BUCKET: cfg.S3_BUCKET,
        },
      },
    }),
    stage('postprocess', QUEUES.aiPostprocess, (job) =>
      permanentModelErrors(() => postprocessStage(job, { work, models })),
    ),
    stage('dicom', QUEUES.aiDicom, (job) =>
      permanentModelErrors(() => dicomStage(job, { orthanc, work, models })),
    ),
    stage('store', QUEUES.aiStore, (job) => storeStage(job, { orthanc, work })),
    stage('report', QUEUES.aiReport, (job) => reportStage(job, { work, results })),
  ];
  const validator = new Worker<ModelValidateJob>(
    QUEUES.aiModels,
    modelValidateProcessor({ s3, bucket: cfg.S3_BUCKET, scratchDir: join(cfg.RADLINK_DATA, 'tmp') }),
    { ...base, concurrency: 1 },
  );
  validator.on('error', (err) => log.warn({ err: err.message }, 'AI model validator error'));
  workers.push(validator);
  const ready = publishBundledModels({
    modelsDir: cfg.RADLINK_MODELS_DIR,
    s3,
    bucket: cfg.S3_BUCKET,
    results,
    log,
  }).catch((err) => log.error({ err: (err as Error).message }, 'could not announce the bundled AI models'));
  return { workers, ready };
}
