/**
 * QIDO-RS as SQL over the study index: a parsed query (dicomweb/qido-query.ts) plus the caller's
 * access scope become one SELECT with the scope predicate inside it, so LIMIT and OFFSET count
 * only studies the caller may see, and the database applies them (never the gateway).
 *
 * Invariants:
 *  - Every value is a bound parameter; only column names from the table below are spliced in.
 *  - One deterministic order per level: studies newest first (study date, time), then UID, so
 *    pages never overlap or skip; series by number, instances by number, then UID. The study
 *    order matches the studies_date_idx / studies_facility_date_idx indexes.
 *  - Person names are matched on the folded columns with the matchers of name-folding.ts:
 *    `exact` (=), `like` (LIKE, prefix patterns use the text_pattern_ops index) and
 *    `word-prefixes` (patient names: one prefix range scan per word on study_name_words;
 *    referring physicians: a LIKE on the folded column, rarely searched and never alone).
 */
import type { StudyScope } from '../access/study-access.js';
import { studyScopeSql } from '../access/study-access.js';
import type { QidoCondition, QidoLevel, QidoQuery } from '../dicomweb/qido-query.js';
import { escapeLike, LIKE_ESCAPE, type PersonNameMatcher, wordPrefixLikePattern } from './name-folding.js';

/** Column of each matching attribute (by tag), with the alias of its table. */
const COLUMNS: Readonly<Record<string, string>> = {
  '00100010': 's.patient_name_folded',
  '00100020': 's.patient_id',
  '00100021': 's.issuer_of_patient_id',
  '00100030': 's.patient_birth_date',
  '00100040': 's.patient_sex',
  '0020000D': 's.study_uid',
  '00080020': 's.study_date',
  '00080030': 's.study_time',
  '00080050': 's.accession_number',
  '00200010': 's.study_id',
  '00081030': 's.study_description',
  '00080090': 's.referring_physician_folded',
  '00080061': 's.modalities',
  '0020000E': 'se.series_uid',
  '00080060': 'se.modality',
  '00200011': 'se.series_number',
  '0008103E': 'se.series_description',
  '00180015': 'se.body_part_examined',
  '00080018': 'i.sop_instance_uid',
  '00080016': 'i.sop_class_uid',
  '00200013': 'i.instance_number',
};

const STUDY_COLUMNS = `s.study_uid, s.patient_name, s.patient_id, s.issuer_of_patient_id, s.patient_birth_date,
  s.patient_sex, s.study_date, s.study_time, s.accession_number, s.study_id, s.study_description,
  s.referring_physician_name, s.modalities, s.num_series, s.num_instances`;
const SERIES_COLUMNS = `se.series_uid, se.modality, se.series_number, se.series_description, se.body_part_examined,
  se.series_date, se.series_time, se.num_instances AS series_num_instances`;
const INSTANCE_COLUMNS = `i.sop_instance_uid, i.sop_class_uid, i.instance_number, i.number_of_frames, i.rows,
  i.columns, i.transfer_syntax_uid`;

const STUDY_ORDER = 's.study_date DESC NULLS LAST, s.study_time DESC NULLS LAST, s.study_uid';
const SERIES_ORDER = 'se.series_number NULLS LAST, se.series_uid';
const INSTANCE_ORDER = 'i.instance_number NULLS LAST, i.sop_instance_uid';

export interface StudyRow {
  study_uid: string;
  patient_name: string | null;
  patient_id: string | null;
  issuer_of_patient_id: string | null;
  patient_birth_date: string | null;
  patient_sex: string | null;
  study_date: string | null;
  study_time: string | null;
  accession_number: string | null;
  study_id: string | null;
  study_description: string | null;
  referring_physician_name: string | null;
  modalities: string[];
  num_series: number;
  num_instances: number;
  study_json?: Record<string, unknown> | null;
}
export interface SeriesRow extends StudyRow {
  series_uid: string;
  modality: string | null;
  series_number: number | null;
  series_description: string | null;
  body_part_examined: string | null;
  series_date: string | null;
  series_time: string | null;
  series_num_instances: number;
  series_json?: Record<string, unknown> | null;
}
export interface InstanceRow extends SeriesRow {
  sop_instance_uid: string;
  sop_class_uid: string | null;
  instance_number: number | null;
  number_of_frames: number | null;
  rows: number | null;
  columns: number | null;
  transfer_syntax_uid: string | null;
  instance_json?: Record<string, unknown> | null;
}

export interface QidoSql {
  sql: string;
  params: unknown[];
}

class Params {
  readonly values: unknown[] = [];
  add(v: unknown): string {
    this.values.push(v);
    return `$${this.values.length}`;
  }
}

