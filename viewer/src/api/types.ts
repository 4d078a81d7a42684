/**
 * Shapes of the gateway's answers the viewer reads, written from the route schemas
 * (server/src/reading/schemas.ts, server/src/share/schemas.ts, server/src/identity/schemas.ts).
 * Types only: the viewer never imports server code.
 */

export type Role =
  | 'system_admin'
  | 'facility_admin'
  | 'radiologist'
  | 'referring_doctor'
  | 'model_manager'
  | 'service';

export interface User {
  id: string;
  username: string;
  displayName: string;
  role: Role;
  facilityId: string | null;
  totpEnabled: boolean;
  disabled: boolean;
}

export interface Facility {
  id: string;
  name: string;
  tier: string;
  parentId: string | null;
  aeTitles?: { aeTitle: string; host: string | null }[];
}

export type Priority = 'routine' | 'urgent' | 'stat';
export type RequestStatus = 'requested' | 'claimed' | 'reported' | 'signed' | 'cancelled';

export interface Person {
  id: string;
  name: string;
}

export interface ReadRequest {
  id: string;
  studyUid: string;
  accessionNumber: string;
  accessionAssigned: boolean;
  requestingFacilityId: string;
  requester: Person;
  targetFacilityId: string;
  specialtyPool: string | null;
  priority: Priority;
  clinicalInfo: string;
  question: string;
  status: RequestStatus;
  claimedBy: Person | null;
  claimedAt: string | null;
  dueAt: string;
  breached: boolean;
  createdAt: string;
  updatedAt: string;
  signedAt: string | null;
  cancelledAt: string | null;
  cancelReason: string | null;
}

export interface WorklistItem {
  request: ReadRequest;
  requestingFacilityName: string;
  waitingMinutes: number;
  aiFlag: boolean | null;
  patient: { name: string | null; id: string | null; sex: string | null; birthDate: string | null };
  study: { date: string | null; description: string | null; modalities: string[]; numInstances: number };
}

export type LangText = { vi: string; en: string };

export interface TemplateField {
  key: string;
  label: LangText;
  kind: 'text' | 'choice';
  options?: { value: string; label: LangText }[];
  requiredToSign?: boolean;
}

export interface ReportTemplate {
  id: string;
  modalities: string[];
  region: string;
  title: LangText;
  fields: TemplateField[];
}

export interface Measurement {
  n: number;
  kind: 'length' | 'angle' | 'ellipse' | 'rectangle' | 'probe';
  label: string | null;
  value: number;
  unit: string;
  seriesUid: string;
  sopInstanceUid: string;
  seriesNumber: number | null;
  instanceNumber: number | null;
  stats: { mean: number | null; sd: number | null; areaMm2: number | null } | null;
  addedBy: string;
  addedAt: string;
}

export interface Report {
  id: string;
  requestId: string;
  studyUid: string;
  parentReportId: string | null;
  author: Person;
  templateId: string;
  language: 'vi' | 'en';
  fields: Record<string, string>;
  measurements: Measurement[];
  freeText: string;
  status: 'draft' | 'final';
  version: number;
  contentHash: string | null;
  signedAt: string | null;
  createdAt: string;
  updatedAt: string;
  signature: { signer: Person; signedAt: string; certificateSerial: string } | null;
}

export interface ReportWithAddenda {
  report: Report;
  addenda: Report[];
}

export type VerifyStatus = 'valid' | 'tampered' | 'revoked-since' | 'revoked' | 'untrusted';

export interface Verification {
  reportId: string;
  status: VerifyStatus;
  reason: string;
  signedAt: string | null;
  revokedAt: string | null;
  signer: Person | null;
  demo: boolean;
}

export interface Message {
  id: string;
  author: Person;
  body: string;
  createdAt: string;
}

/** One AI finding of a study, as the AI results API lists it. */
export interface AiFinding {
  id: string;
  label?: string;
  description?: string;
  model?: { id?: string; version?: string };
  status?: string;
}

export interface PatientReport {
  id: string;
  parentReportId: string | null;
  title: string;
  language: 'vi' | 'en';
  sections: { label: string; text: string }[];
  freeText: string;
  signer: { name: string };
  signedAt: string;
  verification: { status: VerifyStatus; reason: string; demo: boolean; checkedAt: string };
  pdfAvailable: boolean;
}

export interface ShareMe {
  studyUid: string;
  facility: { id: string | null; name: string | null };
  study: {
    date: string | null;
    description: string | null;
    modalities: string[];
    numSeries: number;
    numInstances: number;
  };
  series: {
    seriesUid: string;
    modality: string | null;
    seriesNumber: number | null;
    description: string | null;
    numInstances: number;
  }[];
  reports: PatientReport[];
  link: { expiresAt: string };
  session: { expiresAt: string };
}

export interface AccessLogEntry {
  at: string;
  action: string;
  what: LangText;
  actor: {
    kind: 'you' | 'staff' | 'system' | 'unknown';
    role: string | null;
    label: LangText | null;
    facility: string | null;
  };
  outcome: 'success' | 'denied' | 'not-found' | 'error';
}

export interface AccessLog {
  studyUid: string;
  entries: AccessLogEntry[];
  nextBefore: number | null;
  note: LangText;
}
