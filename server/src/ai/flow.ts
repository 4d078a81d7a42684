/**
 * The gateway's side of the AI flow: it composes a run as one BullMQ flow (FlowProducer), a
 * chain of one job per stage — fetch → volume → infer → postprocess → dicom → store → report —
 * where each stage is the parent of the one before it, so BullMQ starts a stage only when its
 * predecessor completed and a stage failing for good fails the rest (failParentOnFailure).
 * Every job carries the same UID-only payload and a job id derived from the run id and attempt
 * (no ':'), so enqueueing the same run twice is a no-op.
 *
 * It also answers where each stage of a run stands (state, progress, attempts, failure) for the
 * progress API, and asks a worker to validate an uploaded model.
 */
import { type FlowJob, FlowProducer, type JobsOptions, Queue, QueueEvents } from 'bullmq';
import type { Redis } from 'ioredis';
import {
  type InferJobData,
  jobId,
  type ModelValidateJob,
  type ModelValidateResult,
  QUEUES,
} from '../../../contracts/jobs.js';

export const STAGE_QUEUES = [
  ['fetch', QUEUES.aiFetch],
  ['volume', QUEUES.aiVolume],
  ['infer', QUEUES.aiInfer],
  ['postprocess', QUEUES.aiPostprocess],
  ['dicom', QUEUES.aiDicom],
  ['store', QUEUES.aiStore],
  ['report', QUEUES.aiReport],
] as const;

const STAGE_OPTS: JobsOptions = {
  attempts: 5,
  backoff: { type: 'exponential', delay: 2000 },
  // Kept for an hour so progress stays visible after completion; failures for a week.
  removeOnComplete: { age: 3600 },
  removeOnFail: { age: 7 * 24 * 3600 },
};

export const stageJobId = (stage: string, runId: string, attempt: number) =>
  jobId('ai', stage, runId, String(attempt));

export interface StageStatus {
  stage: string;
  state: string;
  progress: number | null;
  attemptsMade: number;
  failedReason: string | null;
}

export class AiFlow {
  private readonly producer: FlowProducer;
  private readonly queues: Map<string, Queue>;
  private readonly models: Queue<ModelValidateJob, ModelValidateResult>;
  private modelEvents: QueueEvents | undefined;

  constructor(
    connection: Redis,
    private readonly prefix: string,
    private readonly redisUrl: string,
    /** Retry policy of every stage (tests shorten the backoff). */
    private readonly stageOptions: JobsOptions = STAGE_OPTS,
  ) {
    this.producer = new FlowProducer({ connection, prefix });
    this.queues = new Map(STAGE_QUEUES.map(([stage, q]) => [stage, new Queue(q, { connection, prefix })]));
    this.models = new Queue(QUEUES.aiModels, {
      connection,
      prefix,
      defaultJobOptions: { attempts: 1, removeOnComplete: { age: 600 }, removeOnFail: { age: 600 } },
    });
  }

  async enqueue(data: InferJobData): Promise<void> {
    let node: FlowJob | undefined;
    for (const [stage, queueName] of STAGE_QUEUES) {
      node = {
        name: stage,
        queueName,
        data,
        opts: {
          ...this.stageOptions,
          jobId: stageJobId(stage, data.runId, data.attempt),
          ...(stage === 'report' ? {} : { failParentOnFailure: true }),
        },
        ...(node ? { children: [node] } : {}),
      };
    }
    await this.producer.add(node!);
  }

  async stages(runId: string, attempt: number): Promise<StageStatus[]> {
    const out: StageStatus[] = [];
    for (const [stage] of STAGE_QUEUES) {
      const job = await this.queues.get(stage)!.getJob(stageJobId(stage, runId, attempt));
      if (!job) {
        out.push({ stage, state: 'unknown', progress: null, attemptsMade: 0, failedReason: null });
        continue;
      }
      const p = job.progress as { percent?: number } | number;
      out.push({
        stage,
        state: await job.getState(),
        progress: typeof p === 'number' ? p : (p?.percent ?? null),
        attemptsMade: job.attemptsMade,
        failedReason: job.failedReason ?? null,
      });
    }
    return out;
  }

  /** Full validation of an uploaded model by a worker; throws when no worker answers in time. */
  async validate(job: ModelValidateJob, id: string, timeoutMs: number): Promise<ModelValidateResult> {
    if (!this.modelEvents) {
      // QueueEvents blocks on Redis: it needs a connection of its own.
      this.modelEvents = new QueueEvents(QUEUES.aiModels, {
        connection: { url: this.redisUrl },
        prefix: this.prefix,
      });
      await this.modelEvents.waitUntilReady();
    }
    const added = await this.models.add('validate', job, { jobId: jobId('ai-validate', id) });
    return (await added.waitUntilFinished(this.modelEvents, timeoutMs)) as ModelValidateResult;
  }

  async close(): Promise<void> {
    await Promise.allSettled([
      this.producer.close(),
      this.models.close(),
      this.modelEvents?.close(),
      ...[...this.queues.values()].map((q) => q.close()),
    ]);
  }
}
