/**
 * QIDO-RS query-string parsing into a typed, validated filter (PS3.18 8.3.4, 10.6).
 *
 * The gateway answers QIDO from its own index (Orthanc 1.10's QIDO cannot match percent-encoded or
 * diacritic-free Vietnamese names), so this module is the contract between the HTTP layer and the
 * SQL builder. Input: the query string already percent-decoded into key → values (Unicode). Output:
 * `QidoQuery`, or a `QidoQueryError` listing every problem (the caller answers 400).
 *
 * Supported matching keys, by entity. A query at a level may match attributes of that level and
 * of the levels above it (PS3.18 10.6.1.2: e.g. SearchForSeries over all studies may constrain
 * study attributes); patient attributes count as study level (no patient-root queries).
 *
 *   patient  (study, series, instance queries): PatientName, PatientID, IssuerOfPatientID,
 *            PatientBirthDate, PatientSex
 *   study    (study, series, instance queries): StudyInstanceUID, StudyDate, StudyTime,
 *            AccessionNumber, StudyID, StudyDescription, ReferringPhysicianName, ModalitiesInStudy
 *   series   (series, instance queries):        SeriesInstanceUID, Modality, SeriesNumber,
 *            SeriesDescription, BodyPartExamined
 *   instance (instance queries):                SOPInstanceUID, SOPClassUID, InstanceNumber
 *
 * Matching kinds (PS3.4 C.2.2.2):
 *   UI            → `uid-list` (single UID or list separated by `,` or `\`; C.2.2.2.2; no wildcards)
 *   DA            → `date-range` (single date, `a-b`, `-b`, `a-`; C.2.2.2.5), inclusive YYYYMMDD
 *   TM            → `time-range` (same forms), bounds normalised to HHMMSS.ffffff, inclusive
 *   PN            → `person-name` (folded, accent-insensitive; see server/src/index/name-folding.ts)
 *   IS            → `integer`
 *   CS/LO/SH      → `exact` (values; CS allows a `,`/`\` list meaning any-of) or `like` when the
 *                   value holds `*` or `?` (C.2.2.2.4)
 * An empty value or a value of only `*` is universal matching (C.2.2.2.3/C.2.2.2.4): no condition,
 * but the attribute is added to `includeFields` so it is returned.
 *
 * Not supported (rejected with 400): sequence/nested keys (`00400275.00401001`), private tags,
 * attributes outside the table, a matching key repeated, combined DA+TM range matching
 * (C.2.2.2.5.1 — StudyDate and StudyTime are matched independently).
 */
import { escapeLike, type PersonNameMatcher, parsePersonNameQuery, toNfc } from '../index/name-folding.js';
import { isSafeUid } from './media-types.js';

export type QidoLevel = 'study' | 'series' | 'instance';
export type QidoEntity = 'patient' | 'study' | 'series' | 'instance';
export type QidoVr = 'PN' | 'LO' | 'SH' | 'CS' | 'UI' | 'DA' | 'TM' | 'IS';

export interface QidoAttribute {
  keyword: string;
  /** 8 upper-case hex digits, e.g. '00100010'. */
  tag: string;
  vr: QidoVr;
  entity: QidoEntity;
}

/** Attributes that may be used as matching keys. */
export const QIDO_MATCHING_ATTRIBUTES: readonly QidoAttribute[] = [
  { keyword: 'PatientName', tag: '00100010', vr: 'PN', entity: 'patient' },
  { keyword: 'PatientID', tag: '00100020', vr: 'LO', entity: 'patient' },
  { keyword: 'IssuerOfPatientID', tag: '00100021', vr: 'LO', entity: 'patient' },
  { keyword: 'PatientBirthDate', tag: '00100030', vr: 'DA', entity: 'patient' },
  { keyword: 'PatientSex', tag: '00100040', vr: 'CS', entity: 'patient' },
  { keyword: 'StudyInstanceUID', tag: '0020000D', vr: 'UI', entity: 'study' },
  { keyword: 'StudyDate', tag: '00080020', vr: 'DA', entity: 'study' },
  { keyword: 'StudyTime', tag: '00080030', vr: 'TM', entity: 'study' },
  { keyword: 'AccessionNumber', tag: '00080050', vr: 'SH', entity: 'study' },
  { keyword: 'StudyID', tag: '00200010', vr: 'SH', entity: 'study' },
  { keyword: 'StudyDescription', tag: '00081030', vr: 'LO', entity: 'study' },
  { keyword: 'ReferringPhysicianName', tag: '00080090', vr: 'PN', entity: 'study' },
  { keyword: 'ModalitiesInStudy', tag: '00080061', vr: 'CS', entity: 'study' },
  { keyword: 'SeriesInstanceUID', tag: '0020000E', vr: 'UI', entity: 'series' },
  { keyword: 'Modality', tag: '00080060', vr: 'CS', entity: 'series' },
  { keyword: 'SeriesNumber', tag: '00200011', vr: 'IS', entity: 'series' },
  { keyword: 'SeriesDescription', tag: '0008103E', vr: 'LO', entity: 'series' },
  { keyword: 'BodyPartExamined', tag: '00180015', vr: 'CS', entity: 'series' },
  { keyword: 'SOPInstanceUID', tag: '00080018', vr: 'UI', entity: 'instance' },
  { keyword: 'SOPClassUID', tag: '00080016', vr: 'UI', entity: 'instance' },
  { keyword: 'InstanceNumber', tag: '00200013', vr: 'IS', entity: 'instance' },
];

