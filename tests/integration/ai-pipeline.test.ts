/**
 * The AI flow end to end against the real stack (Orthanc, Redis, S3, PGlite) with the real
 * workers code in-process (the inference stage in its sandboxed child process):
 * STOW of a synthetic abdominal CT → indexer → run + BullMQ flow (fetch → volume → infer →
 * postprocess → dicom → store → report) → SEG and TID 1500 SR stored in the study → results
 * message → run, findings and the study's AI flag in the database → the findings API.
 * Also: a re-run stores no second SEG/SR (deterministic UIDs), a gantry-tilted series fails once
 * with its reason visible, feedback, progress per stage, the facility's flagged-without-request
 * list, statistics and metrics.
 */
import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { Client } from 'minio';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findPatient } from '../../scripts/demo/patients.js';
import { generateStudy, type SynthStudy } from '../../scripts/demo/synth/study.js';
import { runIdOf } from '../../server/src/ai/trigger.js';
import { WorkStore } from '../../workers/src/ai/work-store.js';
import { loadWorkersConfig } from '../../workers/src/config.js';
import { type RunningWorkers, startWorkers } from '../../workers/src/main.js';
import { bearer, buildTestApp, stack, type TestApp, workersEnv } from '../helpers/app.js';
import { stow } from '../helpers/dicomweb.js';
import { api, PASSWORD, type ReadingWorld, setupWorld } from './reading-helpers.js';

const dcmjs = createRequire(import.meta.url)('dcmjs');
const prefix = `rl-ai-${randomBytes(4).toString('hex')}`;
const orthanc = stack().orthanc;
const orthancAuth = `Basic ${Buffer.from(`${orthanc.username}:${orthanc.password}`).toString('base64')}`;

let t: TestApp;
let w: ReadingWorld;
let workers: RunningWorkers;
let manager: string;
let admin: string;
let ct: SynthStudy;

interface Finding {
  findingId: string;
  label: string;
  segmentNumber: number;
  centroidLps: number[];
  referencedSopInstanceUid: string;
  longestDiameterMm: number;
  volumeMl: number;
  meanIntensity: number;
  confidence: number;
  feedback: null | { verdict: string; by: string; at: string };
}
interface Result {
  resultId: string;
  seriesUid: string;
  model: { id: string; version: string; name: string };
  status: string;
  shadow: boolean;
  segSeriesUid: string | null;
  segSopInstanceUid: string | null;
  srSopInstanceUid: string | null;
  flagged: boolean;
  failureReason: string | null;
  findings: Finding[];
}

async function waitFor<T>(what: string, fn: () => Promise<T | undefined>, ms = 150_000): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

async function results(token: string, studyUid: string): Promise<Result[]> {
  const res = await api(t, token, 'GET', `/api/studies/${studyUid}/ai-results`);
  expect(res.statusCode, res.body).toBe(200);
  return (res.json() as { results: Result[] }).results;
}

/** Results once every run of the study has finished. */
function finished(token: string, studyUid: string, count = 1) {
  return waitFor(`AI results of ${studyUid}`, async () => {
    const r = await results(token, studyUid);
    return r.length >= count && r.every((x) => !['queued', 'running'].includes(x.status)) ? r : undefined;
  });
}

async function orthancJson<T>(path: string, init: RequestInit = {}): Promise<T> {
  const res = await fetch(`${orthanc.url}${path}`, {
    ...init,
    headers: { authorization: orthancAuth, ...init.headers },
  });
  expect(res.ok, `${path}: ${res.status}`).toBe(true);
  return (await res.json()) as T;
}

/** Instances of each modality in a study, as Orthanc holds them. */
async function modalitiesInOrthanc(studyUid: string): Promise<Record<string, number>> {
  const [hit] = await orthancJson<Array<{ ID: string }>>('/tools/lookup', { method: 'POST', body: studyUid });
  const series = await orthancJson<Array<{ MainDicomTags: { Modality: string }; Instances: string[] }>>(
    `/studies/${hit!.ID}/series`,
  );
  const out: Record<string, number> = {};
  for (const s of series)
    out[s.MainDicomTags.Modality] = (out[s.MainDicomTags.Modality] ?? 0) + s.Instances.length;
  return out;
}

