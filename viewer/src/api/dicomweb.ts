/**
 * DICOMweb calls the shell makes itself (the study viewer loads pixels on its own): study
 * search, a study's series, which SOP instances the server already holds, and STOW-RS uploads
 * with byte-level progress (XMLHttpRequest: fetch has no upload progress).
 */
import { type DicomJson, num, parseStowResponse, type StowOutcome, str, strs } from './dicom-json.js';
import { ApiError, NetworkError, request } from './http.js';
import { isImageModality } from './modalities.js';
import { partEnds, partHeader, type StudySearch, studyQuery } from './qido-query.js';

export type { StudySearch } from './qido-query.js';

export interface StudyRow {
  studyUid: string;
  patientName: string | null;
  patientId: string | null;
  birthDate: string | null;
  date: string | null;
  description: string | null;
  accession: string | null;
  modalities: string[];
  numSeries: number | null;
  numInstances: number | null;
}

export function toStudyRow(ds: DicomJson): StudyRow {
  return {
    studyUid: str(ds, '0020000D') ?? '',
    patientName: str(ds, '00100010'),
    patientId: str(ds, '00100020'),
    birthDate: str(ds, '00100030'),
    date: str(ds, '00080020'),
    description: str(ds, '00081030'),
    accession: str(ds, '00080050'),
    modalities: strs(ds, '00080061'),
    numSeries: num(ds, '00201206'),
    numInstances: num(ds, '00201208'),
  };
}

const DICOM_JSON = { accept: 'application/dicom+json' };

async function qido(path: string, query: Record<string, string>): Promise<DicomJson[]> {
  const res = await request('GET', path, { query, headers: DICOM_JSON });
  if (res.status === 204) return [];
  const text = await res.text();
  return text ? (JSON.parse(text) as DicomJson[]) : [];
}

export async function searchStudies(s: StudySearch): Promise<StudyRow[]> {
  return (await qido('/dicom-web/studies', studyQuery(s))).map(toStudyRow);
}

export async function studyByUid(studyUid: string): Promise<StudyRow | null> {
  const rows = await qido('/dicom-web/studies', {
    StudyInstanceUID: studyUid,
    includefield: '00081030,00201206,00201208',
  });
  return rows[0] ? toStudyRow(rows[0]) : null;
}

/** Other studies of the same patient (same Patient ID and issuer), newest first: the priors. */
export async function priorsOf(study: StudyRow, issuer?: string): Promise<StudyRow[]> {
  if (!study.patientId) return [];
  const q: Record<string, string> = {
    PatientID: study.patientId,
    limit: '20',
    includefield: '00081030,00201206,00201208',
  };
  if (issuer) q.IssuerOfPatientID = issuer;
  const rows = (await qido('/dicom-web/studies', q)).map(toStudyRow);
  return rows
    .filter((r) => r.studyUid !== study.studyUid && r.patientId === study.patientId)
    .sort((a, b) => (b.date ?? '').localeCompare(a.date ?? ''));
}

export interface SeriesRow {
  seriesUid: string;
  modality: string | null;
  number: number | null;
  description: string | null;
  numInstances: number | null;
}

export async function seriesOf(studyUid: string): Promise<SeriesRow[]> {
  const rows = await qido(`/dicom-web/studies/${studyUid}/series`, {
    includefield: '0008103E,00201209',
  });
  return rows
    .map((ds) => ({
      seriesUid: str(ds, '0020000E') ?? '',
      modality: str(ds, '00080060'),
      number: num(ds, '00200011'),
      description: str(ds, '0008103E'),
      numInstances: num(ds, '00201209'),
    }))
    .sort((a, b) => (a.number ?? 1e9) - (b.number ?? 1e9));
}

/** Series without pixels to show (modalities.ts). */
export const isImageSeries = (modality: string | null) => isImageModality(modality);

export const seriesThumbnailUrl = (studyUid: string, seriesUid: string) =>
  `/dicom-web/studies/${studyUid}/series/${seriesUid}/thumbnail`;

/**
 * SOP Instance UIDs of a study the server already holds and the caller may see (paged). A study
 * the server does not know (or not in scope) has none.
 */
export async function storedInstanceUids(studyUid: string): Promise<Set<string>> {
  const out = new Set<string>();
  const page = 1000;
  for (let offset = 0; ; offset += page) {
    let rows: DicomJson[];
    try {
      rows = await qido(`/dicom-web/studies/${studyUid}/instances`, {
        includefield: '00080018',
        limit: String(page),
        offset: String(offset),
      });
    } catch (e) {
      if (e instanceof ApiError && e.status === 404) return out;
      throw e;
    }
    for (const ds of rows) {
      const uid = str(ds, '00080018');
      if (uid) out.add(uid);
    }
    if (rows.length < page) return out;
  }
}

/** A multipart/related body of DICOM parts (PS3.18 8.6.1.2) as a Blob: files are never copied into one buffer. */
export function multipartBody(parts: Blob[], boundary: string): Blob {
  const chunks: BlobPart[] = [];
  for (const p of parts) chunks.push(partHeader(boundary), p, '\r\n');
  chunks.push(`--${boundary}--\r\n`);
  return new Blob(chunks);
}

export interface StowResult extends StowOutcome {
  status: number;
}

/**
 * One STOW-RS request. `onProgress(fractions)` follows the upload with how much of each part
 * has been sent (0..1, in order); resolves with the per-instance outcome for 200/202/409 (409:
 * none stored, each with its FailureReason); other statuses are errors.
 */
export function stow(
  parts: Blob[],
  onProgress: (fractions: number[]) => void,
  signal?: AbortSignal,
): Promise<StowResult> {
  const boundary = `radlink-${crypto.randomUUID()}`;
  const body = multipartBody(parts, boundary);
  const sizes = parts.map((p) => p.size);
  const ends = partEnds(sizes, boundary);
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', '/dicom-web/studies');
    xhr.setRequestHeader('content-type', `multipart/related; type="application/dicom"; boundary=${boundary}`);
    xhr.setRequestHeader('accept', 'application/dicom+json');
    xhr.upload.onprogress = (e) =>
      onProgress(
        ends.map((end, i) => Math.max(0, Math.min(1, 1 - (end - e.loaded) / Math.max(1, sizes[i]!)))),
      );
    xhr.onerror = () => reject(new NetworkError('upload interrupted'));
    xhr.onabort = () => reject(new DOMException('aborted', 'AbortError'));
    xhr.onload = () => {
      let parsed: unknown = null;
      try {
        parsed = xhr.responseText ? JSON.parse(xhr.responseText) : null;
      } catch {
        parsed = null;
      }
      if (
        (xhr.status === 200 || xhr.status === 202 || xhr.status === 409) &&
        parsed &&
        !('code' in (parsed as object))
      ) {
        resolve({ status: xhr.status, ...parseStowResponse(parsed as DicomJson) });
        return;
      }
      const err = parsed as { code?: string; message?: string } | null;
      reject(new ApiError(xhr.status, err?.code ?? `HTTP_${xhr.status}`, err?.message ?? xhr.statusText));
    };
    signal?.addEventListener('abort', () => xhr.abort(), { once: true });
    xhr.send(body);
  });
}
