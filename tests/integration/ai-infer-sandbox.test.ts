/**
 * The inference stage as BullMQ runs it: a real Worker with the sandboxed processor file
 * (workers/src/ai/infer-sandbox.ts, in a forked child process with the tsx loader) against the
 * stack's Redis, reading a synthetic CT series from the stack's Orthanc by SeriesInstanceUID.
 * Also: Orthanc-side transcoding of a compressed series (JPEG lossless) in load-series.ts, and a model
 * that does not exist failing once, unrecoverably, with its reason.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Queue, QueueEvents, Worker } from 'bullmq';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import '../helpers/stack-info.js';
import { NOT_FOR_CLINICAL_USE_LABEL } from '../../contracts/model-manifest.js';
import { findPatient } from '../../scripts/demo/patients.js';
import { generateStudy, type SynthStudy } from '../../scripts/demo/synth/study.js';
import { type InferJobData, type InferJobResult, inferJobId } from '../../workers/src/ai/infer-job.js';
import { loadSeriesFromOrthanc } from '../../workers/src/ai/load-series.js';
import { buildVolume } from '../../workers/src/ai/volume.js';

const REPO = join(import.meta.dirname, '..', '..');
const stack = inject('stack');
const orthanc = {
  url: stack.orthanc.url,
  username: stack.orthanc.username,
  password: stack.orthanc.password,
};
const auth = `Basic ${Buffer.from(`${orthanc.username}:${orthanc.password}`).toString('base64')}`;
const queueName = `ai-infer-test-${process.pid}-${Date.now()}`;
const connection = { url: stack.redisUrl };

let study: SynthStudy;
let queue: Queue<InferJobData, InferJobResult>;
let events: QueueEvents;
let worker: Worker<InferJobData, InferJobResult>;

async function store(bytes: Uint8Array): Promise<string> {
  const res = await fetch(`${orthanc.url}/instances`, {
    method: 'POST',
    headers: { authorization: auth },
    body: bytes,
  });
  expect(res.status).toBe(200);
  return ((await res.json()) as { ID: string }).ID;
}

beforeAll(async () => {
  study = generateStudy({
    seed: 880_001,
    patient: findPatient('hung'),
    modality: 'CT',
    rows: 128,
    slices: 80,
    lesions: [
      { diameterMm: 30, contrast: -60 },
      { diameterMm: 22, contrast: -55 },
    ],
  });
  for (const b of study.series[0]!.instances) await store(b);
  queue = new Queue(queueName, { connection });
  events = new QueueEvents(queueName, { connection });
  await events.waitUntilReady();
  worker = new Worker<InferJobData, InferJobResult>(
    queueName,
    join(REPO, 'workers/src/ai/infer-sandbox.ts'),
    {
      connection,
      concurrency: 1,
      workerForkOptions: {
        execArgv: ['--import', 'tsx'],
        env: {
          ...process.env,
          RADLINK_MODELS_DIR: join(REPO, 'models'),
          ORTHANC_URL: orthanc.url,
          ORTHANC_USERNAME: orthanc.username,
          ORTHANC_PASSWORD: orthanc.password,
        },
      },
    },
  );
}, 180_000);

afterAll(async () => {
  await worker?.close();
  await events?.close();
  await queue?.obliterate({ force: true });
  await queue?.close();
});

describe('inference in a sandboxed BullMQ processor', () => {
  it('finds the lesions of a CT series fetched from Orthanc, with progress, and flags the study', async () => {
    const data: InferJobData = {
      studyUid: study.study.studyUid,
      seriesUid: study.series[0]!.seriesUid,
      modelId: 'liver-lesion-ct',
      modelVersion: '1.0.0',
    };
    const progress: unknown[] = [];
    events.on('progress', ({ data: p }) => progress.push(p));
    const job = await queue.add('infer', data, { jobId: inferJobId(data), attempts: 3 });
    expect(job.id).not.toContain(':');
    const result = (await job.waitUntilFinished(events, 170_000)) as InferJobResult;
    expect(result.selected).toBe(true);
    expect(result.label).toBe(NOT_FOR_CLINICAL_USE_LABEL);
    expect(result.volume?.dims).toEqual([80, 128, 128]);
    expect(result.alert?.flagged).toBe(true);
    // Each ground-truth lesion has a finding whose centroid is within its radius.
    for (const l of study.groundTruth.lesions) {
      const near = result.findings.find(
        (f) => Math.hypot(...f.centroidMm.map((c, a) => c - l.centreMm[a]!)) < l.minRadiusMm,
      );
      expect(near, `lesion ${l.id} (${l.longestDiameterMm.toFixed(0)} mm)`).toBeDefined();
      expect(near!.axialLongestDiameterMm).toBeGreaterThan(0.6 * l.axialLongestDiameterMm);
      expect(near!.meanIntensity).toBeLessThan(100); // hypodense lesions in 110 HU liver
    }
    expect(progress.length).toBeGreaterThanOrEqual(3);
    expect(JSON.stringify(result)).not.toContain(findPatient('hung').patientId);
  });

  it('a model that does not exist fails once, unrecoverably, with the reason', async () => {
    const data: InferJobData = {
      studyUid: study.study.studyUid,
      seriesUid: study.series[0]!.seriesUid,
      modelId: 'no-such-model',
      modelVersion: '1.0.0',
    };
    const job = await queue.add('infer', data, {
      jobId: inferJobId(data),
      attempts: 3,
      backoff: { type: 'fixed', delay: 100 },
    });
    await expect(job.waitUntilFinished(events, 60_000)).rejects.toThrow(/manifest.json is missing/);
    const failed = await queue.getJob(job.id!);
    expect(failed?.attemptsMade).toBe(1);
    expect(failed?.failedReason).toMatch(/no-such-model\/1.0.0/);
  });
});

describe('load-series: compressed transfer syntaxes', () => {
  it('has Orthanc decode a JPEG-lossless series: same pixels as the native copy, original attributes', async () => {
    const s = generateStudy({
      seed: 880_002,
      patient: findPatient('khai'),
      modality: 'CT',
      rows: 64,
      slices: 6,
      lesions: 0,
    });
    for (const b of s.series[0]!.instances) {
      await store(b);
      // A JPEG Lossless (process 14, SV1) copy under a new series, made with DCMTK: Orthanc 1.10's
      // own transcoding (/modify with Transcode) segfaults intermittently, taking down the
      // Orthanc every other test shares.
      const dir = mkdtempSync(join(tmpdir(), 'radlink-jpegll-'));
      writeFileSync(join(dir, 'in.dcm'), b);
      const enc = spawnSync('dcmcjpeg', ['+e1', join(dir, 'in.dcm'), join(dir, 'out.dcm')], {
        encoding: 'utf8',
      });
      expect(enc.status, enc.stderr).toBe(0);
      const mod = spawnSync(
        'dcmodify',
        ['-nb', '-m', `SeriesInstanceUID=${s.series[0]!.seriesUid}.9`, join(dir, 'out.dcm')],
        { encoding: 'utf8' },
      );
      expect(mod.status, mod.stderr).toBe(0);
      await store(new Uint8Array(readFileSync(join(dir, 'out.dcm'))));
    }
    const native = await loadSeriesFromOrthanc(orthanc, s.series[0]!.seriesUid);
    const compressed = await loadSeriesFromOrthanc(orthanc, `${s.series[0]!.seriesUid}.9`);
    expect(native.transcoded).toBe(0);
    expect(compressed.transcoded).toBe(6);
    expect(compressed.attributes.transferSyntaxUid).toBe('1.2.840.10008.1.2.4.70');
    const a = buildVolume(native.slices);
    const b = buildVolume(compressed.slices);
    expect(b.dims).toEqual(a.dims);
    expect(b.data).toEqual(a.data); // lossless
    expect(compressed.attributes.seriesUid).toBe(`${s.series[0]!.seriesUid}.9`);
  });
});
