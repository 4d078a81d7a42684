/**
 * Embedded S3 (npm `s3rver`) for installations without their own S3/MinIO: a child process
 * (`s3rver-main.ts`) under the supervisor, data under `<data>/s3`, listening on loopback.
 * Ready when the bucket exists; the probe creates it when missing, so a fresh data directory (or
 * a wiped one after a restart) always has it.
 */
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Client } from 'minio';
import { REPO_ROOT } from './paths.js';
import { LOOPBACK } from './ports.js';
import type { StatusBoard } from './status-board.js';
import { type Supervised, supervise } from './supervisor.js';

export interface S3rverOptions {
  dataDir: string;
  logDir: string;
  board?: StatusBoard;
  port?: number;
  accessKey: string;
  secretKey: string;
  bucket?: string;
  region?: string;
}

export interface S3Info {
  endpoint: string;
  accessKey: string;
  secretKey: string;
  bucket: string;
  region: string;
}

export interface S3rverHandle extends S3Info {
  service: Supervised;
  port: number;
  stop(): Promise<void>;
}

export function s3Client(info: S3Info): Client {
  const u = new URL(info.endpoint);
  return new Client({
    endPoint: u.hostname,
    port: Number(u.port || (u.protocol === 'https:' ? 443 : 80)),
    useSSL: u.protocol === 'https:',
    accessKey: info.accessKey,
    secretKey: info.secretKey,
    region: info.region,
    pathStyle: true,
  });
}

/** Creates the bucket if it does not exist; true once it exists. */
export async function ensureBucket(info: S3Info): Promise<boolean> {
  const client = s3Client(info);
  if (await client.bucketExists(info.bucket)) return true;
  try {
    await client.makeBucket(info.bucket, info.region);
  } catch (err) {
    // Another prober may have created it in between.
    const code = (err as { code?: string }).code;
    if (code !== 'BucketAlreadyOwnedByYou' && code !== 'BucketAlreadyExists') throw err;
  }
  return client.bucketExists(info.bucket);
}

export function startS3rver(opts: S3rverOptions): S3rverHandle {
  const port = opts.port ?? 4568;
  const dir = join(opts.dataDir, 's3');
  mkdirSync(dir, { recursive: true });
  const info: S3Info = {
    endpoint: `http://${LOOPBACK}:${port}`,
    accessKey: opts.accessKey,
    secretKey: opts.secretKey,
    bucket: opts.bucket ?? 'radlink',
    region: opts.region ?? 'us-east-1',
  };
  const service = supervise({
    name: 's3',
    // `node --import tsx` rather than the tsx CLI: one process (the CLI forks a second one), so the
    // supervisor's pid is the server itself and signals reach it directly.
    command: process.execPath,
    args: ['--import', 'tsx', join(REPO_ROOT, 'scripts/services/s3rver-main.ts')],
    cwd: REPO_ROOT,
    env: {
      ...process.env,
      // Marks the process as this data directory's (see leftovers.ts): its cwd is the repository,
      // where `--import tsx` resolves.
      RADLINK_DATA: resolve(opts.dataDir),
      S3RVER_PORT: String(port),
      S3RVER_DIR: dir,
      S3RVER_ACCESS_KEY: opts.accessKey,
      S3RVER_SECRET_KEY: opts.secretKey,
    },
    logDir: opts.logDir,
    board: opts.board,
    endpoint: info.endpoint,
    probe: () => ensureBucket(info),
  });
  return { ...info, service, port, stop: () => service.stop() };
}