function personNameSql(m: PersonNameMatcher, column: string, p: Params): string {
  const esc = `ESCAPE '${LIKE_ESCAPE}'`;
  switch (m.kind) {
    case 'any':
      return 'TRUE';
    case 'exact':
      return `${column} = ${p.add(m.value)}`;
    case 'like':
      return `${column} LIKE ${p.add(m.pattern)} ${esc}`;
    case 'word-prefixes':
      // Patient names: one prefix range scan per word on study_name_words, which the planner
      // either drives the query with (rare words) or probes per row while walking the date index
      // (common words); measured best of the variants tried at 100k studies on both engines.
      if (column === 's.patient_name_folded') {
        return m.prefixes
          .map(
            (w) =>
              `s.study_uid IN (SELECT w.study_uid FROM study_name_words w WHERE w.word LIKE ${p.add(`${escapeLike(w)}%`)} ${esc})`,
          )
          .join(' AND ');
      }
      return m.prefixes
        .map((w) => `(' ' || ${column}) LIKE ${p.add(wordPrefixLikePattern(w))} ${esc}`)
        .join(' AND ');
  }
}

function conditionSql(c: QidoCondition, p: Params): string {
  const column = COLUMNS[c.tag];
  if (!column) throw new Error(`no index column for ${c.attribute}`);
  const esc = `ESCAPE '${LIKE_ESCAPE}'`;
  const isArray = c.tag === '00080061';
  switch (c.kind) {
    case 'person-name':
      return personNameSql(c.matcher, column, p);
    case 'uid-list':
      return c.uids.length === 1
        ? `${column} = ${p.add(c.uids[0])}`
        : `${column} = ANY (${p.add(c.uids)}::text[])`;
    case 'exact':
      if (isArray) return `${column} && ${p.add(c.values)}::text[]`;
      return c.values.length === 1
        ? `${column} = ${p.add(c.values[0])}`
        : `${column} = ANY (${p.add(c.values)}::text[])`;
    case 'like':
      if (isArray)
        return `EXISTS (SELECT 1 FROM unnest(${column}) AS m WHERE m LIKE ${p.add(c.pattern)} ${esc})`;
      return `${column} LIKE ${p.add(c.pattern)} ${esc}`;
    case 'date-range':
    case 'time-range': {
      const parts: string[] = [];
      if (c.from !== undefined) parts.push(`${column} >= ${p.add(c.from)}`);
      if (c.to !== undefined) parts.push(`${column} <= ${p.add(c.to)}`);
      return parts.join(' AND ');
    }
    case 'integer':
      return `${column} = ${p.add(c.value)}`;
  }
}

/** Does the response need the stored DICOM JSON (includefield beyond the default columns)? */
function wantsJson(q: QidoQuery): boolean {
  return q.includeFields === 'all' || q.includeFields.length > 0;
}

const FROM: Record<QidoLevel, string> = {
  study: 'studies s',
  series: 'series se JOIN studies s ON s.study_uid = se.study_uid',
  instance:
    'instances i JOIN series se ON se.series_uid = i.series_uid JOIN studies s ON s.study_uid = i.study_uid',
};

export function buildQidoSql(q: QidoQuery, scope: StudyScope): QidoSql {
  const p = new Params();
  const where: string[] = [];
  for (const c of q.conditions) where.push(conditionSql(c, p));
  const access = studyScopeSql(scope, 's', p.values.length + 1);
  p.values.push(...access.params);
  where.push(access.sql);

  const json = wantsJson(q);
  const columns = [STUDY_COLUMNS];
  if (json) columns.push('s.dicom_json AS study_json');
  if (q.level !== 'study') columns.push(SERIES_COLUMNS, ...(json ? ['se.dicom_json AS series_json'] : []));
  if (q.level === 'instance')
    columns.push(INSTANCE_COLUMNS, ...(json ? ['i.dicom_json AS instance_json'] : []));
  const order = [STUDY_ORDER];
  if (q.level !== 'study') order.push(SERIES_ORDER);
  if (q.level === 'instance') order.push(INSTANCE_ORDER);

  const whereSql = where.map((w) => `(${w})`).join('\n  AND ');
  if (q.level === 'study') {
    // Deferred join: the page's UIDs are found first, which for an unfiltered or date-only search
    // is an index-only walk of studies_date_idx, then only `limit` rows are read in full. A deep
    // offset (50,000) then costs index entries, not 50,000 heap rows (measured 34 → ~10 ms).
    const sql = `WITH page AS (
  SELECT s.study_uid FROM studies s
  WHERE ${whereSql}
  ORDER BY ${STUDY_ORDER}
  LIMIT ${p.add(q.limit)} OFFSET ${p.add(q.offset)})
SELECT ${columns.join(',\n  ')}
FROM page JOIN studies s ON s.study_uid = page.study_uid
ORDER BY ${STUDY_ORDER}`;
    return { sql, params: p.values };
  }
  const sql = `SELECT ${columns.join(',\n  ')}
FROM ${FROM[q.level]}
WHERE ${whereSql}
ORDER BY ${order.join(', ')}
LIMIT ${p.add(q.limit)} OFFSET ${p.add(q.offset)}`;
  return { sql, params: p.values };
}
