/**
 * The model registry and lifecycle through the API, with the real workers in-process: the
 * bundled models registered at start; a new version uploaded (multipart manifest + onnx) and
 * validated by a worker (invalid uploads refused with the reason); enable, rollback; shadow mode
 * (the uploaded version, fetched by the workers from S3 by hash, runs beside the enabled one:
 * its results are stored but hidden from clinicians, never flag, and write nothing into the
 * study); withdrawal of a disabled version's results (hidden, flag recomputed) and their return
 * when the version is enabled again.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findPatient } from '../../scripts/demo/patients.js';
import { generateStudy } from '../../scripts/demo/synth/study.js';
import { loadWorkersConfig } from '../../workers/src/config.js';
import { type RunningWorkers, startWorkers } from '../../workers/src/main.js';
import { bearer, buildTestApp, stack, type TestApp, workersEnv } from '../helpers/app.js';
import { stow } from '../helpers/dicomweb.js';
import { api, PASSWORD, type ReadingWorld, setupWorld } from './reading-helpers.js';

const REPO = join(import.meta.dirname, '..', '..');
const prefix = `rl-ailc-${randomBytes(4).toString('hex')}`;
const BUNDLED = join(REPO, 'models', 'liver-lesion-ct', '1.0.0');

const early = generateStudy({
  seed: 880_012,
  patient: findPatient('hung'),
  modality: 'CT',
  rows: 64,
  slices: 24,
  sliceThickness: 3,
  lesions: 0,
});

let t: TestApp;
let w: ReadingWorld;
let workers: RunningWorkers;
let manager: string;
let admin: string;

interface Model {
  modelId: string;
  version: string;
  status: string;
  source: string;
  resultsWithdrawnAt: string | null;
}
interface Result {
  resultId: string;
  model: { id: string; version: string };
  status: string;
  shadow: boolean;
  flagged: boolean;
  segSopInstanceUid: string | null;
  srSopInstanceUid: string | null;
  findings: unknown[];
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

function formData(parts: Array<{ name: string; filename: string; type: string; body: Buffer }>) {
  const boundary = `----radlink${randomBytes(8).toString('hex')}`;
  const chunks: Buffer[] = [];
  for (const p of parts) {
    chunks.push(
      Buffer.from(
        `--${boundary}\r\nContent-Disposition: form-data; name="${p.name}"; filename="${p.filename}"\r\nContent-Type: ${p.type}\r\n\r\n`,
      ),
      p.body,
      Buffer.from('\r\n'),
    );
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n`));
  return { payload: Buffer.concat(chunks), contentType: `multipart/form-data; boundary=${boundary}` };
}

function upload(token: string, manifest: object, onnx: Buffer) {
  const { payload, contentType } = formData([
    {
      name: 'manifest',
      filename: 'manifest.json',
      type: 'application/json',
      body: Buffer.from(JSON.stringify(manifest)),
    },
    { name: 'model', filename: 'model.onnx', type: 'application/octet-stream', body: onnx },
  ]);
  return t.app.inject({
    method: 'POST',
    url: '/api/ai/models',
    headers: { ...bearer(token), 'content-type': contentType },
    payload,
  });
}

async function models(): Promise<Model[]> {
  const res = await api(t, manager, 'GET', '/api/ai/models');
  expect(res.statusCode, res.body).toBe(200);
  return res.json() as Model[];
}
const statusOf = async (version: string) =>
  (await models()).find((m) => m.modelId === 'liver-lesion-ct' && m.version === version)?.status;

async function results(token: string, studyUid: string): Promise<Result[]> {
  const res = await api(t, token, 'GET', `/api/studies/${studyUid}/ai-results`);
  expect(res.statusCode, res.body).toBe(200);
  return (res.json() as { results: Result[] }).results;
}

const manifest = JSON.parse(readFileSync(join(BUNDLED, 'manifest.json'), 'utf8')) as Record<string, unknown>;
const onnx = readFileSync(join(BUNDLED, 'model.onnx'));

beforeAll(async () => {
  t = await buildTestApp({ name: 'ai-lifecycle', env: { RADLINK_QUEUE_PREFIX: prefix } });
  w = await setupWorld(t, `lc${randomBytes(2).toString('hex')}`);
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
  // A study stored before any model is registered (the workers are not running yet).
  const res = await stow(
    t,
    w.tokens.doctor,
    early.series[0]!.instances.map((b) => Buffer.from(b)),
  );
  expect(res.statusCode, res.body).toBe(200);
  const log = pino(
    { level: 'info' },
    pino.destination({
      dest: join(stack().logDir, 'workers-ai-lifecycle-test.log'),
      mkdir: true,
      sync: true,
    }),
  );
  workers = await startWorkers(
    loadWorkersConfig(workersEnv(stack(), { RADLINK_QUEUE_PREFIX: prefix, RADLINK_WORKERS: 'ai' })),
    log,
  );
  await waitFor(
    'bundled models',
    async () => {
      const list = await models();
      return list.some((m) => m.modelId === 'liver-lesion-mr') &&
        list.some((m) => m.modelId === 'liver-lesion-ct')
        ? true
        : undefined;
    },
    60_000,
  );
}, 240_000);

afterAll(async () => {
  await workers?.close();
  await t?.close();
});

describe('AI model lifecycle', () => {
  it('registers the bundled models at start, for model managers only', async () => {
    const list = await models();
    expect(list.find((m) => m.modelId === 'liver-lesion-mr')).toMatchObject({
      status: 'enabled',
      source: 'bundled',
    });
    expect((await api(t, w.tokens.rad1, 'GET', '/api/ai/models')).statusCode).toBe(403);
  });

  it('runs a model registered at start on the studies that arrived just before it', async () => {
    const r = await waitFor('the early study’s run', async () => {
      const list = await results(w.tokens.doctor, early.study.studyUid);
      return list[0] && !['queued', 'running'].includes(list[0].status) ? list : undefined;
    });
    expect(r.map((x) => [x.model.id, x.status])).toEqual([['liver-lesion-ct', 'completed']]);
  }, 120_000);

  it('validates an upload (schema and hash here, graph and dry run in a worker) and registers it disabled', async () => {
    const wrongHash = await upload(manager, { ...manifest, version: '1.0.1', sha256: '0'.repeat(64) }, onnx);
    expect(wrongHash.statusCode).toBe(400);
    expect(wrongHash.json().message).toMatch(/SHA-256/);
    const badSchema = await upload(manager, { ...manifest, version: 'one' }, onnx);
    expect(badSchema.statusCode).toBe(400);
    expect(badSchema.json().message).toMatch(/\/version/);
    const wrongInput = await upload(
      manager,
      { ...manifest, version: '1.0.9', input: { ...(manifest.input as object), name: 'pixels' } },
      onnx,
    );
    expect(wrongInput.statusCode, wrongInput.body).toBe(400);
    expect(wrongInput.json().message).toMatch(/no input "pixels"/);
    const empty = formData([
      { name: 'manifest', filename: 'manifest.json', type: 'application/json', body: Buffer.from('{}') },
    ]);
    const missingPart = await t.app.inject({
      method: 'POST',
      url: '/api/ai/models',
      headers: { ...bearer(manager), 'content-type': empty.contentType },
      payload: empty.payload,
    });
    expect(missingPart.statusCode).toBe(400);

    const ok = await upload(manager, { ...manifest, version: '1.0.1' }, onnx);
    expect(ok.statusCode, ok.body).toBe(201);
    expect(ok.json()).toMatchObject({
      modelId: 'liver-lesion-ct',
      version: '1.0.1',
      status: 'disabled',
      source: 'uploaded',
    });
    expect((await upload(manager, { ...manifest, version: '1.0.1' }, onnx)).statusCode).toBe(409);
    expect(
      (await api(t, w.tokens.rad1, 'POST', '/api/ai/models/liver-lesion-ct/versions/1.0.1/enable'))
        .statusCode,
    ).toBe(403);
  }, 120_000);

  it('enables one version at a time and rolls back to the previous one', async () => {
    const en = await api(t, manager, 'POST', '/api/ai/models/liver-lesion-ct/versions/1.0.1/enable');
    expect(en.statusCode, en.body).toBe(200);
    expect(await statusOf('1.0.1')).toBe('enabled');
    expect(await statusOf('1.0.0')).toBe('disabled');
    const rb = await api(t, manager, 'POST', '/api/ai/models/liver-lesion-ct/rollback');
    expect(rb.statusCode, rb.body).toBe(200);
    expect(rb.json()).toMatchObject({ version: '1.0.0', status: 'enabled' });
    expect(await statusOf('1.0.1')).toBe('disabled');
    expect((await api(t, manager, 'POST', '/api/ai/models/no-such-model/rollback')).statusCode).toBe(404);
  });

  it('runs a shadow version beside the enabled one (fetched from S3), hidden from clinicians; withdraws a disabled version', async () => {
    expect(
      (await api(t, manager, 'POST', '/api/ai/models/liver-lesion-ct/versions/1.0.1/shadow')).statusCode,
    ).toBe(200);
    const study = generateStudy({
      seed: 880_011,
      patient: findPatient('hung'),
      modality: 'CT',
      rows: 128,
      slices: 80,
      lesions: [{ diameterMm: 30, contrast: -60 }],
    });
    const res = await stow(
      t,
      w.tokens.doctor,
      study.series[0]!.instances.map((b) => Buffer.from(b)),
    );
    expect(res.statusCode, res.body).toBe(200);
    const studyUid = study.study.studyUid;
    const all = await waitFor('both runs', async () => {
      const r = await results(admin, studyUid);
      return r.length === 2 && r.every((x) => x.status === 'completed') ? r : undefined;
    });
    const live = all.find((r) => r.model.version === '1.0.0')!;
    const shadow = all.find((r) => r.model.version === '1.0.1')!;
    expect(live).toMatchObject({ shadow: false, flagged: true });
    expect(shadow).toMatchObject({
      shadow: true,
      flagged: false,
      segSopInstanceUid: null,
      srSopInstanceUid: null,
    });
    expect(shadow.findings.length).toBe(live.findings.length);
    // The uploaded version's network came from S3, by hash, into the workers' cache.
    expect(
      existsSync(join(stack().dataDir, 'tmp', 'ai-models', 'liver-lesion-ct', '1.0.1', 'model.onnx')),
    ).toBe(true);
    const clinician = await results(w.tokens.doctor, studyUid);
    expect(clinician.map((r) => r.model.version)).toEqual(['1.0.0']);

    // Withdrawal needs a disabled version; it hides the results and clears the flag.
    expect(
      (await api(t, manager, 'POST', '/api/ai/models/liver-lesion-ct/versions/1.0.0/withdraw')).statusCode,
    ).toBe(409);
    expect(
      (await api(t, manager, 'POST', '/api/ai/models/liver-lesion-ct/versions/1.0.0/disable')).statusCode,
    ).toBe(200);
    // Every 1.0.0 run is withdrawn (other files' studies in the shared Orthanc are indexed here too).
    const [visible] = await t.db.query<{ runs: number; studies: number }>(
      `SELECT count(*)::int AS runs, count(DISTINCT study_uid)::int AS studies FROM ai_runs
        WHERE model_id = 'liver-lesion-ct' AND model_version = '1.0.0' AND withdrawn_at IS NULL`,
    );
    expect(visible!.runs).toBeGreaterThanOrEqual(2);
    const wd = await api(t, manager, 'POST', '/api/ai/models/liver-lesion-ct/versions/1.0.0/withdraw');
    expect(wd.statusCode, wd.body).toBe(200);
    expect(wd.json()).toEqual(visible);
    expect(await results(w.tokens.doctor, studyUid)).toEqual([]);
    expect((await results(admin, studyUid)).map((r) => r.model.version)).toEqual(['1.0.1']);
    const flag = async () =>
      (
        await t.db.query<{ ai_flag: boolean | null }>('SELECT ai_flag FROM studies WHERE study_uid = $1', [
          studyUid,
        ])
      )[0]!.ai_flag;
    expect(await flag()).toBe(false);
    const flagged = await api(t, w.tokens.doctor, 'GET', '/api/ai/flagged-studies');
    expect((flagged.json() as Array<{ studyUid: string }>).some((s) => s.studyUid === studyUid)).toBe(false);
    expect((await models()).find((m) => m.version === '1.0.0')!.resultsWithdrawnAt).not.toBeNull();

    // Enabling the version again brings its results back.
    expect(
      (await api(t, manager, 'POST', '/api/ai/models/liver-lesion-ct/versions/1.0.0/enable')).statusCode,
    ).toBe(200);
    expect(await flag()).toBe(true);
    expect((await results(w.tokens.doctor, studyUid)).map((r) => r.flagged)).toEqual([true]);
  }, 200_000);
});