/**
 * Attributes that may only be named in `includefield` (returned, not matched). A tag outside both
 * tables is also accepted in `includefield` when given as 8 hex digits (the caller returns what it
 * has); unknown *keywords* are rejected, since a typo would otherwise be silently ignored.
 */
export const QIDO_INCLUDE_ONLY_KEYWORDS: Readonly<Record<string, string>> = {
  SpecificCharacterSet: '00080005',
  SOPClassesInStudy: '00080062',
  InstitutionName: '00080080',
  RetrieveURL: '00081190',
  TimezoneOffsetFromUTC: '00080201',
  SeriesDate: '00080021',
  SeriesTime: '00080031',
  PerformedProcedureStepStartDate: '00400244',
  PatientAge: '00101010',
  OtherPatientIDsSequence: '00101002',
  NumberOfStudyRelatedSeries: '00201206',
  NumberOfStudyRelatedInstances: '00201208',
  NumberOfSeriesRelatedInstances: '00201209',
  NumberOfFrames: '00280008',
  Rows: '00280010',
  Columns: '00280011',
  BitsAllocated: '00280100',
};

const LEVEL_RANK: Record<QidoEntity, number> = { patient: 0, study: 0, series: 1, instance: 2 };

interface Base {
  attribute: string;
  tag: string;
  entity: QidoEntity;
}

export type QidoCondition =
  /** Value equals one of `values` (NFC; case-sensitive as DICOM defines for these VRs). */
  | (Base & { kind: 'exact'; values: string[] })
  /** Value LIKE `pattern` ESCAPE '\' (from DICOM `*`/`?`; C.2.2.2.4). Anchored at both ends. */
  | (Base & { kind: 'like'; pattern: string })
  /** Value is one of `uids` (C.2.2.2.2). Every entry passed `isSafeUid`. */
  | (Base & { kind: 'uid-list'; uids: string[] })
  /** YYYYMMDD bounds, inclusive; at least one present. */
  | (Base & { kind: 'date-range'; from?: string; to?: string })
  /** HHMMSS.ffffff bounds, inclusive; at least one present. Compare against times normalised likewise. */
  | (Base & { kind: 'time-range'; from?: string; to?: string })
  /** IS value equals `value`. */
  | (Base & { kind: 'integer'; value: number })
  /** Match the folded name column with `matcher` (fuzzy already applied). `value` is the NFC query. */
  | (Base & { kind: 'person-name'; value: string; matcher: PersonNameMatcher });

export interface QidoQuery {
  level: QidoLevel;
  /** All must hold (AND). At most one condition per attribute from the query string. */
  conditions: QidoCondition[];
  limit: number;
  offset: number;
  /** True when the client asked for more than `maxLimit` (PS3.18 8.3.4.4: add a Warning header). */
  limitCapped: boolean;
  /** `all`, or tags (8 upper-case hex, unique, in request order) to add to the default set. */
  includeFields: 'all' | string[];
  fuzzy: boolean;
}

export interface QidoProblem {
  /** The query key at fault (sanitised, truncated); values are never echoed (patient data). */
  key: string;
  message: string;
}

export class QidoQueryError extends Error {
  readonly status = 400;
  readonly reason: string;
  constructor(readonly problems: QidoProblem[]) {
    const reason = problems.map((p) => `${p.key}: ${p.message}`).join('; ');
    super(`Invalid QIDO-RS query: ${reason}`);
    this.name = 'QidoQueryError';
    this.reason = reason;
  }
}

