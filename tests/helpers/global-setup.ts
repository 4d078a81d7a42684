/**
 * vitest globalSetup of the `integration` project: starts the real services once per run, in
 * parallel, each under the supervisor (so tests can kill one and watch it come back), in a fresh
 * `.test-data/run-<timestamp>-<pid>/` with free loopback ports, and provides `StackInfo` as
 * `inject('stack')`. The teardown stops everything: a run leaves no process behind. If the runner
 * itself dies hard, the next run reaps what its predecessors left (see leftovers.ts).
 *
 * The run directory is kept after the run (the logscan tier reads its logs; `.test-data/latest`
 * points to it); only the newest few finished runs are kept.
 */
import { existsSync, mkdirSync, readdirSync, rmSync, symlinkSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { reapLeftovers } from '../../scripts/services/leftovers.js';
import { startOrthanc } from '../../scripts/services/orthanc.js';
import { REPO_ROOT } from '../../scripts/services/paths.js';
import { freePorts } from '../../scripts/services/ports.js';
import { startPostgres } from '../../scripts/services/postgres.js';
import { startRedis } from '../../scripts/services/redis.js';
import { startS3rver } from '../../scripts/services/s3rver.js';
import { loadOrCreateSecrets } from '../../scripts/services/secrets.js';
import { StatusBoard } from '../../scripts/services/status-board.js';
import type { StackInfo } from './stack-info.js';

export const TEST_DATA_ROOT = join(REPO_ROOT, '.test-data');
const KEEP_FINISHED_RUNS = 3;
const READY_TIMEOUT_MS = 60_000;

export interface TestStack {
  info: StackInfo;
  stop(): Promise<void>;
}

function timestamp(): string {
  return new Date()
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
}

/** Reaps processes of crashed earlier runs, then deletes all but the newest finished runs. */
async function cleanEarlierRuns(): Promise<void> {
  if (!existsSync(TEST_DATA_ROOT)) return;
  const runs = readdirSync(TEST_DATA_ROOT)
    .filter((d) => d.startsWith('run-'))
    .sort();
  const finished: string[] = [];
  for (const run of runs) {
    const dir = join(TEST_DATA_ROOT, run);
    const report = await reapLeftovers(join(dir, 'run/services.json'), dir);
    for (const k of report.killed) console.warn(`[stack] killed leftover ${k.name} (pid ${k.pid}) of ${run}`);
    // A run whose supervisor is alive belongs to a concurrent `vitest` (another engineer's): keep it.
    if (report.liveSupervisor === null) finished.push(dir);
  }
  for (const dir of finished.slice(0, Math.max(0, finished.length - KEEP_FINISHED_RUNS))) {
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function startTestStack(): Promise<TestStack> {
  const t0 = Date.now();
  await cleanEarlierRuns();
  const dataDir = join(TEST_DATA_ROOT, `run-${timestamp()}-${process.pid}`);
  const logDir = join(dataDir, 'logs');
  mkdirSync(logDir, { recursive: true });
  const latest = join(TEST_DATA_ROOT, 'latest');
  try {
    unlinkSync(latest);
  } catch {
    /* first run */
  }
  symlinkSync(dataDir, latest);

  const statusFile = join(dataDir, 'run/services.json');
  const board = new StatusBoard(statusFile);
  const secrets = loadOrCreateSecrets(dataDir);
  const [orthancHttp, orthancDicom, redisPort, s3Port, pgPort] = (await freePorts(5)) as [
    number,
    number,
    number,
    number,
    number,
  ];

  const orthanc = startOrthanc({
    dataDir,
    logDir,
    board,
    username: secrets.orthancUsername,
    password: secrets.orthancPassword,
    httpPort: orthancHttp,
    dicomPort: orthancDicom,
    aet: 'RADLINK',
  });
  const redis = startRedis({ dataDir, logDir, board, port: redisPort });
  const s3 = startS3rver({
    dataDir,
    logDir,
    board,
    port: s3Port,
    accessKey: secrets.s3AccessKey,
    secretKey: secrets.s3SecretKey,
    bucket: 'radlink',
  });
  const postgres = startPostgres({
    dataDir,
    logDir,
    board,
    port: pgPort,
    password: secrets.postgresPassword,
    fast: true,
  });

  const stopAll = async () => {
    const pg = await postgres.catch(() => null);
    await Promise.allSettled([orthanc.stop(), redis.stop(), s3.stop(), pg?.stop()]);
  };
  try {
    const pg = await postgres;
    await Promise.all([
      orthanc.service.waitReady(READY_TIMEOUT_MS),
      redis.service.waitReady(READY_TIMEOUT_MS),
      s3.service.waitReady(READY_TIMEOUT_MS),
      pg.waitReady(READY_TIMEOUT_MS),
    ]);
    const info: StackInfo = {
      dataDir,
      logDir,
      statusFile,
      orthanc: {
        url: orthanc.url,
        username: orthanc.username,
        password: orthanc.password,
        dicomPort: orthanc.dicomPort,
        aet: orthanc.aet,
      },
      redisUrl: redis.url,
      s3: {
        endpoint: s3.endpoint,
        accessKey: s3.accessKey,
        secretKey: s3.secretKey,
        bucket: s3.bucket,
        region: s3.region,
      },
      postgresUrl: pg.url,
    };
    console.log(`[stack] ready in ${Date.now() - t0} ms: ${dataDir}`);
    return { info, stop: stopAll };
  } catch (err) {
    await stopAll();
    throw err;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const stack = await startTestStack();
  project.provide('stack', stack.info);
  return async () => {
    const t = Date.now();
    await stack.stop();
    console.log(`[stack] stopped in ${Date.now() - t} ms`);
  };
}
