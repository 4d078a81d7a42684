/**
 * The delivery queue: one job per signed report or addendum (job id derived from the report
 * id, so a re-trigger while the job exists is a no-op), consumed inside the gateway because
 * delivery reads the signed record and writes the delivery record (the gateway is the only
 * database writer). Several gateways share the queue; BullMQ gives each job to one of them.
 *
 * Transient failures (S3 or Orthanc unavailable) retry with exponential backoff; a refusal that
 * retrying cannot fix (DeliveryRefused: a copy no longer matches its record, the report does not
 * exist) fails the job at once. At start-up, signed reports whose delivery is incomplete are
 * enqueued again, so a delivery lost with Redis is made on the next start.
 */
import { type Job, Queue, UnrecoverableError, Worker } from 'bullmq';
import type { FastifyBaseLogger } from 'fastify';
import { Redis } from 'ioredis';
import { Counter, Histogram, type Registry } from 'prom-client';
import { type DeliveryJob, jobId, QUEUES } from '../../../../contracts/jobs.js';
import { DeliveryRefused, type ReportDeliveryService } from './deliver.js';
import type { DeliveryRepo } from './delivery-repo.js';

export interface DeliveryQueueOptions {
  redis: Redis;
  redisUrl: string;
  prefix: string;
  service: ReportDeliveryService;
  deliveries: DeliveryRepo;
  registry: Registry;
  log: FastifyBaseLogger;
}

export class DeliveryQueue {
  readonly queue: Queue<DeliveryJob>;
  private worker: Worker<DeliveryJob> | undefined;
  private connection: Redis | undefined;
  private readonly done: Counter<'outcome'>;
  private readonly duration: Histogram;

  constructor(private readonly o: DeliveryQueueOptions) {
    this.queue = new Queue<DeliveryJob>(QUEUES.delivery, {
      connection: o.redis,
      prefix: o.prefix,
      defaultJobOptions: {
        attempts: 10,
        backoff: { type: 'exponential', delay: 1000 },
        removeOnComplete: true,
        removeOnFail: { count: 10_000 },
      },
    });
    this.done = new Counter({
      name: 'radlink_report_deliveries_total',
      help: 'Report deliveries (PDF in S3 and DICOM copy in the study) by outcome',
      labelNames: ['outcome'],
      registers: [o.registry],
    });
    this.duration = new Histogram({
      name: 'radlink_report_delivery_seconds',
      help: 'Time to make and store the copies of one signed report (PDF, DICOM), per successful job',
      buckets: [0.1, 0.25, 0.5, 1, 2, 5, 10, 30],
      registers: [o.registry],
    });
  }

  /** Never throws: the report is signed whatever happens to its delivery (start-up re-enqueues). */
  async enqueue(reportId: string): Promise<void> {
    try {
      await this.queue.add('deliver', { reportId }, { jobId: jobId('delivery', reportId) });
    } catch (err) {
      this.o.log.warn({ reportId, err: (err as Error).message }, 'could not enqueue a report delivery');
    }
  }

  private async process(job: Job<DeliveryJob>): Promise<void> {
    try {
      const started = performance.now();
      await this.o.service.deliver(job.data.reportId);
      const seconds = (performance.now() - started) / 1000;
      this.duration.observe(seconds);
      this.done.inc({ outcome: 'delivered' });
      this.o.log.info({ reportId: job.data.reportId, ms: Math.round(seconds * 1000) }, 'report delivered');
    } catch (err) {
      if (err instanceof DeliveryRefused) {
        this.done.inc({ outcome: 'refused' });
        this.o.log.error({ reportId: job.data.reportId, reason: err.message }, 'report delivery refused');
        throw new UnrecoverableError(err.message);
      }
      this.o.log.warn(
        { reportId: job.data.reportId, attempt: job.attemptsMade + 1, err: (err as Error).message },
        'report delivery failed; it will be retried',
      );
      throw err;
    }
  }

  async start(): Promise<void> {
    // Blocking BullMQ commands need a connection of their own that never gives up on a command.
    this.connection = new Redis(this.o.redisUrl, { maxRetriesPerRequest: null });
    this.connection.on('error', (err) =>
      this.o.log.warn({ err: err.message }, 'delivery queue: redis error'),
    );
    this.worker = new Worker<DeliveryJob>(QUEUES.delivery, (job) => this.process(job), {
      connection: this.connection,
      prefix: this.o.prefix,
      // PDF rendering runs on the gateway's event loop (~0.2 s a report): one at a time.
      concurrency: 1,
    });
    this.worker.on('error', (err) => this.o.log.warn({ err: err.message }, 'delivery worker error'));
    for (const id of await this.o.deliveries.incomplete(1000).catch(() => [])) await this.enqueue(id);
  }

  async stop(): Promise<void> {
    await this.worker?.close().catch(() => undefined);
    await this.queue.close().catch(() => undefined);
    await this.connection?.quit().catch(() => this.connection?.disconnect());
  }
}
