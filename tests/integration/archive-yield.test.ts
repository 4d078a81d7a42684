/**
 * Archive copies yield to STOW-RS uploads (issue 3): the gateway keeps the ingest key alive in
 * Redis while an upload is being received (server/src/dicomweb/ingest-signal.ts) and removes it
 * when the upload ends; an archive job waits while the key exists, at most MAX_YIELD_MS after it
 * was enqueued (workers/src/archive/yield.ts). Real Redis, the real app over HTTP.
 */
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { Redis } from 'ioredis';
import pino from 'pino';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { INGEST_BUSY_TTL_MS, ingestBusyKey } from '../../contracts/jobs.js';
import { IngestSignal } from '../../server/src/dicomweb/ingest-signal.js';
import { MAX_YIELD_MS, yieldToUploads } from '../../workers/src/archive/yield.js';
import { bearer, buildTestApp, stack, type TestApp } from '../helpers/app.js';
import { makeInstance } from '../helpers/dicom.js';
import { facilityUser, stowBody } from '../helpers/dicomweb.js';

const prefix = `rl-yield-${randomBytes(4).toString('hex')}`;
const key = ingestBusyKey(prefix);
const log = pino({ level: 'silent' });
let redis: Redis;
let other: Redis;

beforeAll(() => {
  redis = new Redis(stack().redisUrl);
  other = new Redis(stack().redisUrl);
});
afterAll(async () => {
  await redis?.quit();
  await other?.quit();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Milliseconds a job enqueued `ageMs` ago waits before copying. */
async function timedYield(ageMs = 0, maxYieldMs?: number): Promise<number> {
  const t0 = Date.now();
  await yieldToUploads(redis, key, Date.now() - ageMs, maxYieldMs === undefined ? {} : { maxYieldMs });
  return Date.now() - t0;
}

describe('archive jobs yield to uploads', () => {
  it('does not wait when no upload is in progress', async () => {
    expect(await redis.exists(key)).toBe(0);
    expect(await timedYield()).toBeLessThan(100);
  });

  it('waits while an upload is in progress and resumes as soon as it ends', async () => {
    const signal = new IngestSignal(redis, prefix, log);
    const end = signal.begin();
    await sleep(50);
    expect(await redis.exists(key)).toBe(1);
    // Outlives the key's expiry: the signal refreshes it while the upload lasts.
    const waited = timedYield();
    await sleep(INGEST_BUSY_TTL_MS + 500);
    expect(await redis.exists(key)).toBe(1);
    end();
    end(); // a second call changes nothing
    const ms = await waited;
    expect(ms).toBeGreaterThanOrEqual(INGEST_BUSY_TTL_MS + 450);
    expect(ms).toBeLessThan(INGEST_BUSY_TTL_MS + 500 + 600);
    expect(await redis.exists(key)).toBe(0);
    signal.close();
  });

  it('never waits longer than MAX_YIELD_MS after the job was enqueued', async () => {
    const signal = new IngestSignal(redis, prefix, log);
    const end = signal.begin();
    await sleep(50);
    try {
      // An old job does not wait at all; a new one waits out its bound (shortened here).
      expect(await timedYield(MAX_YIELD_MS + 1000)).toBeLessThan(100);
      const ms = await timedYield(0, 600);
      expect(ms).toBeGreaterThanOrEqual(590);
      expect(ms).toBeLessThan(900);
    } finally {
      end();
      signal.close();
    }
  });

  it("one gateway's end leaves another gateway's upload signalled; a dead gateway's key lapses", async () => {
    const a = new IngestSignal(redis, prefix, log);
    const b = new IngestSignal(other, prefix, log);
    const endA = a.begin();
    await sleep(50);
    const endB = b.begin();
    await sleep(50);
    endA();
    await sleep(50);
    expect(await redis.exists(key)).toBe(1);
    // B "dies" mid-upload: no end, no refresh; the key expires by itself.
    b.close();
    await sleep(INGEST_BUSY_TTL_MS + 200);
    expect(await redis.exists(key)).toBe(0);
    endB();
    a.close();
  });
});

describe('the STOW route signals its uploads', () => {
  let t: TestApp;
  let tok: string;
  let base: string;
  beforeAll(async () => {
    t = await buildTestApp({ name: 'archive-yield', env: { RADLINK_QUEUE_PREFIX: prefix } });
    tok = await facilityUser(t, 'bv-yield', 'yield.a');
    base = await t.app.listen({ host: '127.0.0.1', port: 0 });
  });
  afterAll(async () => {
    await t?.close();
  });

  it('holds the ingest key while the request body arrives and removes it when answered', async () => {
    const a = makeInstance({ patientName: 'Phạm^Văn Yên' });
    const { payload, contentType } = stowBody([a.bytes]);
    let release!: () => void;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    // The body in two halves, with a pause in between: the upload is in progress meanwhile.
    async function* body() {
      yield payload.subarray(0, 1000);
      await gate;
      yield payload.subarray(1000);
    }
    const answer = request(`${base}/dicom-web/studies`, {
      method: 'POST',
      headers: { ...bearer(tok), 'content-type': contentType, accept: 'application/dicom+json' },
      body: Readable.from(body()),
    });
    let seen = 0;
    for (let i = 0; i < 50 && seen === 0; i++) {
      seen = await redis.exists(key);
      if (seen === 0) await sleep(20);
    }
    expect(seen).toBe(1);
    release();
    const res = await answer;
    expect(res.statusCode, await res.body.text()).toBe(200);
    // Removed as the request ends (not awaited by the answer), long before the key's expiry.
    let left = 1;
    for (let i = 0; i < 10 && left === 1; i++) {
      left = await redis.exists(key);
      if (left === 1) await sleep(20);
    }
    expect(left).toBe(0);
  });
});
