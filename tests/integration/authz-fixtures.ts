/**
 * The world of the authorization matrix (authz-matrix.test.ts), built through the gateway's own
 * API on the real stack, and the test's OWN grants model of it.
 *
 * The world: four facilities (central reader, district requester, commune, provincial), one actor
 * per role and relation, six studies stored by STOW (real DICOM in Orthanc, so every WADO surface
 * answers), three read requests, a signed report with its PDF, a request attachment and a patient
 * share link.
 *
 * The model (`Model`, `sees`, `party`) is written from the product's rules as documented (README
 * "Access", DOMAIN.md), deliberately without importing anything from server/src/access or
 * server/src/policy: the matrix judges the server, it must not ask the server what to expect.
 */
import { randomBytes } from 'node:crypto';
import sharp from 'sharp';
import { expect } from 'vitest';
import { bearer, type TestApp } from '../helpers/app.js';
import { newUid } from '../helpers/dicom.js';
import { stow } from '../helpers/dicomweb.js';
import { datedInstance } from './ops-helpers.js';

export const PASSWORD = 'correct horse battery';
export const SIGN_PIN = '135790';

export type Role =
  | 'anonymous'
  | 'patient'
  | 'model_manager'
  | 'system_admin'
  | 'facility_admin'
  | 'radiologist'
  | 'referring_doctor';

export type FacilityKey = 'central' | 'district' | 'commune' | 'provincial';
export type StudyKey = 'D_OWN' | 'D_PRIOR' | 'D_OTHERPAT' | 'D_CANCEL' | 'C_OWN' | 'X_OTHER';
/** R_STAT is made late (the live-events phase): a STAT request for a specialty pool. */
export type RequestKey = 'R1' | 'R_CANCEL' | 'R_X' | 'R_STAT';
export type ActorKey =
  | 'anon'
  | 'patient'
  | 'modelManager'
  | 'sysAdmin'
  | 'rad'
  | 'centralAdmin'
  | 'doc'
  | 'districtAdmin'
  | 'communeDoc'
  | 'otherRad'
  /** A second radiologist of the provincial facility, made in the signing phase only (not in ACTOR_ORDER). */
  | 'otherRadColleague';

export interface Actor {
  key: ActorKey;
  role: Role;
  facility: FacilityKey | null;
  /** Bearer token; null for the unauthenticated caller. */
  token: string | null;
  userId: string | null;
}

export interface Study {
  key: StudyKey;
  owner: FacilityKey;
  /** Patient key: studies with the same key are the same patient (same ID, same issuer). */
  patient: string;
  patientId: string;
  patientName: string;
  studyUid: string;
  seriesUid: string;
  sopUid: string;
}

export interface ReadRequest {
  key: RequestKey;
  id: string;
  study: StudyKey;
  from: FacilityKey;
  to: FacilityKey;
}

/** The grants model's state, kept by the test as it acts (never read back from the server). */
export interface Model {
  studies: Record<StudyKey, Study>;
  /** Grants made by read requests: the target facility sees the study and, with priors, the patient's other studies at the owner. */
  grants: {
    study: StudyKey;
    facility: FacilityKey;
    priors: boolean;
    revoked: boolean;
    request: RequestKey;
  }[];
  /** Active break-glass grants: the actor alone sees the study. */
  breakGlass: { actor: ActorKey; study: StudyKey }[];
  /** Studies with a final (signed) report, and who signed it. */
  signedBy: Partial<Record<StudyKey, ActorKey>>;
  /** Who holds each claimed request (the only one who may write and sign its report). */
  claimedBy: Partial<Record<RequestKey, ActorKey>>;
  /** The share link's study (the patient actor's only study). */
  shareStudy: StudyKey;
  /** R_STAT is absent until the phase that makes it (lists iterate the keys present). */
  requests: Record<RequestKey, ReadRequest>;
}

export interface World {
  sfx: string;
  /** Every study of this run carries an accession number starting with this (for the broad query). */
  accessionPrefix: string;
  facilityIds: Record<FacilityKey, string>;
  facilityNames: Record<FacilityKey, string>;
  actors: Record<ActorKey, Actor>;
  model: Model;
  reportId: string;
  attachmentId: string;
  /** Every patient name and ID of the world: none may appear in a denied answer. */
  patientSecrets: string[];
}

/** Whether the actor may see the study's images and data, by the grants model. */
export function sees(m: Model, a: Actor, s: StudyKey): boolean {
  if (a.role === 'anonymous' || a.role === 'model_manager') return false;
  if (a.role === 'system_admin') return true;
  if (a.role === 'patient') return s === m.shareStudy;
  if (!a.facility) return false;
  const st = m.studies[s];
  if (st.owner === a.facility) return true;
  for (const g of m.grants) {
    if (g.revoked || g.facility !== a.facility) continue;
    if (g.study === s) return true;
    const granted = m.studies[g.study];
    if (g.priors && granted.patient === st.patient && granted.owner === st.owner) return true;
  }
  return m.breakGlass.some((b) => b.actor === a.key && b.study === s);
}

