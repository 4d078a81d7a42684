/**
 * The authorization matrix (issue 7, item 1): every actor (one per role and facility relation,
 * plus a share-link patient and an unauthenticated caller) against every study relation (own,
 * granted by a read request, prior of the granted study, another facility's, the share link's
 * study and another of the same patient, a grant revoked by cancelling its request, break-glass)
 * through every surface: QIDO (scoped and broad), WADO-RS, WADO-URI, STOW, the workflow API,
 * key images, admin routes and the API calls of the viewer's pages; then, on the reading side:
 * specialty pools and webhooks per facility (own, another), signing (enrolment, the draft and its
 * signature by the claim holder with the PIN, addenda, the public check by the printed code), and
 * the live event stream (`GET /api/events` over real HTTP: every actor's stream must receive the
 * events of the requests it is party to, STAT alerts only when addressed, and nothing else,
 * live and replayed by Last-Event-ID), and each facility's webhook (the events of the requests
 * it sends or reads, signed, STAT alerts to the reading facility only).
 *
 * Each cell's expected answer comes from the test's own grants model (authz-fixtures.ts `sees`,
 * `party` and the role table `R` below), never from the server's policy code:
 *   allow     2xx (lists: the row is present)
 *   hidden    404 (lists: the row is absent; STOW: refused 409 with FailureReason 0x0124)
 *   forbidden 403, role refused whatever the study
 *   unauth    401
 *   invalid   400; conflict 409; redacted: listed without the patient's identity
 * Every denied answer is also checked to hold no patient name or ID (and, for STOW, not the
 * owner's facility), and every 404 for an out-of-scope study to be the very answer a study that
 * does not exist gets (no existence oracle). The figures go to stdout and test-artifacts/authz-matrix.json; any mismatch
 * fails the phase it belongs to and is listed cell by cell.
 */
import { createHmac } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearer, buildTestApp, type TestApp } from '../helpers/app.js';
import { newUid } from '../helpers/dicom.js';
import { stowBody } from '../helpers/dicomweb.js';
import {
  type Actor,
  type ActorKey,
  buildWorld,
  type FacilityKey,
  instanceInto,
  party,
  type ReadRequest,
  type RequestKey,
  type Role,
  readerSide,
  SIGN_PIN,
  SseStream,
  type Study,
  type StudyKey,
  sees,
  seesReport,
  signAndShare,
  type World,
} from './authz-fixtures.js';
import { orthancHas } from './ops-helpers.js';

type Outcome = 'allow' | 'hidden' | 'forbidden' | 'unauth' | 'invalid' | 'conflict' | 'redacted' | string;
type Method = 'GET' | 'POST' | 'PUT' | 'DELETE';
interface Probe {
  method: Method;
  url: string;
  headers?: Record<string, string>;
  payload?: string | Buffer | object;
  /** STOW: the SOP Instance UID sent, to prove a refused instance was stored nowhere. */
  sopUid?: string;
}
interface Res {
  statusCode: number;
  body: string;
}
interface Cell {
  phase: string;
  /** An actor, or a facility's webhook endpoint (`webhook <facility>`). */
  actor: ActorKey | `webhook ${FacilityKey}`;
  subject: string;
  surface: string;
  expected: Outcome;
  actual: Outcome;
  status: number;
  /** Time of the request(s) behind the cell. */
  ms?: number;
  note?: string;
}

/** Which roles a route admits at all (before any study or request scope), from the README's access rules. */
const roles = (...r: Role[]): readonly Role[] => r;
const R = {
  imageViewers: roles('system_admin', 'facility_admin', 'radiologist', 'referring_doctor', 'patient'),
  imageReaders: roles('system_admin', 'facility_admin', 'radiologist', 'referring_doctor'),
  reading: roles('system_admin', 'facility_admin', 'radiologist', 'referring_doctor'),
  readers: roles('system_admin', 'facility_admin', 'radiologist'),
  shareManagers: roles('system_admin', 'facility_admin', 'radiologist', 'referring_doctor'),
  admins: roles('system_admin', 'facility_admin'),
  sysAdmin: roles('system_admin'),
  aiManagers: roles('system_admin', 'model_manager'),
  patient: roles('patient'),
  anyUser: roles('system_admin', 'facility_admin', 'radiologist', 'referring_doctor', 'model_manager'),
  breakGlass: roles('radiologist', 'referring_doctor'),
  claim: roles('radiologist'),
  /** Signing, addenda, enrolment, key-image marking. */
  radiologists: roles('radiologist'),
};

const DICOM = 'multipart/related; type="application/dicom"; transfer-syntax=*';
const OCTETS = 'multipart/related; type="application/octet-stream"; transfer-syntax=*';
const JSON_DICOM = 'application/dicom+json';
const ACTOR_ORDER: ActorKey[] = [
  'anon',
  'patient',
  'modelManager',
  'sysAdmin',
  'rad',
  'centralAdmin',
  'doc',
  'districtAdmin',
  'communeDoc',
  'otherRad',
];
const STUDY_ORDER: StudyKey[] = ['D_OWN', 'D_PRIOR', 'D_OTHERPAT', 'D_CANCEL', 'C_OWN', 'X_OTHER'];

let t: TestApp;
let w: World;
const cells: Cell[] = [];
const started = Date.now();
/** Seconds per stage, for the figures. */
const stages: Record<string, number> = {};
async function stage<T>(name: string, fn: () => Promise<T>): Promise<T> {
  const t0 = Date.now();
  try {
    return await fn();
  } finally {
    stages[name] = Math.round((Date.now() - t0) / 100) / 10;
  }
}
let stowSeed = 1000;
/** SOP Instance UIDs of every refused STOW: none may be in the index or in Orthanc. */
const refusedSops: string[] = [];

async function storedAnywhere(sops: string[]): Promise<string[]> {
  const indexed = await t.db.query<{ sop_instance_uid: string }>(
    'SELECT sop_instance_uid FROM instances WHERE sop_instance_uid = ANY ($1)',
    [sops],
  );
  const found = indexed.map((r) => `index: ${r.sop_instance_uid}`);
  await pool(sops, 6, async (sop) => {
    if (await orthancHas(t.app.orthanc, sop)) found.push(`Orthanc: ${sop}`);
  });
  return found;
}

function classify(status: number): Outcome {
  if (status >= 200 && status < 300) return 'allow';
  return (
    (
      { 400: 'invalid', 401: 'unauth', 403: 'forbidden', 404: 'hidden', 409: 'conflict' } as Record<
        number,
        string
      >
    )[status] ?? `status ${status}`
  );
}

async function call(a: Actor, p: Probe): Promise<Res> {
  const headers: Record<string, string> = { ...(p.headers ?? {}) };
  if (a.token) Object.assign(headers, bearer(a.token));
  const res = await t.app.inject({
    method: p.method,
    url: p.url,
    headers,
    ...(p.payload !== undefined ? { payload: p.payload } : {}),
  });
  return { statusCode: res.statusCode, body: res.body };
}

/**
 * The no-leak rule of denied answers: no patient name or ID, and (STOW) not the owning facility.
 * The note names what leaked without quoting it: the artefact must hold no patient data either.
 */
function leakIn(body: string, owner: string[] = []): string | undefined {
  if (w.patientSecrets.some((s) => body.includes(s))) return 'denied answer reveals a patient name or ID';
  if (owner.some((s) => body.includes(s))) return 'denied answer names the owning facility';
  return undefined;
}

function record(c: Omit<Cell, 'note'>, res: Res, opts: { noLeak?: string[]; note?: string } = {}): void {
  const cell: Cell = { ...c, ...(opts.note ? { note: opts.note } : {}) };
  if (c.actual !== 'allow' && c.actual !== 'redacted') {
    const leak = leakIn(res.body, opts.noLeak);
    if (leak) cell.note = cell.note ? `${cell.note}; ${leak}` : leak;
  }
  if (cell.actual !== cell.expected && !cell.note) cell.note = `answered ${res.statusCode}`;
  cells.push(cell);
}

/** Runs tasks with a few in flight: the app answers injects concurrently, the machine has 2 cores. */
async function pool<T>(items: T[], n: number, fn: (x: T) => Promise<void>): Promise<void> {
  let i = 0;
  await Promise.all(
    Array.from({ length: n }, async () => {
      while (i < items.length) await fn(items[i++]!);
    }),
  );
}

const mismatches = (phase: string) =>
  cells
    .filter((c) => c.phase === phase && (c.actual !== c.expected || c.note))
    .map(
      (c) => `${c.actor} × ${c.subject} × ${c.surface}: expected ${c.expected}, got ${c.actual} (${c.note})`,
    );

const actorsNow = () => ACTOR_ORDER.filter((k) => w.actors[k]).map((k) => w.actors[k]);

// ---------------------------------------------------------------------------------------------
// Study surfaces: one probe per study; `list` surfaces judge presence in a 200 answer.

interface StudySurface {
  id: string;
  admits: readonly Role[];
  probe(s: Study): Probe;
  /** For searches: whether the study is in the answer. */
  present?(body: string, s: Study): boolean;
  /** For STOW: map the answer to an outcome (a refused instance is a 409 with a FailureReason). */
  judge?(res: Res): Outcome;
  /** In-scope answer when the route narrows further than study access (share links). */
  inScope?(a: Actor, s: StudyKey): Outcome;
  /** Sent by the same actor just before the probe (unmarking needs a mark); its answer is not judged. */
  setup?(s: Study): Probe;
  /** Cells of this surface on one study run one at a time (they share state: the study's key images). */
  serial?: boolean;
}

const S = (s: Study) => `/dicom-web/studies/${s.studyUid}`;
const SE = (s: Study) => `${S(s)}/series/${s.seriesUid}`;
const I = (s: Study) => `${SE(s)}/instances/${s.sopUid}`;
const get = (url: string, accept?: string): Probe => ({
  method: 'GET',
  url,
  ...(accept ? { headers: { accept } } : {}),
});
const has = (field: 'studyUid' | 'seriesUid' | 'sopUid') => (body: string, s: Study) =>
  body.includes(s[field]);