export interface QidoParseOptions {
  /** Limit when the client gives none. Default: study 100, series 500, instance 1000. */
  defaultLimit?: number;
  /** Largest limit honoured; larger ones are capped (`limitCapped`). Default 1000. */
  maxLimit?: number;
  /** Largest offset accepted. Default 1_000_000 (deep paging is better done by narrowing). */
  maxOffset?: number;
  /** UIDs from the path (/studies/{uid}/series…): added as uid-list conditions. Validated here too. */
  studyInstanceUid?: string;
  seriesInstanceUid?: string;
  /**
   * Keys that are not QIDO matching keys but are handled elsewhere and must not cause a 400,
   * compared case-sensitively. Default: `accept`, `charset` (PS3.18 8.3.3 content negotiation).
   */
  ignoredKeys?: readonly string[];
}

export const DEFAULT_LIMITS: Readonly<Record<QidoLevel, number>> = {
  study: 100,
  series: 500,
  instance: 1000,
};
export const DEFAULT_MAX_LIMIT = 1000;

const BY_KEYWORD = new Map(QIDO_MATCHING_ATTRIBUTES.map((a) => [a.keyword, a]));
const BY_TAG = new Map(QIDO_MATCHING_ATTRIBUTES.map((a) => [a.tag, a]));
const TAG_RE = /^[0-9A-Fa-f]{8}$/;

/** Resolve a keyword or 8-hex tag to a matching attribute. */
export function lookupQidoAttribute(key: string): QidoAttribute | undefined {
  return TAG_RE.test(key) ? BY_TAG.get(key.toUpperCase()) : BY_KEYWORD.get(key);
}

/**
 * Parse and validate a QIDO-RS query.
 * @param params decoded query string; repeated keys give several values.
 * @throws QidoQueryError listing every problem found.
 */
export function parseQidoQuery(
  level: QidoLevel,
  params: Readonly<Record<string, string | readonly string[] | undefined>>,
  options: QidoParseOptions = {},
): QidoQuery {
  const problems: QidoProblem[] = [];
  const problem = (key: string, message: string) => problems.push({ key: safeKey(key), message });
  const ignored = new Set(options.ignoredKeys ?? ['accept', 'charset']);
  const maxLimit = options.maxLimit ?? DEFAULT_MAX_LIMIT;
  const maxOffset = options.maxOffset ?? 1_000_000;

  let limit = Math.min(options.defaultLimit ?? DEFAULT_LIMITS[level], maxLimit);
  let limitCapped = false;
  let offset = 0;
  let fuzzy = false;
  let includeAll = false;
  const include: string[] = [];
  const conditions: QidoCondition[] = [];

  // fuzzymatching first: person-name conditions depend on it regardless of key order.
  const entries = Object.entries(params).map(
    ([k, v]) => [k, v === undefined ? [] : typeof v === 'string' ? [v] : [...v]] as const,
  );
  for (const [key, values] of entries) {
    if (key !== 'fuzzymatching') continue;
    const v = single(key, values, problem);
    if (v === undefined) continue;
    if (v === 'true') fuzzy = true;
    else if (v !== 'false') problem(key, 'must be true or false');
  }

  for (const [key, values] of entries) {
    if (values.length === 0 || key === 'fuzzymatching' || ignored.has(key)) continue;
    // NUL and other C0 controls (ESC aside: ISO 2022 character sets use it) are in no DICOM
    // value a query can match, and PostgreSQL text cannot hold NUL at all.
    if (values.some((v) => /[\u0000-\u001a\u001c-\u001f\u007f]/.test(v))) {
      problem(key, 'must not contain control characters');
      continue;
    }
    if (key === 'limit' || key === 'offset') {
      const v = single(key, values, problem);
      if (v === undefined) continue;
      const n = parseNonNegativeInt(v);
      if (n === undefined) problem(key, 'must be a non-negative integer');
      else if (key === 'limit') {
        if (n === 0) problem(key, 'must be at least 1');
        else if (n > maxLimit) {
          limit = maxLimit;
          limitCapped = true;
        } else limit = n;
      } else if (n > maxOffset) problem(key, `must not exceed ${maxOffset}`);
      else offset = n;
      continue;
    }
    if (key === 'includefield') {
      // PS3.18 8.3.4.3: repeatable, and each value may be a comma-separated list.
      for (const item of values.flatMap((v) => v.split(','))) {
        const f = item.trim();
        if (f === '') continue;
        if (f === 'all') includeAll = true;
        else {
          const tag = includeTag(f);
          if (tag === undefined) problem(key, 'unknown attribute');
          else if (!include.includes(tag)) include.push(tag);
        }
      }
      continue;
    }
    if (key.includes('.')) {
      problem(key, 'nested (sequence) matching is not supported');
      continue;
    }
    const attr = lookupQidoAttribute(key);
    if (!attr) {
      problem(key, 'unknown or unsupported query key');
      continue;
    }
    if (LEVEL_RANK[attr.entity] > LEVEL_RANK[level]) {
      problem(key, `not a matching key for ${level} queries`);
      continue;
    }
    if (conditions.some((c) => c.tag === attr.tag) || values.length > 1) {
      problem(key, 'matching key given more than once');
      continue;
    }
    const raw = toNfc(values[0]!);
    if (raw === '' || /^\*+$/.test(raw)) {
      // Universal matching: return the attribute, constrain nothing (PS3.4 C.2.2.2.3).
      if (!include.includes(attr.tag)) include.push(attr.tag);
      continue;
    }
    const cond = buildCondition(attr, raw, fuzzy);
    if (typeof cond === 'string') problem(key, cond);
    else conditions.push(cond);
  }

  for (const [key, uid] of [
    ['StudyInstanceUID', options.studyInstanceUid],
    ['SeriesInstanceUID', options.seriesInstanceUid],
  ] as const) {
    if (uid === undefined) continue;
    const attr = BY_KEYWORD.get(key)!;
    if (!isSafeUid(uid)) problem(key, 'path UID is not a valid UID');
    else conditions.push({ ...base(attr), kind: 'uid-list', uids: [uid] });
  }

  if (problems.length > 0) throw new QidoQueryError(problems);
  return {
    level,
    conditions,
    limit,
    offset,
    limitCapped,
    includeFields: includeAll ? 'all' : include,
    fuzzy,
  };
}

