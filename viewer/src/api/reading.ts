/** The remote-reading API (server/src/reading): requests, worklist, claims, reports, signing. */
import { errorFrom, json } from './http.js';
import type {
  AiFinding,
  Message,
  Priority,
  ReadRequest,
  Report,
  ReportTemplate,
  ReportWithAddenda,
  RequestStatus,
  Verification,
  VerifyStatus,
  WorklistItem,
} from './types.js';

export interface WorklistFilter {
  status?: 'open' | 'all' | RequestStatus;
  modality?: string;
  facilityId?: string;
  flagged?: boolean;
  mine?: boolean;
}

export const worklist = (f: WorklistFilter = {}) =>
  json<WorklistItem[]>('GET', '/api/worklist', { query: { ...f, limit: 200 } });

export const listRequests = (status?: RequestStatus) =>
  json<ReadRequest[]>('GET', '/api/requests', { query: { status, limit: 200 } });

export const getRequest = (id: string) => json<ReadRequest>('GET', `/api/requests/${id}`);

export interface NewRequest {
  studyUid: string;
  targetFacilityId: string;
  specialtyPool?: string;
  priority: Priority;
  clinicalInfo: string;
  question: string;
}

export const createRequest = (body: NewRequest) => json<ReadRequest>('POST', '/api/requests', { body });
export const claim = (id: string) => json<ReadRequest>('POST', `/api/requests/${id}/claim`);
export const release = (id: string) => json<ReadRequest>('POST', `/api/requests/${id}/release`);
export const cancelRequest = (id: string, reason: string) =>
  json<ReadRequest>('POST', `/api/requests/${id}/cancel`, { body: { reason } });

export const templates = (modality?: string) =>
  json<ReportTemplate[]>('GET', '/api/report-templates', { query: { modality } });

export const reportOf = (requestId: string) =>
  json<ReportWithAddenda>('GET', `/api/requests/${requestId}/report`);

export interface DraftInput {
  templateId: string;
  language: 'vi' | 'en';
  fields: Record<string, string>;
  freeText: string;
  /** The version last read: a stale one answers 409 (someone else saved meanwhile). */
  version?: number;
}

export const saveDraft = (requestId: string, body: DraftInput) =>
  json<Report>('PUT', `/api/requests/${requestId}/report`, { body });

export const sign = (reportId: string, pin: string) =>
  json<Report>('POST', `/api/reports/${reportId}/sign`, { body: { pin } });

export const addAddendum = (
  reportId: string,
  body: { language: 'vi' | 'en'; freeText: string; pin: string },
) => json<Report>('POST', `/api/reports/${reportId}/addenda`, { body });

export const verify = (reportId: string) => json<Verification>('GET', `/api/reports/${reportId}/verify`);

/** What the public check of a printed report answers (no patient data). */
export interface PublicVerification {
  reportId: string;
  status: VerifyStatus;
  reason: string;
  signedAt: string | null;
  revokedAt: string | null;
  contentHash: string | null;
  signerName: string | null;
  certificate: { serial: string; subject: string; issuer: string } | null;
  demo: boolean;
  addendum: boolean;
}

export const verifyPublic = (reportId: string, code: string) =>
  json<PublicVerification>('GET', `/api/verify/reports/${reportId}`, { query: { code } });

/** Measurement as the study viewer reports it (the imaging contract's ViewerMeasurement). */
export interface MeasurementInput {
  kind: 'length' | 'angle' | 'ellipse' | 'rectangle' | 'probe';
  label?: string;
  value: number;
  unit: string;
  seriesUid: string;
  sopInstanceUid: string;
  stats?: { mean?: number; sd?: number; areaMm2?: number };
}

export const addMeasurements = (reportId: string, items: MeasurementInput[], version: number) =>
  json<Report>('POST', `/api/reports/${reportId}/measurements`, { body: { items, version } });

export const addAiFindings = (reportId: string, findingIds: string[]) =>
  json<Report>('POST', `/api/reports/${reportId}/ai-findings`, { body: { findingIds } });

/** AI findings of a study; the answer's exact envelope is the AI results API's (a list, or {findings}). */
export async function aiResults(studyUid: string): Promise<AiFinding[]> {
  const res = await json<unknown>('GET', `/api/studies/${studyUid}/ai-results`);
  if (Array.isArray(res)) return res as AiFinding[];
  const o = res as { findings?: unknown; items?: unknown };
  if (Array.isArray(o.findings)) return o.findings as AiFinding[];
  if (Array.isArray(o.items)) return o.items as AiFinding[];
  return [];
}

export const messages = (requestId: string) => json<Message[]>('GET', `/api/requests/${requestId}/messages`);
export const postMessage = (requestId: string, body: string) =>
  json<Message>('POST', `/api/requests/${requestId}/messages`, { body: { body } });

export interface Pool {
  facilityId: string;
  pool: string;
  name: string;
}

export const poolsOf = (facilityId: string) => json<Pool[]>('GET', `/api/facilities/${facilityId}/pools`);

/** Attaches a photo (JPEG/PNG) or PDF to a request: multipart/form-data, field "file". */
export async function attach(requestId: string, file: File): Promise<void> {
  const form = new FormData();
  form.append('file', file, file.name);
  const res = await fetch(`/api/requests/${requestId}/attachments`, {
    method: 'POST',
    body: form,
    credentials: 'same-origin',
  });
  if (!res.ok) throw await errorFrom(res);
}

/** Acknowledges an unclaimed STAT request (its escalation stops; idempotent). */
export const acknowledge = (id: string) => json<unknown>('POST', `/api/requests/${id}/acknowledge`);

export interface Attachment {
  id: string;
  filename: string;
  contentType: 'image/jpeg' | 'image/png' | 'application/pdf';
  sizeBytes: number;
  uploadedBy: { id: string; name: string };
  createdAt: string;
}

export const attachments = (requestId: string) =>
  json<Attachment[]>('GET', `/api/requests/${requestId}/attachments`);

export const attachmentUrl = (requestId: string, attachmentId: string) =>
  `/api/requests/${requestId}/attachments/${attachmentId}?disposition=inline`;

export interface CreatedShareLink {
  url: string;
  token: string;
  pin: string | null;
  link: { expiresAt: string };
  qr: { svg: string };
  slip: { pdf: string };
}

/** A patient share link for a signed study (the PIN is shown once). */
export const createShareLink = (studyUid: string, secret: 'pin' | 'birth-year') =>
  json<CreatedShareLink>('POST', `/api/studies/${studyUid}/share-links`, { body: { secret } });
