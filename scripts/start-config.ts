/**
 * Configuration of `npm start` (scripts/start.ts), the process that installs and supervises a
 * whole single-server installation. Keys the gateway and workers also read (REDIS_URL, S3_*,
 * DATABASE_URL …) decide here whether an embedded service is started: unset → embedded.
 */
import { type Static, Type } from '@sinclair/typebox';
import { Env, loadConfig } from '../contracts/config.js';

const optPort = (description: string) =>
  Type.Optional(Type.Integer({ description, minimum: 1, maximum: 65535 }));

export const StartConfigSchema = Type.Object({
  RADLINK_DATA: Env.str(
    'Directory for all state: secrets, Orthanc storage, Redis, S3, database, logs.',
    './data',
  ),
  RADLINK_PORT: Env.port('Gateway HTTP(S) port (must be free).', 8080),
  RADLINK_DICOM_PORT: Env.port('DICOM port where modalities send C-STORE (must be free).', 4242),
  RADLINK_DICOM_AET: Env.str("Orthanc's own (called) AE title.", 'RADLINK'),
  RADLINK_ORTHANC_HTTP_PORT: optPort(
    'Orthanc loopback HTTP port; unset: 8042, or a free port if that is taken.',
  ),
  RADLINK_REDIS_PORT: optPort('Private Redis port; unset: 6379, or a free port if that is taken.'),
  RADLINK_S3_PORT: optPort('Embedded S3 (s3rver) port; unset: 4568, or a free port if that is taken.'),
  RADLINK_POSTGRES_PORT: optPort(
    'Private PostgreSQL port (with RADLINK_EMBEDDED_POSTGRES); unset: 5432 or a free port.',
  ),
  RADLINK_DEMO: Env.bool('Load the demo data on first start and use the published demo passwords.', true),
  RADLINK_EMBEDDED_POSTGRES: Env.bool('Start a private PostgreSQL 15 instead of the embedded PGlite.', false),
  RADLINK_PUBLIC_URL: Env.optUrl('External base URL printed at start-up.'),
  REDIS_URL: Env.optUrl(
    'External Redis; unset: a private redis-server is started. Set but unreachable: start fails.',
  ),
  DATABASE_URL: Env.optUrl('External PostgreSQL; unset: PGlite embedded in the gateway.'),
  S3_ENDPOINT: Env.optUrl('External S3/MinIO; unset: an embedded s3rver is started.'),
  S3_ACCESS_KEY: Env.optStr('Access key for S3_ENDPOINT (required with it).'),
  S3_SECRET_KEY: Env.optStr('Secret key for S3_ENDPOINT (required with it).'),
  S3_BUCKET: Env.str('S3 bucket.', 'radlink'),
  S3_REGION: Env.str('S3 region.', 'us-east-1'),
});

export type StartConfig = Static<typeof StartConfigSchema>;

export const loadStartConfig = (env: Record<string, string | undefined> = process.env): StartConfig =>
  loadConfig('start', StartConfigSchema, env);
