/**
 * Index rows → QIDO-RS response objects in the DICOM JSON model (PS3.18 Annex F).
 *
 * What is returned is decided here and only here (the route's response schema lets any tag
 * through, since tags are dynamic): the required attributes of PS3.18 Table 6.7.1-2 / -2a / -2b
 * for the level (and, for searches that are not under a study, the parent levels' ones too, so a
 * client can tell which study a series belongs to), the matching keys of the query, and
 * `includefield` attributes, which come from the DICOM JSON stored with the row (instance, then
 * series, then study). Nothing else from the stored JSON leaves the server.
 */

import type { InstanceRow, SeriesRow, StudyRow } from '../index/search.js';
import type { QidoQuery } from './qido-query.js';

type Attr = { vr: string; Value?: unknown[] };
export type DicomJsonObject = Record<string, Attr>;

const text = (vr: string, v: string | null | undefined): Attr => (v ? { vr, Value: [v] } : { vr });
const num = (vr: string, v: number | null | undefined): Attr =>
  v === null || v === undefined ? { vr } : { vr, Value: [v] };
const pn = (v: string | null): Attr => (v ? { vr: 'PN', Value: [{ Alphabetic: v }] } : { vr: 'PN' });

function studyAttributes(r: StudyRow, base: string): DicomJsonObject {
  return {
    '00080020': text('DA', r.study_date),
    '00080030': text('TM', r.study_time),
    '00080050': text('SH', r.accession_number),
    '00080056': text('CS', 'ONLINE'),
    '00080061': r.modalities.length > 0 ? { vr: 'CS', Value: [...r.modalities] } : { vr: 'CS' },
    '00080090': pn(r.referring_physician_name),
    '00081030': text('LO', r.study_description),
    '00081190': text('UR', `${base}/dicom-web/studies/${r.study_uid}`),
    '00100010': pn(r.patient_name),
    '00100020': text('LO', r.patient_id),
    '00100030': text('DA', r.patient_birth_date),
    '00100040': text('CS', r.patient_sex),
    '0020000D': text('UI', r.study_uid),
    '00200010': text('SH', r.study_id),
    '00201206': num('IS', r.num_series),
    '00201208': num('IS', r.num_instances),
  };
}

function seriesAttributes(r: SeriesRow, base: string): DicomJsonObject {
  return {
    '00080060': text('CS', r.modality),
    '0008103E': text('LO', r.series_description),
    '00081190': text('UR', `${base}/dicom-web/studies/${r.study_uid}/series/${r.series_uid}`),
    '0020000D': text('UI', r.study_uid),
    '0020000E': text('UI', r.series_uid),
    '00200011': num('IS', r.series_number),
    '00201209': num('IS', r.series_num_instances),
  };
}

function instanceAttributes(r: InstanceRow, base: string): DicomJsonObject {
  return {
    '00080016': text('UI', r.sop_class_uid),
    '00080018': text('UI', r.sop_instance_uid),
    '00080056': text('CS', 'ONLINE'),
    '00080060': text('CS', r.modality),
    '00081190': text(
      'UR',
      `${base}/dicom-web/studies/${r.study_uid}/series/${r.series_uid}/instances/${r.sop_instance_uid}`,
    ),
    '0020000D': text('UI', r.study_uid),
    '0020000E': text('UI', r.series_uid),
    '00200013': num('IS', r.instance_number),
    '00280008': num('IS', r.number_of_frames),
    '00280010': num('US', r.rows),
    '00280011': num('US', r.columns),
  };
}

/** Matching keys with a column but outside the defaults, returned because they were matched. */
function matchedColumns(r: SeriesRow | StudyRow, tag: string): Attr | undefined {
  switch (tag) {
    case '00100021':
      return text('LO', r.issuer_of_patient_id);
    case '00180015':
      return 'body_part_examined' in r ? text('CS', r.body_part_examined) : undefined;
    default:
      return undefined;
  }
}

function sorted(o: DicomJsonObject): DicomJsonObject {
  const out: DicomJsonObject = {};
  for (const k of Object.keys(o).sort()) out[k] = o[k]!;
  return out;
}

type Json = Record<string, unknown> | null | undefined;

function fromJson(tag: string, ...sources: Json[]): Attr | undefined {
  for (const s of sources) {
    const a = s?.[tag] as Attr | undefined;
    if (a && typeof a === 'object' && typeof a.vr === 'string') return a;
  }
  return undefined;
}

/**
 * Adds matched and included attributes. Default attributes are computed from columns and win
 * over stored JSON (normalised values, counts that stay current).
 */
function extend(
  out: DicomJsonObject,
  q: QidoQuery,
  row: StudyRow | SeriesRow,
  sources: Json[],
): DicomJsonObject {
  const extra = new Set<string>(q.conditions.map((c) => c.tag));
  if (q.includeFields === 'all') {
    for (const s of sources) for (const tag of Object.keys(s ?? {})) extra.add(tag);
  } else for (const tag of q.includeFields) extra.add(tag);
  for (const tag of extra) {
    if (out[tag]) continue;
    const a = matchedColumns(row, tag) ?? fromJson(tag, ...sources);
    if (a) out[tag] = a;
  }
  return sorted(out);
}

export function studyResult(r: StudyRow, q: QidoQuery, base: string): DicomJsonObject {
  return extend(studyAttributes(r, base), q, r, [r.study_json]);
}

/** `withStudy`: a search over all series, so the study's attributes are returned as well. */
export function seriesResult(r: SeriesRow, q: QidoQuery, base: string, withStudy: boolean): DicomJsonObject {
  const study = withStudy ? studyAttributes(r, base) : {};
  return extend({ ...study, ...seriesAttributes(r, base) }, q, r, [r.series_json, r.study_json]);
}

export function instanceResult(
  r: InstanceRow,
  q: QidoQuery,
  base: string,
  parents: { study: boolean; series: boolean },
): DicomJsonObject {
  const out: DicomJsonObject = {
    ...(parents.study ? studyAttributes(r, base) : {}),
    ...(parents.series ? seriesAttributes(r, base) : {}),
    ...instanceAttributes(r, base),
  };
  return extend(out, q, r, [r.instance_json, r.series_json, r.study_json]);
}
