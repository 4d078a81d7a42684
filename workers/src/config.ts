/**
 * The workers' configuration. Workers never open the database (only the gateway does): they
 * read pixels from Orthanc, write artefacts to Orthanc/S3 and hand results back on queues.
 */
import { type Static, Type } from '@sinclair/typebox';
import { Env, loadConfig } from '../../contracts/config.js';

export const WorkersConfigSchema = Type.Object({
  RADLINK_DATA: Env.str('Directory for local state (logs, scratch space).', './data'),
  RADLINK_LOG_LEVEL: Env.enumOf(
    'Log level.',
    ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'],
    'info',
  ),
  RADLINK_LOG_FILE: Env.optStr('Also append JSON logs to this file.'),
  RADLINK_WORKERS: Env.str('Comma-separated queues this process works on (known: archive).', 'archive'),
  RADLINK_WORKER_CONCURRENCY: Env.int('Jobs run at once per queue in this process.', 2, 1, 64),
  RADLINK_QUEUE_PREFIX: Env.str('BullMQ key prefix (one per installation sharing a Redis).', 'radlink'),
  RADLINK_MODELS_DIR: Env.str(
    'Directory of AI models (<id>/<version>/manifest.json + model.onnx).',
    './models',
  ),
  REDIS_URL: Env.url('Redis URL (queues).'),
  ORTHANC_URL: Env.url('Orthanc HTTP API base URL (loopback).'),
  ORTHANC_USERNAME: Env.str('Orthanc HTTP user.'),
  ORTHANC_PASSWORD: Env.str('Orthanc HTTP password.'),
  S3_ENDPOINT: Env.url('S3 endpoint URL (MinIO, s3rver or any S3).'),
  S3_REGION: Env.str('S3 region.', 'us-east-1'),
  S3_ACCESS_KEY: Env.str('S3 access key.'),
  S3_SECRET_KEY: Env.str('S3 secret key.'),
  S3_BUCKET: Env.str('S3 bucket for archive copies and derived artefacts.', 'radlink'),
});

export type WorkersConfig = Static<typeof WorkersConfigSchema>;

export const loadWorkersConfig = (env: Record<string, string | undefined> = process.env): WorkersConfig =>
  loadConfig('workers', WorkersConfigSchema, env);
