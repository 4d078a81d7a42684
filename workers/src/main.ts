/**
 * The workers process: starts the queue workers named in RADLINK_WORKERS, with typed config
 * checked at start (a bad or missing key exits 78 naming it), and shuts down gracefully on
 * SIGINT/SIGTERM: workers finish their current jobs, then queues and connections close.
 */
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Queue, type Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { Client } from 'minio';
import pino from 'pino';
import { ConfigError } from '../../contracts/config.js';
import { QUEUES, type ResultMessage } from '../../contracts/jobs.js';
import { startAiWorkers } from './ai/ai-workers.js';
import { startArchiveWorker } from './archive/worker.js';
import { loadWorkersConfig, type WorkersConfig } from './config.js';
import { OrthancReader } from './orthanc.js';
import { ThumbnailOrthanc } from './thumbnails/orthanc-source.js';
import { startThumbnailWorker } from './thumbnails/worker.js';

const KNOWN = ['archive', 'ai', 'thumbnails'] as const;

export interface RunningWorkers {
  close(): Promise<void>;
}

/** The S3 endpoint is reached over TLS (the minio client then signs without hashing the payload). */
export const s3UsesTls = (cfg: WorkersConfig) => new URL(cfg.S3_ENDPOINT).protocol === 'https:';

export function s3ClientOf(cfg: WorkersConfig): Client {
  const u = new URL(cfg.S3_ENDPOINT);
  const tls = s3UsesTls(cfg);
  return new Client({
    endPoint: u.hostname,
    port: u.port ? Number(u.port) : tls ? 443 : 80,
    useSSL: tls,
    accessKey: cfg.S3_ACCESS_KEY,
    secretKey: cfg.S3_SECRET_KEY,
    region: cfg.S3_REGION,
    pathStyle: true,
  });
}

/** Starts the configured workers; used by this process and by tests (in-process). */
export async function startWorkers(cfg: WorkersConfig, log: pino.Logger): Promise<RunningWorkers> {
  const names = cfg.RADLINK_WORKERS.split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const unknown = names.filter((n) => !(KNOWN as readonly string[]).includes(n));
  if (unknown.length > 0)
    throw new ConfigError('workers', [
      `RADLINK_WORKERS names unknown queues: ${unknown.join(', ')} (known: ${KNOWN.join(', ')})`,
    ]);
  // BullMQ workers block on Redis: their connection must not give up on commands.
  const connection = new Redis(cfg.REDIS_URL, { maxRetriesPerRequest: null });
  connection.on('error', (err) => log.warn({ err: err.message }, 'redis connection error'));
  const results = new Queue<ResultMessage>(QUEUES.results, {
    connection,
    prefix: cfg.RADLINK_QUEUE_PREFIX,
    defaultJobOptions: {
      attempts: 10,
      backoff: { type: 'exponential', delay: 1000 },
      removeOnComplete: true,
      removeOnFail: { count: 10_000 },
    },
  });
  const workers: Worker[] = [];
  if (names.includes('archive')) {
    workers.push(
      startArchiveWorker(
        {
          orthanc: new OrthancReader(cfg.ORTHANC_URL, cfg.ORTHANC_USERNAME, cfg.ORTHANC_PASSWORD),
          s3: s3ClientOf(cfg),
          s3Tls: s3UsesTls(cfg),
          bucket: cfg.S3_BUCKET,
          results,
          scratchDir: join(cfg.RADLINK_DATA, 'tmp'),
        },
        { connection, prefix: cfg.RADLINK_QUEUE_PREFIX, concurrency: cfg.RADLINK_WORKER_CONCURRENCY, log },
      ),
    );
  }
  if (names.includes('thumbnails')) {
    workers.push(
      startThumbnailWorker(
        {
          orthanc: new ThumbnailOrthanc(cfg.ORTHANC_URL, cfg.ORTHANC_USERNAME, cfg.ORTHANC_PASSWORD),
          s3: s3ClientOf(cfg),
          bucket: cfg.S3_BUCKET,
          results,
          size: cfg.RADLINK_THUMBNAIL_SIZE,
        },
        { connection, prefix: cfg.RADLINK_QUEUE_PREFIX, concurrency: cfg.RADLINK_WORKER_CONCURRENCY, log },
      ),
    );
  }
  if (names.includes('ai')) {
    // The flow's stage workers; bundled models are validated and announced in the background.
    workers.push(...startAiWorkers({ cfg, connection, results, log }).workers);
  }
  log.info({ workers: names, prefix: cfg.RADLINK_QUEUE_PREFIX }, 'RadLink workers ready');
  return {
    async close() {
      await Promise.allSettled(workers.map((w) => w.close()));
      await results.close().catch(() => undefined);
      await connection.quit().catch(() => connection.disconnect());
    },
  };
}

async function main(): Promise<void> {
  let cfg: WorkersConfig;
  try {
    cfg = loadWorkersConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(78); // EX_CONFIG
    }
    throw err;
  }
  const log = pino(
    { level: cfg.RADLINK_LOG_LEVEL, base: { service: 'workers' } },
    cfg.RADLINK_LOG_FILE
      ? pino.multistream([
          { stream: process.stdout },
          { stream: pino.destination({ dest: cfg.RADLINK_LOG_FILE, mkdir: true }) },
        ])
      : process.stdout,
  );
  let running: RunningWorkers;
  try {
    running = await startWorkers(cfg, log);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(78);
    }
    throw err;
  }
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down');
    const timer = setTimeout(() => process.exit(1), 30_000);
    timer.unref();
    await running.close();
    log.info('stopped');
    process.exit(0);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
}

// Run only as the entry point (tests import startWorkers).
if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) await main();