/** Whether the actor is a party of the read request (requesting side, reading side, or system admin). */
export function party(a: Actor, r: ReadRequest): boolean {
  if (a.role === 'system_admin') return true;
  if (!a.facility) return false;
  if (a.facility === r.from && ['referring_doctor', 'radiologist', 'facility_admin'].includes(a.role))
    return true;
  return readerSide(a, r);
}

/** The reading side of a request: the target facility's radiologists and admins. */
export function readerSide(a: Actor, r: ReadRequest): boolean {
  return a.facility === r.to && ['radiologist', 'facility_admin'].includes(a.role);
}

/**
 * Whether the actor may see a report of the request: its parties once signed; a draft only the
 * reading side and system admins (the requester receives signed reports only).
 */
export function seesReport(a: Actor, r: ReadRequest, final: boolean): boolean {
  return party(a, r) && (final || a.role === 'system_admin' || readerSide(a, r));
}

function patientSecretForms(name: string, id: string): string[] {
  const spaced = name.replace(/\^/g, ' ');
  const forms = [id, name, spaced, name.normalize('NFD'), spaced.normalize('NFD')];
  for (const part of name.split('^')) if (part.length >= 4) forms.push(part);
  return forms;
}

async function must(
  res: { statusCode: number; body: string },
  status: number,
  what: string,
): Promise<{ statusCode: number; body: string }> {
  expect(res.statusCode, `${what}: ${res.body}`).toBe(status);
  return res;
}

/** A small PNG for the request attachment (the gateway judges attachments by their bytes). */
async function png(): Promise<Buffer> {
  return sharp({ create: { width: 8, height: 8, channels: 3, background: { r: 200, g: 20, b: 20 } } })
    .png()
    .toBuffer();
}

function formData(name: string, filename: string, type: string, body: Buffer) {
  const boundary = `----RadLinkAuthz${randomBytes(6).toString('hex')}`;
  const payload = Buffer.concat([
    Buffer.from(
      `--${boundary}\r\nContent-Disposition: form-data; name="${name}"; filename="${filename}"\r\nContent-Type: ${type}\r\n\r\n`,
    ),
    body,
    Buffer.from(`\r\n--${boundary}--\r\n`),
  ]);
  return { payload, contentType: `multipart/form-data; boundary=${boundary}` };
}

