/**
 * Transient and permanent failures of the AI flow, with the real workers against Redis and S3:
 *  - Orthanc unreachable (the workers pointed at a closed port) is transient: the fetch stage is
 *    retried with exponential backoff until its attempts are used up, then the run is reported
 *    once as `ai-failed` with the reason, and the later stages never run;
 *  - a model the workers cannot find (no such objects in S3) is permanent: one attempt only.
 * The gateway side is the real AiFlow (the FlowProducer the gateway uses), with a short backoff.
 */
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { type Job, Queue } from 'bullmq';
import { Redis } from 'ioredis';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type InferJobData, QUEUES, type ResultMessage } from '../../contracts/jobs.js';
import { AiFlow } from '../../server/src/ai/flow.js';
import { loadWorkersConfig } from '../../workers/src/config.js';
import { type RunningWorkers, startWorkers } from '../../workers/src/main.js';
import { stack, workersEnv } from '../helpers/app.js';

const prefix = `rl-airetry-${randomBytes(4).toString('hex')}`;
const SHA = '9322ead742cb8a05a8c17779d1e3f48c8c3bce9e619751613f9f904ea463ad70';
let workers: RunningWorkers;
let flow: AiFlow;
let connection: Redis;
let results: Queue<ResultMessage>;

/** A loopback port nobody listens on. */
async function closedPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as { port: number }).port;
  await new Promise((r) => srv.close(r));
  return port;
}

async function waitFor<T>(what: string, fn: () => Promise<T | undefined>, ms = 60_000): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const data = (runId: string, modelSha256 = SHA): InferJobData => ({
  runId,
  attempt: 1,
  studyUid: '2.25.1',
  seriesUid: `2.25.${BigInt(`0x${runId}`)}`,
  modelId: 'liver-lesion-ct',
  modelVersion: '1.0.0',
  modelSha256,
  shadow: false,
});

async function failedMessage(runId: string) {
  return waitFor(`ai-failed for ${runId}`, async () => {
    const jobs = await results.getJobs(['waiting', 'completed', 'failed', 'delayed']);
    return jobs.map((j) => j.data).find((m) => m.kind === 'ai-failed' && m.runId === runId) as
      | Extract<ResultMessage, { kind: 'ai-failed' }>
      | undefined;
  });
}

beforeAll(async () => {
  const s = stack();
  const log = pino(
    { level: 'info' },
    pino.destination({ dest: join(s.logDir, 'workers-ai-retry-test.log'), mkdir: true, sync: true }),
  );
  workers = await startWorkers(
    loadWorkersConfig(
      workersEnv(s, {
        RADLINK_QUEUE_PREFIX: prefix,
        RADLINK_WORKERS: 'ai',
        ORTHANC_URL: `http://127.0.0.1:${await closedPort()}`,
      }),
    ),
    log,
  );
  connection = new Redis(s.redisUrl, { maxRetriesPerRequest: null });
  flow = new AiFlow(connection, prefix, s.redisUrl, {
    attempts: 3,
    backoff: { type: 'exponential', delay: 300 },
    removeOnComplete: { age: 600 },
    removeOnFail: { age: 600 },
  });
  results = new Queue(QUEUES.results, { connection, prefix });
});

afterAll(async () => {
  await workers?.close();
  await flow?.close();
  await results?.obliterate({ force: true }).catch(() => undefined);
  await results?.close();
  await connection?.quit();
});

describe('AI flow failures', () => {
  it('retries a transient failure with backoff, then fails the run once with the reason', async () => {
    const runId = randomBytes(16).toString('hex');
    await flow.enqueue(data(runId));
    const msg = await failedMessage(runId);
    expect(msg.stage).toBe('fetch');
    expect(msg.reason).toMatch(/Orthanc unreachable/);
    const stages = await flow.stages(runId, 1);
    expect(stages[0]).toMatchObject({ stage: 'fetch', state: 'failed', attemptsMade: 3 });
    // The rest of the flow failed with it (failParentOnFailure) and produced nothing.
    expect(stages.slice(1).map((s) => s.state)).toEqual(Array(6).fill('failed'));
    const findings = (await results.getJobs(['waiting', 'completed', 'failed', 'delayed'])).filter(
      (j) => j.data.kind === 'ai-findings' && j.data.runId === runId,
    );
    expect(findings).toHaveLength(0);
    // Backoff: the attempts were spread over at least 300 + 600 ms.
    const fetchQueue = new Queue(QUEUES.aiFetch, { connection, prefix });
    const job = (await fetchQueue.getJob(`ai_fetch_${runId}_1`)) as Job;
    expect(job.finishedOn! - job.timestamp).toBeGreaterThanOrEqual(900);
    await fetchQueue.close();
    // Reported once.
    const all = (await results.getJobs(['waiting', 'completed', 'failed', 'delayed'])).filter(
      (j) => j.data.kind === 'ai-failed' && j.data.runId === runId,
    );
    expect(all).toHaveLength(1);
  }, 60_000);

  it('fails a permanent problem (the model is nowhere) after one attempt', async () => {
    const runId = randomBytes(16).toString('hex');
    await flow.enqueue(data(runId, 'f'.repeat(64)));
    const msg = await failedMessage(runId);
    expect(msg.stage).toBe('fetch');
    expect(msg.reason).toMatch(/not in S3/);
    const [fetch] = await flow.stages(runId, 1);
    expect(fetch).toMatchObject({ state: 'failed', attemptsMade: 1 });
  }, 60_000);
});
