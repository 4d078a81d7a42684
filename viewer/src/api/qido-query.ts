/**
 * Pure request building for DICOMweb (no browser types, unit-tested): the QIDO-RS study query
 * and the layout of a STOW-RS multipart body.
 */

export interface StudySearch {
  patientName?: string;
  patientId?: string;
  /** YYYY-MM-DD */
  from?: string;
  to?: string;
  modality?: string;
}

/**
 * QIDO-RS study query. Names go as typed with fuzzy matching: the gateway folds case and
 * Vietnamese diacritics (đ → d) and matches word prefixes, so "nguyen thi" finds Nguyễn^Thị.
 */
export function studyQuery(s: StudySearch, limit = 100): Record<string, string> {
  const q: Record<string, string> = { limit: String(limit), includefield: '00081030,00201206,00201208' };
  const name = s.patientName?.trim();
  if (name) {
    q.PatientName = name;
    q.fuzzymatching = 'true';
  }
  if (s.patientId?.trim()) q.PatientID = s.patientId.trim();
  const d = (v?: string) => (v ? v.replaceAll('-', '') : '');
  if (s.from || s.to) q.StudyDate = s.from === s.to ? d(s.from) : `${d(s.from)}-${d(s.to)}`;
  if (s.modality) q.ModalitiesInStudy = s.modality;
  return q;
}

/** The part header of a DICOM part in a multipart/related body (PS3.18 8.6.1.2). */
export const partHeader = (boundary: string) => `--${boundary}\r\nContent-Type: application/dicom\r\n\r\n`;

/** Byte offset where each part's content ends inside the multipart body (for per-file progress). */
export function partEnds(sizes: number[], boundary: string): number[] {
  const header = partHeader(boundary).length;
  const ends: number[] = [];
  let at = 0;
  for (const s of sizes) {
    at += header + s;
    ends.push(at);
    at += 2;
  }
  return ends;
}