function stowJudge(res: Res): Outcome {
  if (res.statusCode !== 409) return classify(res.statusCode);
  // Refused as "not authorised" (0x0124 = 292): the answer a foreign study gets, saying nothing of whose.
  return res.body.includes('"00081197"') && /"Value":\s*\[\s*292\s*\]/.test(res.body) ? 'hidden' : 'conflict';
}

function stowProbe(s: Study, withUid: boolean): Probe {
  const inst = instanceInto(s, ++stowSeed);
  const { payload, contentType } = stowBody([inst.bytes]);
  return {
    sopUid: inst.sopUid,
    method: 'POST',
    url: withUid ? S(s) : '/dicom-web/studies',
    headers: { 'content-type': contentType, accept: JSON_DICOM },
    payload,
  };
}

const STUDY_SURFACES: StudySurface[] = [
  // QIDO-RS searches (a hidden study is simply absent) and study-scoped forms (404).
  {
    id: 'qido.studies?StudyInstanceUID',
    admits: R.imageViewers,
    probe: (s) => get(`/dicom-web/studies?StudyInstanceUID=${s.studyUid}`, JSON_DICOM),
    present: has('studyUid'),
  },
  {
    id: 'qido.studies?PatientID (priors)',
    admits: R.imageViewers,
    probe: (s) => get(`/dicom-web/studies?PatientID=${encodeURIComponent(s.patientId)}&limit=50`, JSON_DICOM),
    present: has('studyUid'),
  },
  {
    id: 'qido.series?StudyInstanceUID',
    admits: R.imageViewers,
    probe: (s) => get(`/dicom-web/series?StudyInstanceUID=${s.studyUid}`, JSON_DICOM),
    present: has('seriesUid'),
  },
  {
    id: 'qido.instances?StudyInstanceUID',
    admits: R.imageViewers,
    probe: (s) => get(`/dicom-web/instances?StudyInstanceUID=${s.studyUid}`, JSON_DICOM),
    present: has('sopUid'),
  },
  { id: 'qido.study/series', admits: R.imageViewers, probe: (s) => get(`${S(s)}/series`, JSON_DICOM) },
  { id: 'qido.study/instances', admits: R.imageViewers, probe: (s) => get(`${S(s)}/instances`, JSON_DICOM) },
  {
    id: 'qido.study/series/instances',
    admits: R.imageViewers,
    probe: (s) => get(`${SE(s)}/instances`, JSON_DICOM),
  },
  // WADO-RS
  { id: 'wado.study', admits: R.imageViewers, probe: (s) => get(S(s), DICOM) },
  { id: 'wado.series', admits: R.imageViewers, probe: (s) => get(SE(s), DICOM) },
  { id: 'wado.instance', admits: R.imageViewers, probe: (s) => get(I(s), DICOM) },
  { id: 'wado.study/metadata', admits: R.imageViewers, probe: (s) => get(`${S(s)}/metadata`, JSON_DICOM) },
  { id: 'wado.series/metadata', admits: R.imageViewers, probe: (s) => get(`${SE(s)}/metadata`, JSON_DICOM) },
  { id: 'wado.instance/metadata', admits: R.imageViewers, probe: (s) => get(`${I(s)}/metadata`, JSON_DICOM) },
  { id: 'wado.frames', admits: R.imageViewers, probe: (s) => get(`${I(s)}/frames/1`, OCTETS) },
  { id: 'wado.bulk', admits: R.imageViewers, probe: (s) => get(`${I(s)}/bulk/7fe00010`) },
  {
    id: 'wado.instance/rendered',
    admits: R.imageViewers,
    probe: (s) => get(`${I(s)}/rendered`, 'image/jpeg'),
  },
  {
    id: 'wado.frames/rendered',
    admits: R.imageViewers,
    probe: (s) => get(`${I(s)}/frames/1/rendered?quality=85`, 'image/jpeg'),
  },
  {
    id: 'wado.series/rendered',
    admits: R.imageViewers,
    probe: (s) => get(`${SE(s)}/rendered`, 'image/jpeg'),
  },
  {
    id: 'wado.study/thumbnail',
    admits: R.imageViewers,
    probe: (s) => get(`${S(s)}/thumbnail`, 'image/jpeg'),
  },
  {
    id: 'wado.series/thumbnail',
    admits: R.imageViewers,
    probe: (s) => get(`${SE(s)}/thumbnail`, 'image/jpeg'),
  },
  {
    id: 'wado.instance/thumbnail',
    admits: R.imageViewers,
    probe: (s) => get(`${I(s)}/thumbnail`, 'image/jpeg'),
  },
  // WADO-URI
  {
    id: 'wado-uri',
    admits: R.imageViewers,
    probe: (s) =>
      get(
        `/wado?requestType=WADO&studyUID=${s.studyUid}&seriesUID=${s.seriesUid}&objectUID=${s.sopUid}&contentType=application/dicom`,
      ),
  },
  // STOW-RS into the study, by body and by URL.
  { id: 'stow.studies', admits: R.imageReaders, probe: (s) => stowProbe(s, false), judge: stowJudge },
  { id: 'stow.studies/{uid}', admits: R.imageReaders, probe: (s) => stowProbe(s, true), judge: stowJudge },
  // Workflow API on a study
  {
    id: 'study.media.zip',
    admits: R.imageViewers,
    probe: (s) => get(`/api/studies/${s.studyUid}/media.zip`),
  },
  {
    id: 'study.ai-results',
    admits: R.imageReaders,
    probe: (s) => get(`/api/studies/${s.studyUid}/ai-results`),
  },
  {
    id: 'study.share-links',
    admits: R.shareManagers,
    probe: (s) => get(`/api/studies/${s.studyUid}/share-links`),
    // Within scope, only the owning facility's staff or the radiologist who signed may manage links.
    inScope: (a, s) => {
      const owner = a.facility === w.model.studies[s].owner && a.role !== 'system_admin';
      const signer = a.role === 'radiologist' && w.model.signedBy[s] === a.key;
      return a.role === 'system_admin' || owner || signer ? 'allow' : 'forbidden';
    },
  },
];

// Key images (server/src/reading/key-images): the list for staff with access to the study,
// marking and unmarking for radiologists with access. Unmarking is probed right after the same
// actor marked the image, so an allowed actor's 204 and a refused one's answer both mean something.
const KI = (s: Study) => `/api/studies/${s.studyUid}/key-images`;
STUDY_SURFACES.push(
  { id: 'key-images.list', admits: R.imageReaders, probe: (s) => get(KI(s)) },
  {
    id: 'key-images.mark',
    admits: R.radiologists,
    probe: (s) => ({ method: 'PUT', url: `${KI(s)}/${s.sopUid}`, payload: { note: 'Đối chiếu phim cũ' } }),
  },
  {
    id: 'key-images.unmark',
    admits: R.radiologists,
    setup: (s) => ({ method: 'PUT', url: `${KI(s)}/${s.sopUid}/1`, payload: {} }),
    serial: true,
    probe: (s) => ({ method: 'DELETE', url: `${KI(s)}/${s.sopUid}/1` }),
  },
);

/** Runs fn after every earlier fn of the same key has finished. */
const lanes = new Map<string, Promise<unknown>>();
function serially<T>(key: string, fn: () => Promise<T>): Promise<T> {
  const run = (lanes.get(key) ?? Promise.resolve()).then(fn, fn);
  lanes.set(
    key,
    run.catch(() => undefined),
  );
  return run;
}

const STOW_SURFACES = STUDY_SURFACES.filter((sf) => sf.judge);
const READ_SURFACES = STUDY_SURFACES.filter((sf) => !sf.judge);

function expectStudy(sf: StudySurface, a: Actor, s: StudyKey): Outcome {
  if (!a.token) return 'unauth';
  if (!sf.admits.includes(a.role)) return refused(a);
  if (!sees(w.model, a, s)) return 'hidden';
  return sf.inScope?.(a, s) ?? 'allow';
}

async function runStudyCells(phase: string, studies: StudyKey[], surfaces: StudySurface[]): Promise<void> {
  const jobs: [Actor, StudyKey, StudySurface][] = [];
  for (const a of actorsNow()) for (const s of studies) for (const sf of surfaces) jobs.push([a, s, sf]);
  await pool(jobs, 6, async ([a, s, sf]) => {
    const study = w.model.studies[s];
    const t0 = performance.now();
    const probe = sf.probe(study);
    const run = async () => {
      if (sf.setup) await call(a, sf.setup(study));
      return call(a, probe);
    };
    const res = sf.serial ? await serially(`${sf.id} ${s}`, run) : await run();
    const ms = Math.round(performance.now() - t0);
    let actual = sf.judge ? sf.judge(res) : classify(res.statusCode);
    if (sf.present && actual === 'allow') actual = sf.present(res.body, study) ? 'allow' : 'hidden';
    if (probe.sopUid && actual !== 'allow') refusedSops.push(probe.sopUid);
    const noLeak = sf.judge ? [w.facilityIds[study.owner], w.facilityNames[study.owner]] : [];
    // A search answer may name other, visible studies of the same patient: judged by UID only.
    const listHidden = sf.present && res.statusCode === 200;
    let oracle: string | undefined;
    if (res.statusCode === 404 && !sf.present && !sf.judge) oracle = await existenceOracle(a, sf, res);
    record(
      {
        phase,
        actor: a.key,
        subject: s,
        surface: sf.id,
        expected: expectStudy(sf, a, s),
        actual,
        status: res.statusCode,
        ms,
      },
      listHidden ? { statusCode: res.statusCode, body: '' } : res,
      { noLeak, ...(oracle ? { note: oracle } : {}) },
    );
  });
}

/** The same surface asked, by the same actor, about a study that does not exist (cached). */
const nonexistent = new Map<string, Promise<Res>>();
const GHOST: Study = {
  key: 'D_OWN',
  owner: 'district',
  patient: 'ghost',
  patientId: 'AZ-ghost',
  patientName: 'Không^Tồn Tại',
  studyUid: newUid(),
  seriesUid: newUid(),
  sopUid: newUid(),
};

/**
 * A 404 for an out-of-scope study must be the very answer a study that does not exist gets
 * (same code and message): anything else is an oracle telling that the study exists.
 */
