/**
 * The study as the viewer needs it, from the gateway's DICOMweb (same origin: the session cookie
 * authenticates): QIDO-RS series list, WADO-RS series metadata → Cornerstone `wadors:` image IDs
 * whose metadata is registered with the DICOM image loader before any pixel is requested.
 */
import { wadors } from '@cornerstonejs/dicom-image-loader';
import { isImageModality } from '../api/modalities.js';
import { type InstanceGeometry, sortInstances } from './geometry.js';

export const DICOMWEB_ROOT = '/dicom-web';

/** DICOM JSON (PS3.18 Annex F): tag → {vr, Value | BulkDataURI}. */
export type DicomJson = Record<string, { vr: string; Value?: unknown[]; BulkDataURI?: string }>;

export interface SeriesSummary {
  seriesUid: string;
  modality: string;
  description: string;
  number: number;
  instanceCount: number;
}

export interface StackImage {
  imageId: string;
  sopInstanceUid: string;
  frame: number;
}

export interface LoadedSeries extends SeriesSummary {
  studyUid: string;
  images: StackImage[];
  /** Overlay text from the first instance (patient and study; shown, never logged). */
  info: StudyInfo;
  rows: number;
  cols: number;
  bytesPerImage: number;
  /** A volume (CT/MR with parallel, evenly spaced slices) can be shown as MPR. */
  isVolume: boolean;
  frameOfReferenceUid: string;
}

export interface StudyInfo {
  patientName: string;
  patientId: string;
  patientSex: string;
  birthDate: string;
  studyDate: string;
  studyDescription: string;
  institution: string;
}

export function first(ds: DicomJson, tag: string): unknown {
  return ds[tag]?.Value?.[0];
}
export function str(ds: DicomJson, tag: string): string {
  const v = first(ds, tag);
  if (v && typeof v === 'object' && 'Alphabetic' in v)
    return String((v as { Alphabetic: string }).Alphabetic);
  return v === undefined || v === null ? '' : String(v);
}
export function nums(ds: DicomJson, tag: string): number[] {
  return (ds[tag]?.Value ?? []).map(Number);
}

async function getJson<T>(url: string, signal?: AbortSignal): Promise<T> {
  const res = await fetch(url, {
    headers: { accept: 'application/dicom+json' },
    signal,
    credentials: 'same-origin',
  });
  if (res.status === 204) return [] as T;
  if (!res.ok) throw new Error(`HTTP ${res.status} ${url.split('?')[0]}`);
  return (await res.json()) as T;
}

export async function listSeries(studyUid: string, signal?: AbortSignal): Promise<SeriesSummary[]> {
  const rows = await getJson<DicomJson[]>(`${DICOMWEB_ROOT}/studies/${studyUid}/series`, signal);
  return rows
    .map((r) => ({
      seriesUid: str(r, '0020000E'),
      modality: str(r, '00080060'),
      description: str(r, '0008103E'),
      number: Number(str(r, '00200011') || 0),
      instanceCount: Number(str(r, '00201209') || 0),
    }))
    .sort((a, b) => a.number - b.number);
}

/** Image-bearing series the series strip shows; SEG/SR/PR/KO belong to panels or nowhere (modalities.ts). */
export function isImageSeries(s: Pick<SeriesSummary, 'modality'>): boolean {
  return isImageModality(s.modality);
}

export function frameUrl(studyUid: string, seriesUid: string, sop: string, frame: number): string {
  return `${location.origin}${DICOMWEB_ROOT}/studies/${studyUid}/series/${seriesUid}/instances/${sop}/frames/${frame}`;
}

export function thumbnailUrl(studyUid: string, seriesUid: string): string {
  return `${DICOMWEB_ROOT}/studies/${studyUid}/series/${seriesUid}/thumbnail`;
}

/** Server-rendered JPEG of one frame under the current window (the slow-link preview). */
export function renderedUrl(
  studyUid: string,
  seriesUid: string,
  sop: string,
  frame: number,
  window?: { center: number; width: number },
): string {
  const w = window ? `?window=${Math.round(window.center)},${Math.round(window.width)},linear` : '';
  return `${DICOMWEB_ROOT}/studies/${studyUid}/series/${seriesUid}/instances/${sop}/frames/${frame}/rendered${w}`;
}

export async function seriesMetadata(studyUid: string, seriesUid: string, signal?: AbortSignal) {
  return getJson<DicomJson[]>(`${DICOMWEB_ROOT}/studies/${studyUid}/series/${seriesUid}/metadata`, signal);
}

/**
 * Loads a series' metadata, registers each frame's metadata under its `wadors:` image ID, and
 * returns the frames in display order.
 */
export async function loadSeries(
  studyUid: string,
  summary: SeriesSummary,
  signal?: AbortSignal,
): Promise<LoadedSeries> {
  const instances = await seriesMetadata(studyUid, summary.seriesUid, signal);
  const geo: (InstanceGeometry & { ds: DicomJson })[] = instances.map((ds) => {
    const pos = nums(ds, '00200032');
    const ori = nums(ds, '00200037');
    return {
      ds,
      sopInstanceUid: str(ds, '00080018'),
      instanceNumber: Number(str(ds, '00200013') || 0),
      numberOfFrames: Number(str(ds, '00280008') || 1),
      ...(pos.length === 3 ? { position: pos as [number, number, number] } : {}),
      ...(ori.length === 6 ? { orientation: ori as [number, number, number, number, number, number] } : {}),
    };
  });
  const sorted = sortInstances(geo);
  const images: StackImage[] = [];
  for (const g of sorted) {
    for (let f = 1; f <= g.numberOfFrames; f++) {
      const imageId = `wadors:${frameUrl(studyUid, summary.seriesUid, g.sopInstanceUid, f)}`;
      wadors.metaDataManager.add(imageId, g.ds as never);
      images.push({ imageId, sopInstanceUid: g.sopInstanceUid, frame: f });
    }
  }
  const ds0 = sorted[0]?.ds ?? {};
  const rows = Number(str(ds0, '00280010') || 0);
  const cols = Number(str(ds0, '00280011') || 0);
  const bits = Number(str(ds0, '00280100') || 16);
  const spp = Number(str(ds0, '00280002') || 1);
  const modality = summary.modality || str(ds0, '00080060');
  const parallel =
    sorted.length >= 3 &&
    sorted.every((g) => g.numberOfFrames === 1 && g.position && g.orientation) &&
    sorted.every((g) => g.orientation!.every((v, i) => Math.abs(v - sorted[0]!.orientation![i]!) < 1e-3));
  return {
    ...summary,
    modality,
    studyUid,
    images,
    rows,
    cols,
    bytesPerImage: rows * cols * Math.ceil(bits / 8) * spp,
    isVolume: parallel && (modality === 'CT' || modality === 'MR'),
    frameOfReferenceUid: str(ds0, '00200052'),
    info: {
      patientName: str(ds0, '00100010').replace(/\^/g, ' ').trim(),
      patientId: str(ds0, '00100020'),
      patientSex: str(ds0, '00100040'),
      birthDate: str(ds0, '00100030'),
      studyDate: str(ds0, '00080020'),
      studyDescription: str(ds0, '00081030'),
      institution: str(ds0, '00080080'),
    },
  };
}

/** DICOM DA (YYYYMMDD) → YYYY-MM-DD for display. */
export function formatDa(da: string): string {
  return /^\d{8}$/.test(da) ? `${da.slice(0, 4)}-${da.slice(4, 6)}-${da.slice(6, 8)}` : da;
}