async function readFromOrthanc(sopInstanceUid: string): Promise<Record<string, unknown>> {
  const [hit] = await orthancJson<Array<{ ID: string }>>('/tools/lookup', {
    method: 'POST',
    body: sopInstanceUid,
  });
  const res = await fetch(`${orthanc.url}/instances/${hit!.ID}/file`, {
    headers: { authorization: orthancAuth },
  });
  const ab = await res.arrayBuffer();
  const file = dcmjs.data.DicomMessage.readFile(ab);
  return dcmjs.data.DicomMetaDictionary.naturalizeDataset(file.dict);
}

function stowStudy(token: string, s: SynthStudy) {
  return stow(
    t,
    token,
    s.series[0]!.instances.map((b) => Buffer.from(b)),
  );
}

beforeAll(async () => {
  t = await buildTestApp({ name: 'ai-pipeline', env: { RADLINK_QUEUE_PREFIX: prefix } });
  w = await setupWorld(t, `ai${randomBytes(2).toString('hex')}`);
  admin = await t.adminToken();
  const mm = await api(t, admin, 'POST', '/api/users', {
    username: `models.${prefix}`,
    displayName: 'Quản lý mô hình',
    role: 'model_manager',
    facilityId: null,
    password: PASSWORD,
  });
  expect(mm.statusCode, mm.body).toBe(201);
  manager = await t.login(`models.${prefix}`, PASSWORD);
  const log = pino(
    { level: 'info' },
    pino.destination({ dest: join(stack().logDir, 'workers-ai-pipeline-test.log'), mkdir: true, sync: true }),
  );
  workers = await startWorkers(
    loadWorkersConfig(workersEnv(stack(), { RADLINK_QUEUE_PREFIX: prefix, RADLINK_WORKERS: 'ai' })),
    log,
  );
  // The workers validate the bundled models and announce them; the gateway registers them.
  await waitFor(
    'bundled models',
    async () => {
      const res = await api(t, manager, 'GET', '/api/ai/models');
      const list = res.json() as Array<{ modelId: string; status: string }>;
      return list.some((m) => m.modelId === 'liver-lesion-ct' && m.status === 'enabled') ? list : undefined;
    },
    60_000,
  );
  ct = generateStudy({
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
}, 240_000);

afterAll(async () => {
  await workers?.close();
  await t?.close();
});

describe('AI flow', () => {
  let result: Result;

  it('turns a stored CT into findings, a SEG and a TID 1500 SR in the study, and flags the study', async () => {
    const res = await stowStudy(w.tokens.doctor, ct);
    expect(res.statusCode, res.body).toBe(200);
    const studyUid = ct.study.studyUid;
    const [r] = await finished(w.tokens.doctor, studyUid);
    result = r!;
    expect(result.status, result.failureReason ?? '').toBe('completed');
    expect(result.model).toMatchObject({ id: 'liver-lesion-ct', version: '1.0.0' });
    expect(result.seriesUid).toBe(ct.series[0]!.seriesUid);
    expect(result.flagged).toBe(true);
    expect(result.shadow).toBe(false);
    // Every ground-truth lesion has a finding whose centroid lies within its radius.
    for (const l of ct.groundTruth.lesions) {
      const near = result.findings.find(
        (f) => Math.hypot(...f.centroidLps.map((c, a) => c - l.centreMm[a]!)) < l.minRadiusMm,
      );
      expect(near, `lesion ${l.id}`).toBeDefined();
      expect(near!.longestDiameterMm).toBeGreaterThan(0.6 * l.axialLongestDiameterMm);
      expect(near!.volumeMl).toBeGreaterThan(0);
      expect(near!.meanIntensity).toBeLessThan(100);
      expect(near!.confidence).toBeGreaterThanOrEqual(0.5);
    }
    const sourceSops = new Set(ct.series[0]!.instances.map((b) => readSop(b)));
    for (const f of result.findings) expect(sourceSops.has(f.referencedSopInstanceUid)).toBe(true);
    // The gateway flagged the study, so the worklist sorts it first within its priority.
    const [row] = await t.db.query<{ ai_flag: boolean }>('SELECT ai_flag FROM studies WHERE study_uid = $1', [
      studyUid,
    ]);
    expect(row?.ai_flag).toBe(true);

    // One SEG and one SR in the study, in Orthanc.
    const counts = await waitFor(
      'SEG and SR in Orthanc',
      async () => {
        const c = await modalitiesInOrthanc(studyUid);
        return c.SEG === 1 && c.SR === 1 ? c : undefined;
      },
      20_000,
    );
    expect(counts.CT).toBe(80);

    const seg = await readFromOrthanc(result.segSopInstanceUid!);
    expect(seg.SOPClassUID).toBe('1.2.840.10008.5.1.4.1.1.66.4');
    expect(seg.StudyInstanceUID).toBe(studyUid);
    expect(seg.SeriesInstanceUID).toBe(result.segSeriesUid);
    expect(seg.FrameOfReferenceUID).toBe(ct.study.frameOfReferenceUid);
    expect((seg.ReferencedSeriesSequence as Array<{ SeriesInstanceUID: string }>)[0]!.SeriesInstanceUID).toBe(
      result.seriesUid,
    );
    const segments = seg.SegmentSequence as Array<Record<string, unknown>>;
    expect(segments).toHaveLength(result.findings.length);
    expect(String(segments[0]!.SegmentLabel)).toMatch(/^Focal liver lesion \d+$/);
    expect(segments[0]!.SegmentAlgorithmName).toBe('RadLink liver lesion CT');
    expect(
      (segments[0]!.SegmentedPropertyTypeCodeSequence as Array<{ CodeValue: string }>)[0]!.CodeValue,
    ).toBe('52988006');
    const equipment = (seg.ContributingEquipmentSequence as Array<Record<string, unknown>>)[0]!;
    expect(equipment.ManufacturerModelName).toBe('RadLink liver lesion CT');
    expect(String(equipment.SoftwareVersions)).toContain('1.0.0');

    const sr = await readFromOrthanc(result.srSopInstanceUid!);
    expect(sr.SOPClassUID).toBe('1.2.840.10008.5.1.4.1.1.88.34');
    expect((sr.ContentTemplateSequence as Array<{ TemplateIdentifier: string }>)[0]!.TemplateIdentifier).toBe(
      '1500',
    );
    expect(
      (sr.ContributingEquipmentSequence as Array<{ ManufacturerModelName: string }>)[0]!
        .ManufacturerModelName,
    ).toBe('RadLink liver lesion CT');
    const content = sr.ContentSequence as Array<Record<string, unknown>>;
    const measurements = content.find(
      (c) => (c.ConceptNameCodeSequence as Array<{ CodeValue: string }>)[0]!.CodeValue === '126010',
    )!;
    const groups = measurements.ContentSequence as Array<Record<string, unknown>>;
    expect(groups).toHaveLength(result.findings.length);
    const algo = JSON.stringify(groups[0]);
    expect(algo).toContain('Algorithm Name');
    expect(algo).toContain('RadLink liver lesion CT');
    expect(algo).toContain('Long Axis');
  }, 200_000);

  it('leaves no intermediate objects in S3 once a run is done', async () => {
    const s3 = stack().s3;
    const u = new URL(s3.endpoint);
    const client = new Client({
      endPoint: u.hostname,
      port: Number(u.port),
      useSSL: false,
      accessKey: s3.accessKey,
      secretKey: s3.secretKey,
      region: s3.region,
      pathStyle: true,
    });
    const left: string[] = [];
    // The prefix the work store writes a run's objects under.
    const prefix = new WorkStore(client, s3.bucket).key(result.resultId, 1, '');
    expect(prefix).toContain(result.resultId);
    for await (const o of client.listObjectsV2(s3.bucket, prefix, true))
      left.push((o as { name: string }).name);
    expect(left).toEqual([]);
  });

  it('shows progress per stage, and the same flag to the facility that has not requested a read', async () => {
    const runRes = await api(t, manager, 'GET', `/api/ai/runs/${result.resultId}`);
    expect(runRes.statusCode, runRes.body).toBe(200);
    const run = runRes.json() as {
      run: {
        status: string;
        timings: Record<string, { waitMs: number; runMs: number }>;
        inferenceMs: number;
      };
      stages: Array<{ stage: string; state: string; progress: number | null }>;
    };
    expect(run.stages.map((s) => s.stage)).toEqual([
      'fetch',
      'volume',
      'infer',
      'postprocess',
      'dicom',
      'store',
      'report',
    ]);
    expect(run.stages.every((s) => s.state === 'completed')).toBe(true);
    expect(run.stages.find((s) => s.stage === 'infer')!.progress).toBe(70);
    expect(Object.keys(run.run.timings)).toHaveLength(7);
    expect(run.run.inferenceMs).toBeGreaterThan(0);

    const flagged = await api(t, w.tokens.doctor, 'GET', '/api/ai/flagged-studies');
    expect(flagged.statusCode, flagged.body).toBe(200);
    const list = flagged.json() as Array<{ studyUid: string; prompt: string; reasons: string[] }>;
    const mine = list.find((s) => s.studyUid === ct.study.studyUid);
    expect(mine?.prompt).toMatch(/request a remote read/);
    expect(mine?.reasons[0]).toMatch(/finding/);
    // Another facility's staff do not see it, nor its results.
    const other = await api(t, w.tokens.otherDoctor, 'GET', '/api/ai/flagged-studies');
    expect((other.json() as Array<{ studyUid: string }>).some((s) => s.studyUid === ct.study.studyUid)).toBe(
      false,
    );
    expect(
      (await api(t, w.tokens.otherRad, 'GET', `/api/studies/${ct.study.studyUid}/ai-results`)).statusCode,
    ).toBe(404);

    // Once a read is requested, the prompt goes away; the reading radiologist sees the results.
    const req = await api(t, w.tokens.doctor, 'POST', '/api/requests', {
      studyUid: ct.study.studyUid,
      targetFacilityId: w.central,
      priority: 'routine',
      clinicalInfo: 'Đau hạ sườn phải',
      question: 'Tổn thương gan?',
    });
    expect(req.statusCode, req.body).toBe(201);
    const after = await api(t, w.tokens.doctor, 'GET', '/api/ai/flagged-studies');
    expect((after.json() as Array<{ studyUid: string }>).some((s) => s.studyUid === ct.study.studyUid)).toBe(
      false,
    );
    const worklist = await api(t, w.tokens.rad1, 'GET', '/api/worklist');
    const item = (worklist.json() as Array<{ request: { studyUid: string }; aiFlag: boolean | null }>).find(
      (i) => i.request.studyUid === ct.study.studyUid,
    );
    expect(item?.aiFlag).toBe(true);
    expect((await results(w.tokens.rad1, ct.study.studyUid))[0]!.findings.length).toBe(
      result.findings.length,
    );
  });

  it('records radiologist feedback (latest wins, audited) and inserts findings into the draft report', async () => {
    const f = result.findings[0]!;
    const bad = await api(t, w.tokens.rad1, 'POST', `/api/ai/findings/${f.findingId}/feedback`, {
      verdict: 'maybe',
    });
    expect(bad.statusCode).toBe(400);
    const a = await api(t, w.tokens.rad1, 'POST', `/api/ai/findings/${f.findingId}/feedback`, {
      verdict: 'rejected',
    });
    expect(a.statusCode, a.body).toBe(200);
    const b = await api(t, w.tokens.rad1, 'POST', `/api/ai/findings/${f.findingId}/feedback`, {
      verdict: 'accepted',
      comment: 'Đúng tổn thương',
    });
    expect(b.statusCode, b.body).toBe(200);
    const now = (await results(w.tokens.rad1, ct.study.studyUid))[0]!.findings.find(
      (x) => x.findingId === f.findingId,
    )!;
    expect(now.feedback).toMatchObject({ verdict: 'accepted', by: 'BS. Phạm Thị Đọc' });
    // Only radiologists give feedback.
    expect(
      (
        await api(t, w.tokens.doctor, 'POST', `/api/ai/findings/${f.findingId}/feedback`, {
          verdict: 'accepted',
        })
      ).statusCode,
    ).toBe(403);
    const audit = await t.db.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM audit_events WHERE action = 'ai.finding.feedback' AND study_uid = $1`,
      [ct.study.studyUid],
    );
    expect(audit[0]!.n).toBe(2);

    const [request] = await t.db.query<{ id: string }>('SELECT id FROM read_requests WHERE study_uid = $1', [
      ct.study.studyUid,
    ]);
    expect((await api(t, w.tokens.rad1, 'POST', `/api/requests/${request!.id}/claim`)).statusCode).toBe(200);
    const draft = await api(t, w.tokens.rad1, 'PUT', `/api/requests/${request!.id}/report`, {
      templateId: 'generic',
      language: 'vi',
      fields: { findings: 'Gan to nhẹ.' },
      freeText: '',
    });
    expect(draft.statusCode, draft.body).toBe(200);
    const reportId = (draft.json() as { id: string }).id;
    const ins = await api(t, w.tokens.rad1, 'POST', `/api/reports/${reportId}/ai-findings`, {
      findingIds: result.findings.map((x) => x.findingId),
    });
    expect(ins.statusCode, ins.body).toBe(200);
    const body = ins.json() as {
      report: { fields: Record<string, string>; version: number };
      inserted: unknown[];
    };
    expect(body.inserted).toHaveLength(result.findings.length);
    expect(body.report.fields.findings).toMatch(
      /^Gan to nhẹ\.\n\[AI\] Focal liver lesion 1: đường kính lớn nhất \d+ mm/,
    );
    expect(body.report.fields.findings).toContain('AI generated — not for clinical use');
    // A finding of another study is refused.
    const foreign = await api(t, w.tokens.rad1, 'POST', `/api/reports/${reportId}/ai-findings`, {
      findingIds: ['00000000-0000-4000-8000-000000000000'],
    });
    expect(foreign.statusCode).toBe(404);
  });

  it('re-running a run stores no second SEG or SR (the UIDs derive from series, model and version)', async () => {
    const before = result;
    const rr = await api(t, manager, 'POST', `/api/ai/runs/${before.resultId}/rerun`);
    expect(rr.statusCode, rr.body).toBe(202);
    expect((rr.json() as { attempt: number }).attempt).toBe(2);
    const [again] = await waitFor('the second attempt', async () => {
      const r = await results(admin, ct.study.studyUid);
      return r[0]?.status === 'completed' ? r : undefined;
    });
    const [row] = await t.db.query<{ attempt: number }>('SELECT attempt FROM ai_runs WHERE id = $1', [
      before.resultId,
    ]);
    expect(row!.attempt).toBe(2);
    expect(again!.segSopInstanceUid).toBe(before.segSopInstanceUid);
    expect(again!.srSopInstanceUid).toBe(before.srSopInstanceUid);
    // Feedback on a finding survives the re-run (findings are keyed by index).
    expect(again!.findings.find((f) => f.feedback)?.feedback?.verdict).toBe('accepted');
    const counts = await modalitiesInOrthanc(ct.study.studyUid);
    expect(counts.SEG).toBe(1);
    expect(counts.SR).toBe(1);
  }, 200_000);

  it('re-runs a run whose jobs were lost; a series the model’s rules exclude ends skipped, with the reasons', async () => {
    // A run row without any job, as a lost enqueue would leave it (the MR model on the CT series).
    const runId = runIdOf(result.seriesUid, 'liver-lesion-mr', '1.0.0');
    await t.db.query(
      `INSERT INTO ai_runs (id, study_uid, series_uid, model_id, model_version, facility_id, status)
       VALUES ($1, $2, $3, 'liver-lesion-mr', '1.0.0', $4, 'queued')`,
      [runId, ct.study.studyUid, result.seriesUid, w.district],
    );
    const rr = await api(t, manager, 'POST', `/api/ai/runs/${runId}/rerun`);
    expect(rr.statusCode, rr.body).toBe(202);
    const run = await waitFor('the skipped run', async () => {
      const r = (await api(t, manager, 'GET', `/api/ai/runs/${runId}`)).json() as {
        run: { status: string; reason: string | null };
      };
      return r.run.status === 'skipped' ? r.run : undefined;
    });
    expect(run.reason).toMatch(/modality CT is not MR/);
    // An unknown run is not found.
    expect((await api(t, manager, 'POST', `/api/ai/runs/${'0'.repeat(32)}/rerun`)).statusCode).toBe(404);
    await t.db.query('DELETE FROM ai_runs WHERE id = $1', [runId]);
  }, 120_000);

  it('fails a gantry-tilted series once, with the reason visible through the API', async () => {
    const tilted = generateStudy({
      seed: 884_002,
      patient: findPatient('hung'),
      modality: 'CT',
      rows: 64,
      slices: 30,
      sliceThickness: 3,
      lesions: 0,
    });
    const files = tilted.series[0]!.instances.map((b) => {
      const ab = b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength);
      const file = dcmjs.data.DicomMessage.readFile(ab);
      const ds = dcmjs.data.DicomMetaDictionary.naturalizeDataset(file.dict);
      const p = ds.ImagePositionPatient as number[];
      // Each slice shifted 0.5 mm along y per mm of z: a 27° gantry tilt.
      ds.ImagePositionPatient = [p[0]!, p[1]! + 0.5 * p[2]!, p[2]!];
      file.dict = dcmjs.data.DicomMetaDictionary.denaturalizeDataset(ds);
      return Buffer.from(file.write());
    });
    const res = await stow(t, w.tokens.doctor, files);
    expect(res.statusCode, res.body).toBe(200);
    const [r] = await finished(w.tokens.doctor, tilted.study.studyUid);
    expect(r!.status).toBe('failed');
    expect(r!.failureReason).toMatch(/gantry-tilt/);
    expect(r!.flagged).toBe(false);
    const run = (await api(t, manager, 'GET', `/api/ai/runs/${r!.resultId}`)).json() as {
      run: { failedStage: string };
      stages: Array<{ stage: string; state: string; attemptsMade: number }>;
    };
    expect(run.run.failedStage).toBe('volume');
    const volume = run.stages.find((s) => s.stage === 'volume')!;
    expect(volume.state).toBe('failed');
    expect(volume.attemptsMade).toBe(1);
    const [flag] = await t.db.query<{ ai_flag: boolean | null }>(
      'SELECT ai_flag FROM studies WHERE study_uid = $1',
      [tilted.study.studyUid],
    );
    expect(flag!.ai_flag).toBeNull();
  }, 200_000);

  it('reports runs, failures, timings and acceptance per model and facility, and in /metrics', async () => {
    const res = await api(t, manager, 'GET', '/api/ai/stats');
    expect(res.statusCode, res.body).toBe(200);
    const s = res.json() as {
      models: Array<{
        modelId: string;
        runs: number;
        failed: number;
        accepted: number;
        acceptanceRate: number | null;
        meanInferenceMs: number;
      }>;
      facilities: Array<{ facilityId: string; runs: number; failed: number }>;
    };
    const m = s.models.find((x) => x.modelId === 'liver-lesion-ct')!;
    // Model-wide figures also count CT series other test files left in the shared Orthanc (this
    // app's change feed indexes them, so the model runs on them too): at least this file's runs.
    // The per-facility figures below are this file's alone, and exact.
    expect(m.runs).toBeGreaterThanOrEqual(2);
    expect(m.failed).toBeGreaterThanOrEqual(1);
    expect(m.accepted).toBe(1);
    expect(m.acceptanceRate).toBe(1);
    expect(m.meanInferenceMs).toBeGreaterThan(0);
    expect(s.facilities.find((f) => f.facilityId === w.district)).toMatchObject({ runs: 2, failed: 1 });
    // Clinicians do not see model figures.
    expect((await api(t, w.tokens.rad1, 'GET', '/api/ai/stats')).statusCode).toBe(403);
    const metrics = await t.app.inject({ method: 'GET', url: '/metrics', headers: bearer(admin) });
    expect(metrics.body).toMatch(
      /radlink_ai_runs_total\{[^}]*model="liver-lesion-ct"[^}]*outcome="completed"[^}]*\} [1-9]/,
    );
    expect(metrics.body).toMatch(/radlink_ai_runs_total\{[^}]*outcome="failed"[^}]*\} [1-9]/);
    expect(metrics.body).toMatch(/radlink_ai_acceptance_ratio\{model="liver-lesion-ct",version="1.0.0"\} 1/);
    expect(metrics.body).toMatch(
      /radlink_ai_inference_seconds_count\{model="liver-lesion-ct",version="1.0.0"\} [1-9]/,
    );
  });
});

function readSop(b: Uint8Array): string {
  const ab = b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength);
  const ds = dcmjs.data.DicomMetaDictionary.naturalizeDataset(dcmjs.data.DicomMessage.readFile(ab).dict);
  return String(ds.SOPInstanceUID);
}
