/**
 * The workers' configuration. Workers never open the database (only the gateway does): they
 * read pixels from Orthanc, write artefacts to Orthanc/S3 and hand results back on queues.
 */
import { type Static, Type } from '@sinclair/typebox';
import { Env, loadConfig, SERVICE_KEYS } from '../../contracts/config.js';

export const WorkersConfigSchema = Type.Object({
  RADLINK_DATA: Env.str('Directory for local state (logs, scratch space).', './data'),
  RADLINK_LOG_LEVEL: Env.enumOf(
    'Log level.',
    ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'],
    'info',
  ),
  RADLINK_LOG_FILE: Env.optStr('Also append JSON logs to this file.'),
  RADLINK_WORKERS: Env.str(
    'Comma-separated queues this process works on (known: archive, ai, thumbnails).',
    'archive',
  ),
  RADLINK_WORKER_CONCURRENCY: Env.int('Jobs run at once per queue in this process.', 2, 1, 64),
  RADLINK_THUMBNAIL_SIZE: Env.int(
    "Longest side of pre-rendered series thumbnails in pixels; must equal the gateway's.",
    128,
    16,
    1024,
  ),
  RADLINK_MODELS_DIR: Env.str(
    'Directory of AI models (<id>/<version>/manifest.json + model.onnx).',
    './models',
  ),
  ...SERVICE_KEYS,
});

export type WorkersConfig = Static<typeof WorkersConfigSchema>;

export const loadWorkersConfig = (env: Record<string, string | undefined> = process.env): WorkersConfig =>
  loadConfig('workers', WorkersConfigSchema, env);