function single(
  key: string,
  values: readonly string[],
  problem: (k: string, m: string) => void,
): string | undefined {
  if (values.length === 0) return undefined;
  if (values.length > 1) {
    problem(key, 'given more than once');
    return undefined;
  }
  return values[0]!;
}

function base(attr: QidoAttribute): Base {
  return { attribute: attr.keyword, tag: attr.tag, entity: attr.entity };
}

function includeTag(f: string): string | undefined {
  if (TAG_RE.test(f)) return f.toUpperCase();
  return BY_KEYWORD.get(f)?.tag ?? QIDO_INCLUDE_ONLY_KEYWORDS[f];
}

/** Keys are echoed in errors: keep them short and printable. */
function safeKey(key: string): string {
  const cleaned = key.replace(/[^\x20-\x7e]/g, '?');
  return cleaned.length > 64 ? cleaned.slice(0, 61) + '...' : cleaned;
}

function parseNonNegativeInt(v: string): number | undefined {
  if (!/^[0-9]{1,15}$/.test(v)) return undefined;
  return Number(v);
}

/** Build one condition, or return a client-safe message (never containing the value). */
function buildCondition(attr: QidoAttribute, raw: string, fuzzy: boolean): QidoCondition | string {
  const b = base(attr);
  switch (attr.vr) {
    case 'PN':
      if (raw.length > 324) return 'value too long'; // 5 components x 64 chars + separators
      return { ...b, kind: 'person-name', value: raw, matcher: parsePersonNameQuery(raw, fuzzy) };
    case 'UI': {
      // PS3.18 8.3.4.1: a list of UIDs, separated by `,` or `\` (the DICOM multi-value delimiter).
      const uids = raw.split(/[,\\]/).map((u) => u.trim());
      if (uids.length > 1000) return 'too many UIDs';
      if (!uids.every(isSafeUid)) return 'not a valid UID or UID list';
      return { ...b, kind: 'uid-list', uids: [...new Set(uids)] };
    }
    case 'DA': {
      const r = parseRange(raw, parseDate, parseDate);
      return typeof r === 'string'
        ? r.replace('VALUE', 'date (YYYYMMDD)')
        : { ...b, kind: 'date-range', ...r };
    }
    case 'TM': {
      const r = parseRange(
        raw,
        (s) => parseTime(s, 'low'),
        (s) => parseTime(s, 'high'),
      );
      return typeof r === 'string'
        ? r.replace('VALUE', 'time (HHMMSS.FFFFFF)')
        : { ...b, kind: 'time-range', ...r };
    }
    case 'IS': {
      if (!/^[+-]?[0-9]{1,12}$/.test(raw.trim())) return 'must be an integer';
      return { ...b, kind: 'integer', value: Number(raw.trim()) };
    }
    case 'CS':
    case 'LO':
    case 'SH': {
      const max = attr.vr === 'LO' ? 64 : 16;
      // CS attributes are often multi-valued (ModalitiesInStudy) and clients send lists; LO/SH
      // values may legitimately contain commas, so only CS is split.
      const values = attr.vr === 'CS' ? raw.split(/[,\\]/).map((v) => v.trim()) : [raw];
      if (values.some((v) => v.length === 0 || v.length > max)) return 'empty or too long value';
      if (/[*?]/.test(raw)) {
        if (values.length > 1) return 'wildcards cannot be combined with a value list';
        return { ...b, kind: 'like', pattern: wildcardToLike(raw) };
      }
      return { ...b, kind: 'exact', values: [...new Set(values)] };
    }
  }
}