async function eventually(what: string, fn: () => Promise<boolean>, ms = 45_000): Promise<void> {
  const until = Date.now() + ms;
  while (!(await fn())) {
    if (Date.now() > until) throw new Error(`${what}: not reached within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/**
 * Builds the world. Order matters only where the product requires it: studies before requests,
 * the attachment before the report is signed (a signed request takes no more), the signature
 * before the share link (links are for signed studies only).
 */
export async function buildWorld(t: TestApp): Promise<World> {
  const sfx = randomBytes(3).toString('hex');
  const admin = await t.adminToken();
  const as = (token: string, method: 'GET' | 'POST' | 'PUT', url: string, payload?: object) =>
    t.app.inject({ method, url, headers: bearer(token), ...(payload ? { payload } : {}) });

  const facilityIds: Record<FacilityKey, string> = {
    central: `az-tw-${sfx}`,
    district: `az-huyen-${sfx}`,
    commune: `az-xa-${sfx}`,
    provincial: `az-tinh-${sfx}`,
  };
  const facilityNames: Record<FacilityKey, string> = {
    central: `Bệnh viện Trung ương Ma trận ${sfx}`,
    district: `Trung tâm Y tế Huyện Ma trận ${sfx}`,
    commune: `Trạm Y tế Xã Ma trận ${sfx}`,
    provincial: `Bệnh viện Tỉnh Ma trận ${sfx}`,
  };
  const tiers: Record<FacilityKey, string> = {
    central: 'central',
    district: 'district',
    commune: 'commune',
    provincial: 'provincial',
  };
  for (const f of Object.keys(facilityIds) as FacilityKey[]) {
    await must(
      await as(admin, 'POST', '/api/facilities', {
        id: facilityIds[f],
        name: facilityNames[f],
        tier: tiers[f],
        parentId: null,
      }),
      201,
      `facility ${f}`,
    );
  }

  const staff: [ActorKey, Role, FacilityKey | null, string][] = [
    ['modelManager', 'model_manager', null, 'Quản lý Mô hình'],
    ['rad', 'radiologist', 'central', 'BS. Phạm Thị Đọc'],
    ['centralAdmin', 'facility_admin', 'central', 'Quản trị Trung ương'],
    ['doc', 'referring_doctor', 'district', 'BS. Lê Văn Huyện'],
    ['districtAdmin', 'facility_admin', 'district', 'Quản trị Huyện'],
    ['communeDoc', 'referring_doctor', 'commune', 'BS. Đinh Thị Xã'],
    ['otherRad', 'radiologist', 'provincial', 'BS. Ngô Văn Tỉnh'],
  ];
  const actors = {
    anon: { key: 'anon', role: 'anonymous', facility: null, token: null, userId: null },
    sysAdmin: { key: 'sysAdmin', role: 'system_admin', facility: null, token: admin, userId: null },
  } as Record<ActorKey, Actor>;
  for (const [key, role, facility, displayName] of staff) {
    const username = `az.${key.toLowerCase()}.${sfx}`;
    const res = await must(
      await as(admin, 'POST', '/api/users', {
        username,
        displayName,
        role,
        facilityId: facility ? facilityIds[facility] : null,
        password: PASSWORD,
      }),
      201,
      `user ${key}`,
    );
    actors[key] = {
      key,
      role,
      facility,
      token: await t.login(username, PASSWORD),
      userId: (JSON.parse(res.body) as { id: string }).id,
    };
  }

  // Studies: P1 has two studies at the district (the one sent for reading and its prior).
  const accessionPrefix = `AZ${sfx}`;
  const defs: [StudyKey, FacilityKey, string, string, ActorKey][] = [
    ['D_OWN', 'district', 'P1', 'Trần^Thị Ma Trận', 'doc'],
    ['D_PRIOR', 'district', 'P1', 'Trần^Thị Ma Trận', 'doc'],
    ['D_OTHERPAT', 'district', 'P2', 'Hoàng^Văn Riêng Tư', 'doc'],
    ['D_CANCEL', 'district', 'P4', 'Vũ^Thị Huỷ Bỏ', 'doc'],
    ['C_OWN', 'central', 'P3', 'Đặng^Văn Trung Tâm', 'rad'],
    ['X_OTHER', 'commune', 'P5', 'Phùng^Thị Khẩn Cấp', 'communeDoc'],
  ];
  const studies = {} as Record<StudyKey, Study>;
  let n = 0;
  for (const [key, owner, patient, patientName, by] of defs) {
    const patientId = `AZ-${sfx}-${patient}`;
    const studyUid = newUid();
    const inst = datedInstance({
      studyUid,
      patientName,
      patientId,
      studyDate: `2025010${++n}`,
      seed: n,
      extra: { '00080050': { vr: 'SH', Value: [`${accessionPrefix}${n}`] } },
    });
    const res = await stow(t, actors[by].token!, [inst.bytes]);
    await must(res, 200, `STOW ${key}`);
    studies[key] = {
      key,
      owner,
      patient,
      patientId,
      patientName,
      studyUid,
      seriesUid: inst.seriesUid,
      sopUid: inst.sopInstanceUid,
    };
  }

  // Read requests: R1 and R_CANCEL from the district to the central hospital, R_X from the
  // commune to the province. Each shares its study and the patient's priors with the target.
  const requestDefs: [RequestKey, StudyKey, FacilityKey, FacilityKey, ActorKey][] = [
    ['R1', 'D_OWN', 'district', 'central', 'doc'],
    ['R_CANCEL', 'D_CANCEL', 'district', 'central', 'doc'],
    ['R_X', 'X_OTHER', 'commune', 'provincial', 'communeDoc'],
  ];
  const requests = {} as Record<RequestKey, ReadRequest>;
  const grants: Model['grants'] = [];
  for (const [key, study, from, to, by] of requestDefs) {
    const res = await must(
      await as(actors[by].token!, 'POST', '/api/requests', {
        studyUid: studies[study].studyUid,
        targetFacilityId: facilityIds[to],
        priority: 'routine',
        clinicalInfo: 'Đau bụng hạ sườn phải, sốt nhẹ',
        question: 'Tổn thương gan khu trú?',
      }),
      201,
      `request ${key}`,
    );
    requests[key] = { key, id: (JSON.parse(res.body) as { id: string }).id, study, from, to };
    grants.push({ study, facility: to, priors: true, revoked: false, request: key });
  }

  const up = formData('file', 'giay-chuyen-vien.png', 'image/png', await png());
  const att = await must(
    await t.app.inject({
      method: 'POST',
      url: `/api/requests/${requests.R1.id}/attachments`,
      headers: { ...bearer(actors.doc.token!), 'content-type': up.contentType },
      payload: up.payload,
    }),
    201,
    'attachment',
  );
  const attachmentId = (JSON.parse(att.body) as { id: string }).id;

  const patientSecrets = [
    ...new Set(Object.values(studies).flatMap((s) => patientSecretForms(s.patientName, s.patientId))),
  ];
  const model: Model = {
    studies,
    grants,
    breakGlass: [],
    signedBy: {},
    claimedBy: {},
    shareStudy: 'D_OWN',
    requests,
  };
  return {
    sfx,
    accessionPrefix,
    facilityIds,
    facilityNames,
    actors,
    model,
    reportId: '',
    attachmentId,
    patientSecrets,
  };
}

/**
 * The central radiologist (who has claimed R1) drafts and signs its report; the delivery job makes
 * the PDF. Then the district doctor gives the patient a share link and the patient opens it:
 * the patient actor gets the share session's token.
 */
export async function signAndShare(t: TestApp, w: World): Promise<void> {
  const rad = w.actors.rad.token!;
  const as = (token: string, method: 'GET' | 'POST' | 'PUT', url: string, payload?: object) =>
    t.app.inject({ method, url, headers: bearer(token), ...(payload ? { payload } : {}) });
  const r1 = w.model.requests.R1.id;
  const draft = await must(
    await as(rad, 'PUT', `/api/requests/${r1}/report`, {
      templateId: 'ct-head',
      language: 'vi',
      fields: { haemorrhage: 'no', impression: 'Không thấy tổn thương khu trú.' },
      freeText: 'Tái khám sau 6 tháng.',
    }),
    200,
    'draft',
  );
  w.reportId = (JSON.parse(draft.body) as { id: string }).id;
  await must(await as(rad, 'POST', '/api/signing/enrol', { pin: SIGN_PIN }), 201, 'enrol');
  await must(await as(rad, 'POST', `/api/reports/${w.reportId}/sign`, { pin: SIGN_PIN }), 200, 'sign');
  w.model.signedBy.D_OWN = 'rad';
  await eventually('report PDF delivered', async () => {
    const res = await as(w.actors.doc.token!, 'GET', `/api/reports/${w.reportId}/pdf`);
    return res.statusCode === 200;
  });

  const link = await must(
    await as(w.actors.doc.token!, 'POST', `/api/studies/${w.model.studies.D_OWN.studyUid}/share-links`, {}),
    201,
    'share link',
  );
  const { token, pin } = JSON.parse(link.body) as { token: string; pin: string };
  const opened = await must(
    await t.app.inject({ method: 'POST', url: '/api/share/open', payload: { token, pin } }),
    200,
    'share open',
  );
  w.actors.patient = {
    key: 'patient',
    role: 'patient',
    facility: null,
    token: (JSON.parse(opened.body) as { token: string }).token,
    userId: null,
  };
}

/** A fresh instance for STOW into an existing study: same patient, new series and instance. */
export function instanceInto(s: Study, seed: number): { bytes: Buffer; sopUid: string } {
  const m = datedInstance({
    studyUid: s.studyUid,
    patientName: s.patientName,
    patientId: s.patientId,
    studyDate: '20250101',
    seed,
  });
  return { bytes: m.bytes, sopUid: m.sopInstanceUid };
}

export interface SseEvent {
  id: string;
  event: string;
  data: Record<string, unknown>;
  raw: string;
}

/**
 * What a browser's EventSource would see of `GET /api/events` over real HTTP (Node has no
 * EventSource): the answer's status, and every event as it arrives.
 */
export class SseStream {
  readonly events: SseEvent[] = [];
  status = 0;
  /** The body of a refused (non-200) answer. */
  body = '';
  private readonly abort = new AbortController();

  static async open(url: string, headers: Record<string, string>): Promise<SseStream> {
    const c = new SseStream();
    const res = await fetch(url, { headers, signal: c.abort.signal });
    c.status = res.status;
    if (res.status !== 200) {
      c.body = await res.text();
      return c;
    }
    void c.read(res.body!);
    return c;
  }

  private async read(body: ReadableStream<Uint8Array>): Promise<void> {
    const decoder = new TextDecoder();
    let buf = '';
    try {
      for await (const chunk of body) {
        buf += decoder.decode(chunk, { stream: true });
        for (let at = buf.indexOf('\n\n'); at >= 0; at = buf.indexOf('\n\n')) {
          const block = buf.slice(0, at);
          buf = buf.slice(at + 2);
          const f: Record<string, string> = {};
          for (const line of block.split('\n')) {
            const m = /^(id|event|data): (.*)$/.exec(line);
            if (m) f[m[1]!] = m[2]!;
          }
          if (f.event && f.data)
            this.events.push({ id: f.id ?? '', event: f.event, data: JSON.parse(f.data), raw: block });
        }
      }
    } catch {
      // aborted by close()
    }
  }

  close(): void {
    this.abort.abort();
  }
}