async function existenceOracle(a: Actor, sf: StudySurface, res: Res): Promise<string | undefined> {
  const key = `${a.key} ${sf.id}`;
  if (!nonexistent.has(key)) nonexistent.set(key, call(a, sf.probe(GHOST)));
  const ghost = await nonexistent.get(key)!;
  const shape = (r: Res) => {
    try {
      const j = JSON.parse(r.body) as { code?: string; message?: string };
      return `${r.statusCode} ${j.code} ${j.message}`;
    } catch {
      return `${r.statusCode} (not JSON)`;
    }
  };
  return shape(res) === shape(ghost) ? undefined : `404 differs from a nonexistent study's (${shape(ghost)})`;
}

/** Broad searches over every study of this run: exactly the studies in scope come back. */
async function runBroadCells(phase: string): Promise<void> {
  const q = `AccessionNumber=${w.accessionPrefix}*&limit=1000`;
  const broad: [string, string, (s: Study) => string][] = [
    ['qido.broad.studies', `/dicom-web/studies?${q}`, (s) => s.studyUid],
    ['qido.broad.series', `/dicom-web/series?${q}`, (s) => s.seriesUid],
    ['qido.broad.instances', `/dicom-web/instances?${q}`, (s) => s.sopUid],
    // No filter at all: what a caller's scope holds of the whole index. Every study a non-admin
    // may see belongs to this run's facilities, so the answer is exact for them (a system admin
    // sees the whole shared archive, where a page may not reach this run's studies).
    ['qido.broad.unfiltered', '/dicom-web/studies?limit=1000', (s) => s.studyUid],
  ];
  for (const a of actorsNow()) {
    for (const [id, url, key] of broad) {
      if (id === 'qido.broad.unfiltered' && a.role === 'system_admin') continue;
      const res = await call(a, get(url, JSON_DICOM));
      for (const s of STUDY_ORDER) {
        let actual = classify(res.statusCode);
        if (actual === 'allow') actual = res.body.includes(key(w.model.studies[s])) ? 'allow' : 'hidden';
        const expected = !a.token
          ? 'unauth'
          : !R.imageViewers.includes(a.role)
            ? refused(a)
            : sees(w.model, a, s)
              ? 'allow'
              : 'hidden';
        record(
          { phase, actor: a.key, subject: s, surface: id, expected, actual, status: res.statusCode },
          res.statusCode === 200 ? { statusCode: 200, body: '' } : res,
        );
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Request and report surfaces (who is a party of a read request decides; others get 404).

interface RequestSurface {
  id: string;
  admits: readonly Role[];
  only?: RequestKey[];
  probe(r: ReadRequest): Probe;
  present?(body: string, r: ReadRequest): boolean;
  /** Answer for a party, when it differs from allow. */
  forParty?(a: Actor, r: ReadRequest): Outcome;
}

const REQUEST_SURFACES: RequestSurface[] = [
  { id: 'request.view', admits: R.reading, probe: (r) => get(`/api/requests/${r.id}`) },
  {
    id: 'request.list',
    admits: R.reading,
    probe: () => get('/api/requests?limit=200'),
    present: (body, r) => body.includes(r.id),
  },
  { id: 'request.messages', admits: R.reading, probe: (r) => get(`/api/requests/${r.id}/messages`) },
  {
    id: 'request.messages.post',
    admits: R.reading,
    probe: (r) => ({
      method: 'POST',
      url: `/api/requests/${r.id}/messages`,
      payload: { body: 'Xin gửi thêm phim chụp cũ để so sánh.' },
    }),
  },
  { id: 'request.attachments', admits: R.reading, probe: (r) => get(`/api/requests/${r.id}/attachments`) },
  {
    id: 'request.attachment.download',
    admits: R.reading,
    only: ['R1'],
    probe: (r) => get(`/api/requests/${r.id}/attachments/${w.attachmentId}?disposition=inline`),
  },
  {
    id: 'request.report',
    admits: R.reading,
    only: ['R1'],
    probe: (r) => get(`/api/requests/${r.id}/report`),
  },
  {
    // The FHIR ServiceRequest carries the Patient: a party that lost the study (grant revoked)
    // keeps the request record but not the patient's identity.
    id: 'fhir.ServiceRequest',
    admits: R.reading,
    probe: (r) => get(`/api/fhir/ServiceRequest/${r.id}`),
    forParty: (a, r) => (sees(w.model, a, r.study) ? 'allow' : 'hidden'),
  },
  { id: 'report.view', admits: R.reading, only: ['R1'], probe: () => get(`/api/reports/${w.reportId}`) },
  {
    id: 'report.verify',
    admits: R.reading,
    only: ['R1'],
    probe: () => get(`/api/reports/${w.reportId}/verify`),
  },
  { id: 'report.pdf', admits: R.reading, only: ['R1'], probe: () => get(`/api/reports/${w.reportId}/pdf`) },
  {
    id: 'report.delivery',
    admits: R.reading,
    only: ['R1'],
    probe: () => get(`/api/reports/${w.reportId}/delivery`),
  },
  {
    id: 'fhir.DiagnosticReport',
    admits: R.reading,
    only: ['R1'],
    probe: () => get(`/api/fhir/DiagnosticReport/${w.reportId}`),
  },
  {
    id: 'fhir.DiagnosticReport?study',
    admits: R.reading,
    only: ['R1'],
    probe: (r) => get(`/api/fhir/DiagnosticReport?study=${w.model.studies[r.study].studyUid}`),
    present: (body) => body.includes(w.reportId),
  },
];

function expectRequest(sf: RequestSurface, a: Actor, r: ReadRequest): Outcome {
  if (!a.token) return 'unauth';
  if (!sf.admits.includes(a.role)) return refused(a);
  if (!party(a, r)) return 'hidden';
  return sf.forParty?.(a, r) ?? 'allow';
}

async function runRequestCells(phase: string, requests: RequestKey[]): Promise<void> {
  const jobs: [Actor, ReadRequest, RequestSurface][] = [];
  for (const a of actorsNow())
    for (const k of requests)
      for (const sf of REQUEST_SURFACES)
        if (!sf.only || sf.only.includes(k)) jobs.push([a, w.model.requests[k], sf]);
  await pool(jobs, 6, async ([a, r, sf]) => {
    const res = await call(a, sf.probe(r));
    let actual = classify(res.statusCode);
    if (sf.present && actual === 'allow') actual = sf.present(res.body, r) ? 'allow' : 'hidden';
    // A party's answers legitimately name the patient; a denied one, or a list, must not reveal hidden rows.
    record(
      {
        phase,
        actor: a.key,
        subject: r.key,
        surface: sf.id,
        expected: expectRequest(sf, a, r),
        actual,
        status: res.statusCode,
      },
      sf.present && res.statusCode === 200 ? { statusCode: 200, body: '' } : res,
    );
  });
}

/**
 * The worklist (reading side): a request is listed to the target facility's readers; its patient
 * (name, ID, birth date) is shown only while the facility may see the study.
 */
async function runWorklistCells(phase: string): Promise<void> {
  for (const a of actorsNow()) {
    const res = await call(a, get('/api/worklist?status=all&limit=200'));
    for (const k of Object.keys(w.model.requests) as RequestKey[]) {
      const r = w.model.requests[k];
      let expected: Outcome;
      if (!a.token) expected = 'unauth';
      else if (!R.readers.includes(a.role)) expected = refused(a);
      else if (a.role === 'system_admin' || a.facility === r.to)
        expected = sees(w.model, a, r.study) ? 'allow' : 'redacted';
      else expected = 'hidden';
      let actual = classify(res.statusCode);
      if (actual === 'allow') {
        const items = JSON.parse(res.body) as {
          request: { id: string };
          patient: { name: string | null; id: string | null };
        }[];
        const item = items.find((i) => i.request.id === r.id);
        actual = !item
          ? 'hidden'
          : item.patient.name === null && item.patient.id === null
            ? 'redacted'
            : 'allow';
      }
      record(
        {
          phase,
          actor: a.key,
          subject: k,
          surface: 'worklist.patient',
          expected,
          actual,
          status: res.statusCode,
        },
        res.statusCode === 200 ? { statusCode: 200, body: '' } : res,
      );
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Actor-level routes: admin, AI registry, the patient's own pages, the session.

interface RouteCell {
  id: string;
  probe(a: Actor): Probe;
  expected(a: Actor): Outcome;
  /** Further judgement of an allowed answer (scope of a list); returns a note when wrong. */
  check?(a: Actor, body: string): string | undefined;
}

/**
 * A role the route does not admit: 403 — except for a share-link holder, to whom the gateway
 * answers 404 for every route not meant for patients, as if it did not exist.
 */
function refused(a: Actor): Outcome {
  return a.role === 'patient' ? 'hidden' : 'forbidden';
}

const byRoles = (roles: readonly Role[]) => (a: Actor) =>
  !a.token ? 'unauth' : roles.includes(a.role) ? 'allow' : refused(a);

const ROUTES: RouteCell[] = [
  { id: 'auth.me', probe: () => get('/api/auth/me'), expected: byRoles(R.anyUser) },
  { id: 'facilities.list', probe: () => get('/api/facilities'), expected: byRoles(R.anyUser) },
  {
    id: 'admin.users',
    probe: () => get('/api/users'),
    expected: byRoles(R.admins),
    check: (a, body) => {
      if (a.role !== 'facility_admin') return undefined;
      const own = w.facilityIds[a.facility!];
      const foreign = (JSON.parse(body) as { facilityId: string | null }[]).filter(
        (u) => u.facilityId !== own,
      );
      return foreign.length ? `lists ${foreign.length} users of other facilities` : undefined;
    },
  },
  {
    id: 'admin.users.create-in-other-facility',
    probe: (a) => ({
      method: 'POST',
      url: '/api/users',
      payload: {
        username: `az.new.${a.key.toLowerCase()}.${w.sfx}`,
        displayName: 'Bác sĩ Mới',
        role: 'referring_doctor',
        facilityId: w.facilityIds.commune,
        password: 'correct horse battery',
      },
    }),
    // A facility admin manages their own facility only; others' users are "not found".
    expected: (a) =>
      !a.token
        ? 'unauth'
        : a.role === 'system_admin'
          ? 'allow'
          : a.role === 'facility_admin'
            ? 'hidden'
            : refused(a),
  },
  {
    id: 'admin.audit',
    probe: () => get('/api/audit?limit=500'),
    expected: byRoles(R.admins),
    check: (a, body) => {
      if (a.role !== 'facility_admin') return undefined;
      const own = w.facilityIds[a.facility!];
      const foreign = (JSON.parse(body) as { facilityId: string | null }[]).filter(
        (e) => e.facilityId !== own,
      );
      return foreign.length ? `shows ${foreign.length} audit events of other facilities` : undefined;
    },
  },
  { id: 'admin.archive-status', probe: () => get('/api/archive/status'), expected: byRoles(R.sysAdmin) },
  { id: 'admin.metrics', probe: () => get('/metrics'), expected: byRoles(R.sysAdmin) },
  {
    id: 'admin.facilities.create',
    probe: (a) => ({
      method: 'POST',
      url: '/api/facilities',
      payload: {
        id: `az-new-${a.key.toLowerCase()}-${w.sfx}`,
        name: 'Phòng khám Mới',
        tier: 'commune',
        parentId: null,
      },
    }),
    expected: byRoles(R.sysAdmin),
  },
  { id: 'ai.models', probe: () => get('/api/ai/models'), expected: byRoles(R.aiManagers) },
  { id: 'ai.stats', probe: () => get('/api/ai/stats'), expected: byRoles(R.aiManagers) },
  {
    id: 'ai.flagged-studies',
    probe: () => get('/api/ai/flagged-studies'),
    // Staff see their facility's list; a system admin any facility's.
    expected: byRoles(R.reading),
  },
  { id: 'report-templates', probe: () => get('/api/report-templates'), expected: byRoles(R.anyUser) },
  { id: 'share.me', probe: () => get('/api/share/me'), expected: byRoles(R.patient) },
  { id: 'share.access-log', probe: () => get('/api/share/access-log'), expected: byRoles(R.patient) },
  {
    id: 'share.report.pdf',
    probe: () => get(`/api/share/reports/${w.reportId}/pdf`),
    expected: byRoles(R.patient),
  },
  {
    id: 'share.me.scope',
    probe: () => get('/api/share/me'),
    expected: byRoles(R.patient),
    check: (_a, body) => {
      const me = JSON.parse(body) as { studyUid: string };
      const other = STUDY_ORDER.filter((k) => k !== 'D_OWN').find((k) =>
        body.includes(w.model.studies[k].studyUid),
      );
      if (me.studyUid !== w.model.studies.D_OWN.studyUid) return 'share session names another study';
      if (other) return `share page reveals study ${other}`;
      return leakIn(body) ? 'share page shows a patient name or ID' : undefined;
    },
  },
];

async function runRouteCells(phase: string): Promise<void> {
  for (const a of actorsNow()) {
    for (const rc of ROUTES) {
      const res = await call(a, rc.probe(a));
      const cell: Cell = {
        phase,
        actor: a.key,
        subject: '-',
        surface: rc.id,
        expected: rc.expected(a),
        actual: classify(res.statusCode),
        status: res.statusCode,
      };
      if (cell.actual === 'allow' && rc.check) {
        const note = rc.check(a, res.body);
        if (note) cell.note = note;
      }
      record(cell, res);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Signing, specialty pools, webhook admin, public verification and live events: cells made one
// at a time by the phases below (their order matters), each expected answer from the model.

/** One probe as one cell; `check` judges an allowed answer further (a note when wrong). */
async function probeCell(
  phase: string,
  a: Actor,
  subject: string,
  surface: string,
  expected: Outcome,
  probe: Probe,
  check?: (res: Res) => string | undefined,
): Promise<Res> {
  const t0 = performance.now();
  const res = await call(a, probe);
  const cell: Cell = {
    phase,
    actor: a.key,
    subject,
    surface,
    expected,
    actual: classify(res.statusCode),
    status: res.statusCode,
    ms: Math.round(performance.now() - t0),
  };
  if (cell.actual === 'allow' && check) {
    const note = check(res);
    if (note) cell.note = note;
  }
  record(cell, res);
  return res;
}

/** The answer for a caller the route refuses whatever the subject, or null when the role is admitted. */
const gate = (a: Actor, admits: readonly Role[]): Outcome | null =>
  !a.token ? 'unauth' : admits.includes(a.role) ? null : refused(a);

/** Every actor, the given ones last: those whose success changes what the others would meet. */
const actorsEndingWith = (...last: ActorKey[]) => [
  ...actorsNow().filter((a) => !last.includes(a.key)),
  ...last.map((k) => w.actors[k]),
];

const WRONG_PIN = '864200';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A live event some phase caused: the events phase looks for it on every actor's stream. */
interface Trigger {
  type: string;
  request: RequestKey;
  /** The surface name of its cells (`events.<label>`). */
  label: string;
  reportId?: string;
  messageId?: string;
  /** Addressed events (STAT alerts): the actors the model says it is for; null: every party. */
  recipients: ActorKey[] | null;
}
const triggers: Trigger[] = [];
/** The live streams opened by the events phase, by actor (refused ones are not kept). */
const streams = new Map<ActorKey, SseStream>();
let listening = '';

function eventMatches(e: { event: string; data: Record<string, unknown> }, tr: Trigger): boolean {
  return (
    e.event === tr.type &&
    e.data.requestId === w.model.requests[tr.request].id &&
    (tr.reportId === undefined || e.data.reportId === tr.reportId) &&
    (tr.messageId === undefined || e.data.messageId === tr.messageId)
  );
}

const receives = (a: Actor, tr: Trigger): Outcome =>
  party(a, w.model.requests[tr.request]) && (!tr.recipients || tr.recipients.includes(a.key))
    ? 'allow'
    : 'hidden';

/**
 * Judges streams against the triggers: waits (bounded) until every event the model says an actor
 * receives has arrived, then as long again as the slowest needed at most half a second, so an event
 * that should not come has had its chance; then one cell per actor × trigger, and one per actor
 * for anything received about a request it is no party of (or an unknown one).
 */
async function judgeStreams(phase: string, prefix: string, open: Map<ActorKey, SseStream>): Promise<void> {
  const wanted = [...open].flatMap(([k, s]) =>
    triggers.filter((tr) => receives(w.actors[k], tr) === 'allow').map((tr) => [s, tr] as const),
  );
  const t0 = Date.now();
  while (Date.now() - t0 < 10_000 && !wanted.every(([s, tr]) => s.events.some((e) => eventMatches(e, tr))))
    await sleep(50);
  await sleep(Math.min(500, Date.now() - t0) + 200);
  const byId = new Map(Object.values(w.model.requests).map((r) => [r.id, r]));
  for (const [k, s] of open) {
    const a = w.actors[k];
    for (const tr of triggers) {
      const got = s.events.some((e) => eventMatches(e, tr));
      cells.push({
        phase,
        actor: k,
        subject: tr.request,
        surface: `${prefix}.${tr.label}`,
        expected: receives(a, tr),
        actual: got ? 'allow' : 'hidden',
        status: 200,
        ...(got !== (receives(a, tr) === 'allow')
          ? {
              note: got
                ? 'received an event the model keeps from this actor'
                : 'event did not arrive within 10 s',
            }
          : {}),
      });
    }
    const stray = s.events.filter((e) => {
      const r = byId.get(String(e.data.requestId));
      return r ? !party(a, r) : a.role !== 'system_admin';
    });
    const leaks = s.events.some((e) => w.patientSecrets.some((x) => e.raw.includes(x)));
    const notes = [
      ...stray.map((e) => `${e.event} of ${byId.get(String(e.data.requestId))?.key ?? 'an unknown request'}`),
      ...(leaks ? ['an event carries a patient name or ID'] : []),
    ];
    cells.push({
      phase,
      actor: k,
      subject: '-',
      surface: `${prefix}.out-of-scope`,
      expected: 'hidden',
      actual: stray.length ? 'allow' : 'hidden',
      status: 200,
      ...(notes.length ? { note: notes.join('; ') } : {}),
    });
  }
}

const FACILITIES: FacilityKey[] = ['central', 'district', 'commune', 'provincial'];

/** What each facility's webhook endpoint received (a receiver in this test). */
interface HookDelivery {
  facility: FacilityKey;
  event: string;
  data: Record<string, unknown>;
  raw: string;
  /** The X-RadLink-Signature matches the facility's secret over "<timestamp>.<body>". */
  signed: boolean;
}
const hookDeliveries: HookDelivery[] = [];
let hookServer: Server | undefined;
const hookSecret = (f: FacilityKey) => `az-${f}-${w.sfx}-webhook-secret`;

/** Points every facility's webhook at a receiver of this test (enabled, every event type). */
async function receiveWebhooks(): Promise<void> {
  hookServer = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString();
      const facility = /^\/hook\/([a-z]+)$/.exec(req.url ?? '')?.[1] as FacilityKey;
      const mac = createHmac('sha256', hookSecret(facility))
        .update(`${req.headers['x-radlink-timestamp']}.${raw}`)
        .digest('hex');
      let data: Record<string, unknown> = {};
      try {
        data = (JSON.parse(raw) as { data: Record<string, unknown> }).data ?? {};
      } catch {
        // judged below: an unparsable body matches no event
      }
      hookDeliveries.push({
        facility,
        event: String(req.headers['x-radlink-event']),
        data,
        raw,
        signed: req.headers['x-radlink-signature'] === `sha256=${mac}`,
      });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => hookServer!.listen(0, '127.0.0.1', r));
  const port = (hookServer.address() as AddressInfo).port;
  for (const f of FACILITIES) {
    const res = await call(w.actors.sysAdmin, {
      method: 'PUT',
      url: `/api/facilities/${w.facilityIds[f]}/webhook`,
      payload: { url: `http://127.0.0.1:${port}/hook/${f}`, secret: hookSecret(f), enabled: true },
    });
    expect(res.statusCode, res.body).toBe(200);
  }
}

/**
 * A facility's webhook receives what its staff may see: the events of requests it sends or
 * reads; an addressed event (STAT alert) only the reading facility. Judged like the streams.
 */
async function judgeWebhooks(phase: string): Promise<void> {
  const gets = (f: FacilityKey, tr: Trigger): Outcome => {
    const r = w.model.requests[tr.request];
    return (tr.recipients ? f === r.to : f === r.from || f === r.to) ? 'allow' : 'hidden';
  };
  const of = (f: FacilityKey) => hookDeliveries.filter((d) => d.facility === f);
  const wanted = FACILITIES.flatMap((f) =>
    triggers.filter((tr) => gets(f, tr) === 'allow').map((tr) => [f, tr] as const),
  );
  const t0 = Date.now();
  while (
    Date.now() - t0 < 15_000 &&
    !wanted.every(([f, tr]) => of(f).some((d) => eventMatches({ event: d.event, data: d.data }, tr)))
  )
    await sleep(50);
  await sleep(Math.min(500, Date.now() - t0) + 200);
  const byId = new Map(Object.values(w.model.requests).map((r) => [r.id, r]));
  for (const f of FACILITIES) {
    const mine = of(f);
    for (const tr of triggers) {
      const got = mine.some((d) => eventMatches({ event: d.event, data: d.data }, tr));
      const expected = gets(f, tr);
      cells.push({
        phase,
        actor: `webhook ${f}`,
        subject: tr.request,
        surface: `webhook.${tr.label}`,
        expected,
        actual: got ? 'allow' : 'hidden',
        status: 200,
        ...(got !== (expected === 'allow')
          ? {
              note: got
                ? 'delivered an event the model keeps from this facility'
                : 'not delivered within 15 s',
            }
          : {}),
      });
    }
    const stray = mine.filter((d) => {
      const r = byId.get(String(d.data.requestId));
      return !r || (r.from !== f && r.to !== f);
    });
    const notes = [
      ...stray.map((d) => `${d.event} of ${byId.get(String(d.data.requestId))?.key ?? 'an unknown request'}`),
      ...(mine.some((d) => !d.signed) ? ['a delivery without a valid signature'] : []),
      ...(mine.some((d) => w.patientSecrets.some((x) => d.raw.includes(x)))
        ? ['a delivery carries a patient name or ID']
        : []),
    ];
    cells.push({
      phase,
      actor: `webhook ${f}`,
      subject: '-',
      surface: 'webhook.out-of-scope',
      expected: 'hidden',
      actual: stray.length ? 'allow' : 'hidden',
      status: 200,
      ...(notes.length ? { note: notes.join('; ') } : {}),
    });
  }
}

// ---------------------------------------------------------------------------------------------
// The viewer's pages (hash-routed SPA, viewer/src/app): each page is the API calls it makes,
// taken from viewer/src/api and the page components. Every call below is a checked surface of
// this matrix; the last test fails if one is not.
const PAGES: Record<string, string[]> = {
  // #/login (LoginPage): POST /api/auth/login, GET /api/auth/me
  login: ['auth.me'],
  // #/worklist (WorklistPage): GET /api/worklist, POST /api/requests/:id/claim|release|acknowledge
  // and the live events (app/live.tsx: EventSource /api/events)
  worklist: ['worklist.patient', 'request.claim', 'request.acknowledge', 'events.subscribe'],
  // #/requests (MyRequestsPage, AiFlaggedPrompt): GET /api/requests, POST /api/requests/:id/cancel,
  // GET /api/ai/flagged-studies
  requests: ['request.list', 'request.cancel', 'ai.flagged-studies'],
  // #/search (SearchPage): QIDO /dicom-web/studies, /studies/:uid/series, series thumbnails
  search: [
    'qido.studies?StudyInstanceUID',
    'qido.broad.studies',
    'qido.study/series',
    'wado.series/thumbnail',
  ],
  // #/upload (UploadPage): POST /dicom-web/studies, QIDO /studies/:uid/instances (what is stored)
  upload: ['stow.studies', 'qido.study/instances'],
  // #/request/:uid (RequestFormPage): QIDO by StudyInstanceUID, GET /api/facilities, pools, POST /api/requests
  'new-request': ['qido.studies?StudyInstanceUID', 'facilities.list', 'pools.list'],
  // #/study/:uid?request= (StudyPage, ReportPanel, RequestThread, ShareLinkPanel, imaging/):
  // QIDO by UID and by PatientID (priors), /studies/:uid/series, series metadata, frames and
  // frames/rendered (slow-link preview), WADO-URI (SEG objects), AI results; the request, its
  // report, templates, verify, PDF; messages and attachments; share links.
  study: [
    'qido.studies?StudyInstanceUID',
    'qido.studies?PatientID (priors)',
    'qido.study/series',
    'wado.series/metadata',
    'wado.frames',
    'wado.frames/rendered',
    'wado-uri',
    'study.ai-results',
    'request.view',
    'request.report',
    'report-templates',
    'report.verify',
    'report.pdf',
    'request.messages',
    'request.messages.post',
    'request.attachments',
    'request.attachment.download',
    'study.share-links',
    // key images (imaging/keyImages.ts), signing and addenda (ReportPanel)
    'key-images.list',
    'key-images.mark',
    'key-images.unmark',
    'report.save',
    'report.sign',
    'report.addendum',
  ],
  // #/verify/:reportId?code= (PublicVerifyPage): the printed QR code, without an account
  verify: ['verify.public'],
  // #/users, #/facilities (AdminPages): GET /api/users, GET /api/facilities
  admin: ['admin.users', 'facilities.list'],
  // #/s/:token (PatientPage, SliceBrowser): POST /api/share/open, GET /api/share/me,
  // /api/share/access-log, the report PDF, QIDO /studies/:uid/instances, series thumbnails, media zip
  patient: [
    'share.me',
    'share.access-log',
    'share.report.pdf',
    'qido.study/instances',
    'wado.series/thumbnail',
    'study.media.zip',
  ],
};

// ---------------------------------------------------------------------------------------------

beforeAll(async () => {
  t = await stage('build app', () =>
    buildTestApp({
      name: 'authz-matrix',
      // Loopback webhooks: each facility's endpoint is a receiver in this test.
      env: {
        RADLINK_QUEUE_PREFIX: `authz${process.pid}`,
        RADLINK_LOGIN_RATE_LIMIT: '1000',
        RADLINK_WEBHOOK_ALLOW_LOOPBACK: 'true',
      },
    }),
  );
  w = await stage('build world', () => buildWorld(t));

  // Claiming R1 is itself a matrix step: everyone else is refused first, then the reader claims.
  const r1 = w.model.requests.R1;
  for (const a of [...actorsNow().filter((x) => x.key !== 'rad'), w.actors.rad]) {
    const res = await call(a, { method: 'POST', url: `/api/requests/${r1.id}/claim` });
    const expected = !a.token
      ? 'unauth'
      : !R.claim.includes(a.role)
        ? refused(a)
        : party(a, r1)
          ? 'allow'
          : 'hidden';
    record(
      {
        phase: 'setup',
        actor: a.key,
        subject: 'R1',
        surface: 'request.claim',
        expected,
        actual: classify(res.statusCode),
        status: res.statusCode,
      },
      res,
    );
  }
  w.model.claimedBy.R1 = 'rad';
  await stage('sign, deliver, share', () => signAndShare(t, w));
}, 150_000);

afterAll(async () => {
  for (const s of streams.values()) s.close();
  const mismatching = cells.filter((c) => c.actual !== c.expected || c.note);
  const bySurface: Record<
    string,
    { cells: number; allowed: number; denied: number; mismatches: number; ms: number }
  > = {};
  for (const c of cells) {
    bySurface[c.surface] ??= { cells: 0, allowed: 0, denied: 0, mismatches: 0, ms: 0 };
    const f = bySurface[c.surface]!;
    f.cells++;
    f.ms += c.ms ?? 0;
    if (c.actual === 'allow') f.allowed++;
    else f.denied++;
    if (c.actual !== c.expected || c.note) f.mismatches++;
  }
  const figures = {
    cells: cells.length,
    allowed: cells.filter((c) => c.actual === 'allow').length,
    denied: cells.filter((c) => c.actual !== 'allow').length,
    mismatches: mismatching.length,
    actors: ACTOR_ORDER.length,
    studies: STUDY_ORDER.length,
    surfaces: Object.keys(bySurface).length,
    /** 404 answers compared with a nonexistent study's (same actor and surface). */
    existenceChecks: cells.filter(
      (c) => c.status === 404 && READ_SURFACES.some((sf) => sf.id === c.surface && !sf.present),
    ).length,
    seconds: Math.round((Date.now() - started) / 100) / 10,
    stages,
  };
  console.log(`authz matrix: ${JSON.stringify(figures)}`);
  const dir = join(process.cwd(), 'test-artifacts');
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    join(dir, 'authz-matrix.json'),
    `${JSON.stringify({ figures, bySurface, mismatches: mismatching, pages: PAGES, cells }, null, 1)}\n`,
  );
  await t?.close();
  await new Promise((r) => (hookServer ? hookServer.close(r) : r(undefined)));
});

describe('authorization matrix', () => {
  it('setup: only the target facility’s radiologist claims; everyone else is refused', () => {
    expect(mismatches('setup')).toEqual([]);
  });

  it('phase 1: every actor × study × surface, request and route answers as the grants model says', async () => {
    // Reads first, STOW last: the stored instances would otherwise grow every study the reads fetch.
    await stage('phase 1 studies', () => runStudyCells('phase 1', STUDY_ORDER, READ_SURFACES));
    await stage('phase 1 STOW', () => runStudyCells('phase 1', STUDY_ORDER, STOW_SURFACES));
    await stage('phase 1 broad', () => runBroadCells('phase 1'));
    await stage('phase 1 requests', () => runRequestCells('phase 1', ['R1', 'R_CANCEL', 'R_X']));
    await stage('phase 1 worklist', () => runWorklistCells('phase 1'));
    await stage('phase 1 routes', () => runRouteCells('phase 1'));
    // Claims on R_CANCEL by everyone who may not claim it (it must stay cancellable).
    const rc = w.model.requests.R_CANCEL;
    for (const a of actorsNow().filter((x) => x.key !== 'rad')) {
      const res = await call(a, { method: 'POST', url: `/api/requests/${rc.id}/claim` });
      const expected = !a.token
        ? 'unauth'
        : !R.claim.includes(a.role)
          ? refused(a)
          : party(a, rc)
            ? 'allow'
            : 'hidden';
      record(
        {
          phase: 'phase 1',
          actor: a.key,
          subject: 'R_CANCEL',
          surface: 'request.claim',
          expected,
          actual: classify(res.statusCode),
          status: res.statusCode,
        },
        res,
      );
    }
    expect(mismatches('phase 1')).toEqual([]);
    expect(refusedSops.length).toBeGreaterThan(0);
  });

  it('cancelling a request revokes its grant: refused to everyone but the requester side first', async () => {
    const rc = w.model.requests.R_CANCEL;
    const order: ActorKey[] = [
      'anon',
      'patient',
      'modelManager',
      'otherRad',
      'communeDoc',
      'rad',
      'centralAdmin',
      'doc',
    ];
    for (const k of order) {
      const a = w.actors[k];
      const res = await call(a, {
        method: 'POST',
        url: `/api/requests/${rc.id}/cancel`,
        payload: { reason: 'Bệnh nhân chuyển viện' },
      });
      const mayCancel =
        a.role === 'system_admin' || (a.facility === rc.from && (k === 'doc' || a.role === 'facility_admin'));
      const expected = !a.token
        ? 'unauth'
        : !R.reading.includes(a.role)
          ? refused(a)
          : !party(a, rc)
            ? 'hidden'
            : mayCancel
              ? 'allow'
              : 'forbidden';
      record(
        {
          phase: 'cancel',
          actor: k,
          subject: 'R_CANCEL',
          surface: 'request.cancel',
          expected,
          actual: classify(res.statusCode),
          status: res.statusCode,
        },
        res,
      );
    }
    for (const g of w.model.grants) if (g.request === 'R_CANCEL') g.revoked = true;
    expect(mismatches('cancel')).toEqual([]);
  });

  it('break-glass: refused without a stated reason, allowed with one, flagged in the audit trail for review', async () => {
    const x = w.model.studies.X_OTHER;
    const open = (a: Actor, body: object) =>
      call(a, { method: 'POST', url: `/api/studies/${x.studyUid}/break-glass`, payload: body });
    const reason = 'Cấp cứu ngoài giờ: nghi xuất huyết não, cần đọc ngay';
    const bg = (a: Actor, r: string | undefined): Outcome => {
      if (!a.token) return 'unauth';
      if (!R.breakGlass.includes(a.role)) return refused(a);
      if (r === undefined || r.trim().length < 10) return 'invalid';
      return sees(w.model, a, 'X_OTHER') ? 'conflict' : 'allow';
    };
    const attempts: [ActorKey, string | undefined][] = [
      ['anon', reason],
      ['patient', reason],
      ['modelManager', reason],
      ['sysAdmin', reason],
      ['centralAdmin', reason],
      ['otherRad', reason], // the province already sees X_OTHER through R_X: nothing to break
      ['rad', undefined],
      ['rad', '   cần xem   '],
    ];
    for (const [k, r] of attempts) {
      const res = await open(w.actors[k], r === undefined ? {} : { reason: r });
      record(
        {
          phase: 'break-glass',
          actor: k,
          subject: 'X_OTHER',
          surface: `break-glass.open${r === undefined ? ' (no reason)' : r.trim().length < 10 ? ' (short reason)' : ''}`,
          expected: bg(w.actors[k], r),
          actual: classify(res.statusCode),
          status: res.statusCode,
        },
        res,
      );
    }
    // Refused attempts grant nothing.
    await runStudyCells(
      'break-glass',
      ['X_OTHER'],
      STUDY_SURFACES.filter((s) => s.id === 'wado.study/metadata'),
    );

    const res = await open(w.actors.rad, { reason });
    record(
      {
        phase: 'break-glass',
        actor: 'rad',
        subject: 'X_OTHER',
        surface: 'break-glass.open',
        expected: bg(w.actors.rad, reason),
        actual: classify(res.statusCode),
        status: res.statusCode,
      },
      res,
    );
    const grantId = (JSON.parse(res.body) as { grantId?: string }).grantId;
    w.model.breakGlass.push({ actor: 'rad', study: 'X_OTHER' });

    // The audit trail flags the one granted event with its reason; the refused attempts granted nothing.
    const rows = await t.db.query<{
      outcome: string;
      detail: Record<string, unknown> | null;
      user_id: string;
    }>(
      "SELECT outcome, detail, user_id::text AS user_id FROM audit_events WHERE action = 'break-glass.open' AND study_uid = $1 ORDER BY id",
      [x.studyUid],
    );
    const ok = rows.filter((r) => r.outcome === 'success');
    expect(ok).toHaveLength(1);
    expect(ok[0]!.detail).toMatchObject({ breakGlass: true, reason, grantId });
    expect(ok[0]!.user_id).toBe(w.actors.rad.userId);

    // The review list: system admins, the breaker's own facility admin and the owner's; nobody else.
    for (const a of actorsNow()) {
      const list = await call(a, get('/api/break-glass?unreviewed=true&limit=500'));
      let actual = classify(list.statusCode);
      if (actual === 'allow') actual = list.body.includes(grantId ?? 'none') ? 'allow' : 'hidden';
      const expected = !a.token
        ? 'unauth'
        : !R.admins.includes(a.role)
          ? refused(a)
          : a.role === 'system_admin' || a.facility === 'central' || a.facility === 'commune'
            ? 'allow'
            : 'hidden';
      record(
        {
          phase: 'break-glass',
          actor: a.key,
          subject: 'X_OTHER',
          surface: 'break-glass.review-list',
          expected,
          actual,
          status: list.statusCode,
        },
        list.statusCode === 200 ? { statusCode: 200, body: '' } : list,
      );
    }
    expect(mismatches('break-glass')).toEqual([]);
  });

  it('phase 2: after revocation and break-glass, the changed relations answer as the model says', async () => {
    await stage('phase 2 studies', () => runStudyCells('phase 2', ['D_CANCEL', 'X_OTHER'], READ_SURFACES));
    await stage('phase 2 STOW', () => runStudyCells('phase 2', ['D_CANCEL', 'X_OTHER'], STOW_SURFACES));
    await stage('phase 2 broad', () => runBroadCells('phase 2'));
    await stage('phase 2 requests', () => runRequestCells('phase 2', ['R_CANCEL']));
    await stage('phase 2 worklist', () => runWorklistCells('phase 2'));
    expect(mismatches('phase 2')).toEqual([]);
    expect(await stage('refused STOW stored nowhere', () => storedAnywhere(refusedSops))).toEqual([]);
  });

  it('pools and webhooks: the facility’s admin or a system admin manages them; other admins 403, other roles refused', async () => {
    const phase = 'facility admin';
    const adminOf = (a: Actor, f: FacilityKey): Outcome =>
      gate(a, R.admins) ?? (a.role === 'system_admin' || a.facility === f ? 'allow' : 'forbidden');
    const radiologistOf = (f: FacilityKey) =>
      actorsNow().find((x) => x.role === 'radiologist' && x.facility === f);
    const P = (f: FacilityKey) => `/api/facilities/${w.facilityIds[f]}/pools`;

    // Pools: each actor works on a pool of its own name, so the sequences may run side by side.
    const jobs = actorsNow().flatMap((a) => FACILITIES.map((f) => [a, f] as const));
    await stage('pools', () =>
      pool(jobs, 6, async ([a, f]) => {
        const url = `${P(f)}/az-${a.key.toLowerCase()}`;
        const admin = adminOf(a, f);
        // Members are the facility's own active radiologists: where it has none, one from elsewhere is refused.
        const member = radiologistOf(f) ?? w.actors.rad;
        const withMember = admin === 'allow' ? (radiologistOf(f) ? 'allow' : 'invalid') : admin;
        await probeCell(phase, a, f, 'pools.list', byRoles(R.reading)(a), get(P(f)));
        await probeCell(phase, a, f, 'pools.put', admin, {
          method: 'PUT',
          url,
          payload: { name: 'Thần kinh' },
        });
        await probeCell(
          phase,
          a,
          f,
          'pools.member.add',
          withMember,
          { method: 'PUT', url: `${url}/members/${member.userId}` },
          (res) => (res.body.includes(member.userId!) ? undefined : 'the member is not listed in the pool'),
        );
        await probeCell(
          phase,
          a,
          f,
          'pools.member.remove',
          withMember === 'invalid' ? 'hidden' : withMember,
          { method: 'DELETE', url: `${url}/members/${member.userId}` },
        );
        await probeCell(phase, a, f, 'pools.delete', admin, { method: 'DELETE', url });
      }),
    );

    // Webhooks: one per facility, so each facility's sequence runs alone. Disabled: nothing is sent.
    const secret = `az-webhook-secret-${w.sfx}-0123456789`;
    const noSecret = (res: Res) => (res.body.includes(secret) ? 'the answer shows the secret' : undefined);
    await stage('webhooks', () =>
      Promise.all(
        FACILITIES.map(async (f) => {
          const url = `/api/facilities/${w.facilityIds[f]}/webhook`;
          for (const a of actorsNow()) {
            const admin = adminOf(a, f);
            const hook = { url: 'http://10.255.0.1:8080/radlink', secret, enabled: false };
            await probeCell(
              phase,
              a,
              f,
              'webhook.put',
              admin,
              { method: 'PUT', url, payload: hook },
              noSecret,
            );
            await probeCell(phase, a, f, 'webhook.get', admin, get(url), noSecret);
            await probeCell(phase, a, f, 'webhook.deliveries', admin, get(`${url}/deliveries`));
            await probeCell(phase, a, f, 'webhook.delete', admin, { method: 'DELETE', url });
          }
        }),
      ),
    );
    expect(mismatches(phase)).toEqual([]);
    // From here on every facility's webhook is live: the events phase judges what each receives.
    await receiveWebhooks();
  });

  it('live events: the stream opens for the reading roles only', async () => {
    listening = await t.app.listen({ port: 0, host: '127.0.0.1' });
    for (const a of actorsNow()) {
      const t0 = performance.now();
      const s = await SseStream.open(`${listening}/api/events`, a.token ? bearer(a.token) : {});
      if (s.status === 200) streams.set(a.key, s);
      record(
        {
          phase: 'events',
          actor: a.key,
          subject: '-',
          surface: 'events.subscribe',
          expected: byRoles(R.reading)(a),
          actual: classify(s.status),
          status: s.status,
          ms: Math.round(performance.now() - t0),
        },
        { statusCode: s.status, body: s.body },
      );
    }
    expect(mismatches('events')).toEqual([]);
  });

  it('signing: radiologists enrol; the claim holder alone signs the draft with the PIN; addenda by the reading side; the printed code verifies without an account', async () => {
    const phase = 'signing';
    const rx = w.model.requests.R_X;
    const otherRad = w.actors.otherRad;
    const radiologist = (a: Actor) => gate(a, R.radiologists);

    // Enrolment (the central radiologist enrolled to sign R1; enrolling again would replace its key).
    for (const a of actorsNow().filter((x) => x.key !== 'rad'))
      await probeCell(phase, a, '-', 'signing.enrol', radiologist(a) ?? 'allow', {
        method: 'POST',
        url: '/api/signing/enrol',
        payload: { pin: SIGN_PIN },
      });
    for (const a of actorsNow()) {
      await probeCell(
        phase,
        a,
        '-',
        'signing.certificate',
        radiologist(a) ?? 'allow',
        get('/api/signing/certificate'),
      );
      await probeCell(phase, a, '-', 'signing.ca', byRoles(R.anyUser)(a), get('/api/signing/ca'));
    }

    // The provincial radiologist claims R_X and writes its draft; nobody else may.
    for (const a of actorsEndingWith('otherRad')) {
      const res = await probeCell(
        phase,
        a,
        'R_X',
        'request.claim',
        gate(a, R.claim) ?? (party(a, rx) ? 'allow' : 'hidden'),
        { method: 'POST', url: `/api/requests/${rx.id}/claim` },
      );
      if (res.statusCode === 200) w.model.claimedBy.R_X = a.key;
    }
    triggers.push({ type: 'request.claimed', request: 'R_X', label: 'request.claimed', recipients: null });
    const saveExpected = (a: Actor, k: RequestKey, final: boolean): Outcome =>
      radiologist(a) ??
      (!party(a, w.model.requests[k])
        ? 'hidden'
        : final || w.model.claimedBy[k] !== a.key
          ? 'conflict'
          : 'allow');
    const draft = {
      templateId: 'ct-head',
      language: 'vi',
      fields: { haemorrhage: 'no', impression: 'Không thấy tổn thương khu trú.' },
      freeText: 'Tái khám sau 6 tháng.',
    };
    let rxReport = '';
    for (const a of actorsEndingWith('otherRad')) {
      const res = await probeCell(phase, a, 'R_X', 'report.save', saveExpected(a, 'R_X', false), {
        method: 'PUT',
        url: `/api/requests/${rx.id}/report`,
        payload: draft,
      });
      if (res.statusCode === 200) rxReport = (JSON.parse(res.body) as { id: string }).id;
    }
    triggers.push({
      type: 'request.status-changed',
      request: 'R_X',
      label: 'request.status-changed',
      recipients: null,
    });
    // A signed report takes no draft, not even from the radiologist who signed it.
    for (const a of actorsNow())
      await probeCell(phase, a, 'R1', 'report.save (signed)', saveExpected(a, 'R1', true), {
        method: 'PUT',
        url: `/api/requests/${w.model.requests.R1.id}/report`,
        payload: draft,
      });
    if (!rxReport) {
      expect(mismatches(phase)).toEqual([]);
      throw new Error('no draft of R_X: the signing cells cannot run');
    }

    // The draft is the reading side's working copy: the requester sees nothing of it yet.
    const reportExpected = (a: Actor, k: RequestKey, final: boolean, inScope: Outcome = 'allow') =>
      gate(a, R.reading) ?? (seesReport(a, w.model.requests[k], final) ? inScope : 'hidden');
    for (const a of actorsNow()) {
      await probeCell(
        phase,
        a,
        'R_X',
        'report.view (draft)',
        reportExpected(a, 'R_X', false),
        get(`/api/reports/${rxReport}`),
      );
      await probeCell(
        phase,
        a,
        'R_X',
        'request.report (draft)',
        reportExpected(a, 'R_X', false),
        get(`/api/requests/${rx.id}/report`),
      );
      await probeCell(
        phase,
        a,
        'R_X',
        'report.verify (draft)',
        reportExpected(a, 'R_X', false, 'conflict'),
        get(`/api/reports/${rxReport}/verify`),
      );
    }

    // Signing: radiologists only, within the report's scope, the claim holder only, with the PIN.
    const signExpected = (a: Actor, k: RequestKey, final: boolean): Outcome =>
      radiologist(a) ??
      (!seesReport(a, w.model.requests[k], final)
        ? 'hidden'
        : final
          ? 'conflict'
          : w.model.claimedBy[k] === a.key
            ? 'allow'
            : 'forbidden');
    const sign = (pin: string): Probe => ({
      method: 'POST',
      url: `/api/reports/${rxReport}/sign`,
      payload: { pin },
    });
    for (const a of actorsNow().filter((x) => x.key !== 'otherRad'))
      await probeCell(phase, a, 'R_X', 'report.sign', signExpected(a, 'R_X', false), sign(SIGN_PIN));
    // A radiologist of the reading facility who does not hold the claim, enrolled to sign (so only
    // the claim decides): reads the draft as the reading side does, may neither save nor sign it.
    const colleagueName = `az.colleague.${w.sfx}`;
    const colleagueUser = await t.app.inject({
      method: 'POST',
      url: '/api/users',
      headers: bearer(await t.adminToken()),
      payload: {
        username: colleagueName,
        displayName: 'BS. Trần Văn Đồng Nghiệp',
        role: 'radiologist',
        facilityId: w.facilityIds.provincial,
        password: 'authz-matrix colleague 1',
      },
    });
    expect(colleagueUser.statusCode, colleagueUser.body).toBe(201);
    const colleague: Actor = {
      key: 'otherRadColleague',
      role: 'radiologist',
      facility: 'provincial',
      token: await t.login(colleagueName, 'authz-matrix colleague 1'),
      userId: (JSON.parse(colleagueUser.body) as { id: string }).id,
    };
    await probeCell(phase, colleague, '-', 'signing.enrol', 'allow', {
      method: 'POST',
      url: '/api/signing/enrol',
      payload: { pin: SIGN_PIN },
    });
    await probeCell(
      phase,
      colleague,
      'R_X',
      'report.view (draft)',
      reportExpected(colleague, 'R_X', false),
      get(`/api/reports/${rxReport}`),
    );
    await probeCell(phase, colleague, 'R_X', 'report.save', saveExpected(colleague, 'R_X', false), {
      method: 'PUT',
      url: `/api/requests/${rx.id}/report`,
      payload: draft,
    });
    await probeCell(
      phase,
      colleague,
      'R_X',
      'report.sign',
      signExpected(colleague, 'R_X', false),
      sign(SIGN_PIN),
    );
    const holderSigns = signExpected(otherRad, 'R_X', false);
    await probeCell(
      phase,
      otherRad,
      'R_X',
      'report.sign (wrong PIN)',
      holderSigns === 'allow' ? 'forbidden' : holderSigns,
      sign(WRONG_PIN),
    );
    const signed = await probeCell(
      phase,
      otherRad,
      'R_X',
      'report.sign',
      holderSigns,
      sign(SIGN_PIN),
      (res) =>
        (JSON.parse(res.body) as { status: string }).status === 'final'
          ? undefined
          : 'the report is not final',
    );
    if (signed.statusCode === 200) {
      w.model.signedBy.X_OTHER = 'otherRad';
      triggers.push({
        type: 'report.signed',
        request: 'R_X',
        label: 'report.signed',
        reportId: rxReport,
        recipients: null,
      });
    }
    await probeCell(
      phase,
      otherRad,
      'R_X',
      'report.sign (signed)',
      signExpected(otherRad, 'R_X', true),
      sign(SIGN_PIN),
    );
    for (const a of actorsNow())
      await probeCell(
        phase,
        a,
        'R_X',
        'report.view (signed)',
        reportExpected(a, 'R_X', true),
        get(`/api/reports/${rxReport}`),
      );

    // Addenda: radiologists of the reading side, to a signed main report, with the PIN.
    const addExpected = (a: Actor, k: RequestKey): Outcome =>
      radiologist(a) ??
      (!seesReport(a, w.model.requests[k], true)
        ? 'hidden'
        : readerSide(a, w.model.requests[k])
          ? 'allow'
          : 'forbidden');
    const addenda: string[] = [];
    for (const [k, reportId, by] of [
      ['R1', w.reportId, 'rad'],
      ['R_X', rxReport, 'otherRad'],
    ] as const) {
      const add = (pin: string, to = reportId): Probe => ({
        method: 'POST',
        url: `/api/reports/${to}/addenda`,
        payload: { language: 'vi', freeText: 'Bổ sung: đối chiếu phim cũ, kết luận không đổi.', pin },
      });
      for (const a of actorsNow().filter((x) => x.key !== by))
        await probeCell(phase, a, k, 'report.addendum', addExpected(a, k), add(SIGN_PIN));
      const holder = w.actors[by];
      const e = addExpected(holder, k);
      await probeCell(
        phase,
        holder,
        k,
        'report.addendum (wrong PIN)',
        e === 'allow' ? 'forbidden' : e,
        add(WRONG_PIN),
      );
      const res = await probeCell(phase, holder, k, 'report.addendum', e, add(SIGN_PIN));
      if (res.statusCode !== 201) continue;
      const id = (JSON.parse(res.body) as { id: string }).id;
      addenda.push(id);
      triggers.push({
        type: 'report.signed',
        request: k,
        label: 'report.signed (addendum)',
        reportId: id,
        recipients: null,
      });
      // An addendum takes no addendum of its own.
      await probeCell(
        phase,
        holder,
        k,
        'report.addendum (to an addendum)',
        e === 'allow' ? 'conflict' : e,
        add(SIGN_PIN, id),
      );
    }

    // The printed QR code (the delivery job gives each signed report its code): anyone, with or
    // without an account, checks the signature; a wrong code answers as a report that does not exist.
    const ids = [w.reportId, rxReport, ...addenda];
    let codes = new Map<string, string>();
    for (const t0 = Date.now(); codes.size < ids.length && Date.now() - t0 < 60_000; await sleep(250)) {
      const rows = await t.db.query<{ id: string; code: string }>(
        'SELECT report_id::text AS id, code FROM report_verify_codes WHERE report_id::text = ANY ($1)',
        [ids],
      );
      codes = new Map(rows.map((r) => [r.id, r.code]));
    }
    expect(codes.size, 'every signed report delivered with its verification code').toBe(ids.length);
    const shape = (r: Res) => {
      const j = JSON.parse(r.body) as { code?: string; message?: string };
      return `${r.statusCode} ${j.code} ${j.message}`;
    };
    const subjectOf = (id: string) => (id === w.reportId ? 'R1' : id === rxReport ? 'R_X' : 'addendum');
    for (const a of actorsNow()) {
      for (const id of ids) {
        const code = codes.get(id)!;
        const wrong = `${code.slice(0, -1)}${code.endsWith('A') ? 'B' : 'A'}`;
        const url = (rid: string, c: string) => `/api/verify/reports/${rid}?code=${encodeURIComponent(c)}`;
        await probeCell(phase, a, subjectOf(id), 'verify.public', 'allow', get(url(id, code)), (res) => {
          const v = JSON.parse(res.body) as { reportId: string; status: string };
          if (v.reportId !== id || v.status !== 'valid') return `answered ${v.status} for ${v.reportId}`;
          return leakIn(res.body) ? 'the public check shows a patient name or ID' : undefined;
        });
        const res = await call(a, get(url(id, wrong)));
        const ghost = await call(a, get(url('00000000-0000-4000-8000-000000000000', code)));
        record(
          {
            phase,
            actor: a.key,
            subject: subjectOf(id),
            surface: 'verify.public (wrong code)',
            expected: 'hidden',
            actual: classify(res.statusCode),
            status: res.statusCode,
          },
          res,
          shape(res) === shape(ghost)
            ? {}
            : { note: `404 differs from a nonexistent report's (${shape(ghost)})` },
        );
      }
    }

    // Revoking a signing certificate: its owner, the owner's facility admin or a system admin; to
    // anyone else it does not exist. Last: what it signed stays valid as signed, nothing more is signed.
    const cert = await call(otherRad, get('/api/signing/certificate'));
    const serial = (JSON.parse(cert.body) as { serial: string }).serial;
    const revokers = roles('radiologist', 'facility_admin', 'system_admin');
    for (const a of actorsEndingWith('otherRad', 'sysAdmin'))
      await probeCell(
        phase,
        a,
        'certificate of otherRad',
        'signing.revoke',
        gate(a, revokers) ??
          (a.key === 'otherRad' ||
          a.role === 'system_admin' ||
          (a.role === 'facility_admin' && a.facility === otherRad.facility)
            ? 'allow'
            : 'hidden'),
        {
          method: 'POST',
          url: `/api/signing/certificates/${serial}/revoke`,
          payload: { reason: 'Thiết bị ký bị mất' },
        },
      );
    expect(mismatches(phase)).toEqual([]);
  });

  it('live events: each stream receives exactly the events of requests its actor is party to (STAT alerts: their recipients), live and replayed', async () => {
    const phase = 'events';
    // A message on each request, the cancelled one included (its parties keep the request).
    for (const [k, by] of [
      ['R1', 'doc'],
      ['R_X', 'communeDoc'],
      ['R_CANCEL', 'districtAdmin'],
    ] as const) {
      const res = await call(w.actors[by], {
        method: 'POST',
        url: `/api/requests/${w.model.requests[k].id}/messages`,
        payload: { body: 'Đã nhận, xin cảm ơn.' },
      });
      expect(res.statusCode, res.body).toBe(201);
      const messageId = (JSON.parse(res.body) as { id: string }).id;
      triggers.push({
        type: 'message.posted',
        request: k,
        label: 'message.posted',
        messageId,
        recipients: null,
      });
    }

    // A STAT request from the district for the central hospital's neuro pool: everyone of both
    // sides hears of it; the alert is addressed to the target's radiologists; then acknowledged.
    const neuro = `/api/facilities/${w.facilityIds.central}/pools/neuro`;
    const admin = w.actors.centralAdmin;
    expect(
      (await call(admin, { method: 'PUT', url: neuro, payload: { name: 'Thần kinh' } })).statusCode,
    ).toBe(200);
    expect(
      (await call(admin, { method: 'PUT', url: `${neuro}/members/${w.actors.rad.userId}` })).statusCode,
    ).toBe(200);
    const created = await call(w.actors.doc, {
      method: 'POST',
      url: '/api/requests',
      payload: {
        studyUid: w.model.studies.D_OTHERPAT.studyUid,
        targetFacilityId: w.facilityIds.central,
        specialtyPool: 'neuro',
        priority: 'stat',
        clinicalInfo: 'Đau đầu dữ dội, nôn',
        question: 'Xuất huyết nội sọ?',
      },
    });
    expect(created.statusCode, created.body).toBe(201);
    const rs: ReadRequest = {
      key: 'R_STAT',
      id: (JSON.parse(created.body) as { id: string }).id,
      study: 'D_OTHERPAT',
      from: 'district',
      to: 'central',
    };
    w.model.requests.R_STAT = rs;
    w.model.grants.push({
      study: 'D_OTHERPAT',
      facility: 'central',
      priors: true,
      revoked: false,
      request: 'R_STAT',
    });
    triggers.push({ type: 'request.created', request: 'R_STAT', label: 'request.created', recipients: null });
    triggers.push({
      type: 'stat.new',
      request: 'R_STAT',
      label: 'stat.new',
      recipients: actorsNow()
        .filter((a) => a.role === 'radiologist' && a.facility === rs.to)
        .map((a) => a.key),
    });
    for (const a of actorsNow())
      await probeCell(
        phase,
        a,
        'R_STAT',
        'request.escalation',
        gate(a, R.reading) ?? (party(a, rs) ? 'allow' : 'hidden'),
        get(`/api/requests/${rs.id}/escalation`),
      );
    for (const a of actorsEndingWith('centralAdmin'))
      await probeCell(
        phase,
        a,
        'R_STAT',
        'request.acknowledge',
        gate(a, R.readers) ??
          (!party(a, rs) ? 'hidden' : a.role === 'system_admin' || readerSide(a, rs) ? 'allow' : 'forbidden'),
        { method: 'POST', url: `/api/requests/${rs.id}/acknowledge` },
      );
    triggers.push({
      type: 'stat.acknowledged',
      request: 'R_STAT',
      label: 'stat.acknowledged',
      recipients: null,
    });

    // The new grant, through the request, study and worklist surfaces.
    await stage('stat request cells', async () => {
      await runRequestCells('stat request', ['R_STAT']);
      await runWorklistCells('stat request');
      await runStudyCells(
        'stat request',
        ['D_OTHERPAT'],
        READ_SURFACES.filter((sf) =>
          ['qido.studies?StudyInstanceUID', 'wado.study/metadata', 'wado.frames', 'key-images.list'].includes(
            sf.id,
          ),
        ),
      );
    });

    await stage('events live', () => judgeStreams(phase, 'events', streams));
    await stage('webhook deliveries', () => judgeWebhooks(phase));

    // Reconnecting with Last-Event-ID replays from the log, through the same scope.
    const first = streams
      .get('sysAdmin')
      ?.events.filter((e) => triggers.some((tr) => eventMatches(e, tr)))
      .map((e) => BigInt(e.id))
      .sort((x, y) => (x < y ? -1 : 1))[0];
    expect(first, 'the system admin’s stream saw the first event').toBeDefined();
    const replays = new Map<ActorKey, SseStream>();
    for (const k of streams.keys()) {
      const a = w.actors[k];
      const s = await SseStream.open(`${listening}/api/events`, {
        ...bearer(a.token!),
        'last-event-id': String(first! - 1n),
      });
      if (s.status === 200) replays.set(k, s);
    }
    expect([...replays.keys()]).toEqual([...streams.keys()]);
    await stage('events replay', () => judgeStreams(phase, 'events.replay', replays));
    for (const s of replays.values()) s.close();
    expect(mismatches('stat request')).toEqual([]);
    expect(mismatches(phase)).toEqual([]);
  });

  it('every API call of the viewer’s pages is a checked surface, and the matrix covers every relation', () => {
    const checked = new Set(cells.map((c) => c.surface));
    const unchecked = Object.entries(PAGES).flatMap(([page, ids]) =>
      ids.filter((id) => !checked.has(id)).map((id) => `${page}: ${id}`),
    );
    expect(unchecked).toEqual([]);
    // Each relation produced both answers somewhere: allowed (own, granted, prior, share, break-glass)
    // and hidden (other facility, share's other study, revoked).
    const at = (actor: ActorKey, subject: string, phase: string) =>
      cells.find(
        (c) => c.actor === actor && c.subject === subject && c.phase === phase && c.surface === 'wado.frames',
      )?.actual;
    expect({
      own: at('doc', 'D_OWN', 'phase 1'),
      granted: at('rad', 'D_OWN', 'phase 1'),
      prior: at('rad', 'D_PRIOR', 'phase 1'),
      otherFacility: at('rad', 'D_OTHERPAT', 'phase 1'),
      shareStudy: at('patient', 'D_OWN', 'phase 1'),
      shareOtherStudy: at('patient', 'D_PRIOR', 'phase 1'),
      beforeRevoke: at('rad', 'D_CANCEL', 'phase 1'),
      revoked: at('rad', 'D_CANCEL', 'phase 2'),
      beforeBreakGlass: at('rad', 'X_OTHER', 'phase 1'),
      breakGlass: at('rad', 'X_OTHER', 'phase 2'),
    }).toEqual({
      own: 'allow',
      granted: 'allow',
      prior: 'allow',
      otherFacility: 'hidden',
      shareStudy: 'allow',
      shareOtherStudy: 'hidden',
      beforeRevoke: 'allow',
      revoked: 'hidden',
      beforeBreakGlass: 'hidden',
      breakGlass: 'allow',
    });
  });
});