/** DICOM `*`/`?` → SQL LIKE with `\` escape (PS3.4 C.2.2.2.4). */
export function wildcardToLike(value: string): string {
  return value
    .split(/([*?])/)
    .map((p) => (p === '*' ? '%' : p === '?' ? '_' : escapeLike(p)))
    .join('');
}

/**
 * Range matching (PS3.4 C.2.2.2.5): `a-b`, `-b`, `a-`, or a single value (treated as `a-a`, with
 * partial times expanded to the whole period they name). Returns bounds or an error template.
 */
function parseRange(
  raw: string,
  low: (s: string) => string | undefined,
  high: (s: string) => string | undefined,
): { from?: string; to?: string } | string {
  const parts = raw.split('-');
  if (parts.length > 2) return 'malformed range';
  const [a, bRaw] = parts as [string, string | undefined];
  const isRange = bRaw !== undefined;
  const b = isRange ? bRaw : a;
  if (a === '' && b === '') return 'malformed range';
  const out: { from?: string; to?: string } = {};
  if (a !== '') {
    const v = low(a);
    if (v === undefined) return 'not a valid VALUE';
    out.from = v;
  }
  if (b !== '') {
    const v = high(b);
    if (v === undefined) return 'not a valid VALUE';
    out.to = v;
  }
  if (out.from !== undefined && out.to !== undefined && out.from > out.to)
    return 'range start is after its end';
  return out;
}

/** YYYYMMDD with a real calendar date (PS3.5 6.2 DA). */
export function parseDate(s: string): string | undefined {
  const m = /^([0-9]{4})([0-9]{2})([0-9]{2})$/.exec(s);
  if (!m) return undefined;
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  if (mo < 1 || mo > 12 || d < 1) return undefined;
  const days = new Date(Date.UTC(y, mo, 0)).getUTCDate();
  return d <= days ? s : undefined;
}

/**
 * TM `HH[MM[SS[.F{1,6}]]]` (PS3.5 6.2; the ACR-NEMA `HH:MM:SS` form is not accepted) normalised
 * to `HHMMSS.ffffff`. A partial time names a period: `low` gives its first instant, `high` its
 * last (`10` → 100000.000000 / 105959.999999), so `StudyTime=10` matches 10:00–10:59:59.999999.
 */
export function parseTime(s: string, bound: 'low' | 'high'): string | undefined {
  const m = /^([0-9]{2})(?:([0-9]{2})(?:([0-9]{2})(?:\.([0-9]{1,6}))?)?)?$/.exec(s);
  if (!m) return undefined;
  const [hh, mm, ss, frac] = [m[1]!, m[2], m[3], m[4]];
  if (Number(hh) > 23 || (mm !== undefined && Number(mm) > 59) || (ss !== undefined && Number(ss) > 60)) {
    return undefined; // 60: leap second, allowed by PS3.5
  }
  const fill = bound === 'low' ? '0' : '9';
  const mmN = mm ?? (bound === 'low' ? '00' : '59');
  const ssN = ss ?? (bound === 'low' ? '00' : '59');
  const fracN = (frac ?? '').padEnd(6, fill);
  return `${hh}${mmN}${ssN}.${fracN}`;
}
