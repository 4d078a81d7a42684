/**
 * The DICOM JSON model (PS3.18 Annex F) as the index stores and returns it: typed reading of
 * single values, NFC normalisation of text on the way in (DOMAIN.md: names arrive in NFC or NFD;
 * the index keeps one form, Orthanc keeps the original bytes), and the split of an instance's
 * attributes into study-, series- and instance-level parts, each stored once on its own row.
 */

export interface DicomJsonAttribute {
  vr: string;
  Value?: unknown[];
  BulkDataURI?: string;
  InlineBinary?: string;
}
export type DicomJson = Record<string, DicomJsonAttribute>;

/** Patient and study attributes (Patient, General Study, Patient Study modules, plus equipment
 * names clients ask for at study level). Group 0010 is always study level. */
const STUDY_TAGS = new Set([
  '00080020',
  '00080030',
  '00080050',
  '00080051',
  '00080056',
  '00080061',
  '00080062',
  '00080080',
  '00080081',
  '00080090',
  '00080201',
  '00081030',
  '00081032',
  '00081060',
  '00081080',
  '0020000D',
  '00200010',
  '00321032',
  '00321060',
  '00400275',
]);

/** General Series, General Equipment and Frame of Reference attributes. */
const SERIES_TAGS = new Set([
  '00080021',
  '00080031',
  '00080060',
  '00080070',
  '00081010',
  '0008103E',
  '00081040',
  '00081050',
  '00081070',
  '00081090',
  '00180015',
  '00181030',
  '00185100',
  '0020000E',
  '00200011',
  '00200052',
  '00200060',
  '00400244',
  '00400245',
  '00400253',
  '00400254',
]);

/** Instance attributes are stored only when small: the index is not a second archive. */
const MAX_INSTANCE_ATTRIBUTE_CHARS = 1024;

export function levelOfTag(tag: string): 'study' | 'series' | 'instance' {
  if (tag.startsWith('0010') || STUDY_TAGS.has(tag)) return 'study';
  if (SERIES_TAGS.has(tag)) return 'series';
  return 'instance';
}

/** Deep copy with every string NFC-normalised and bulk data dropped (the gateway serves bulk data
 * from Orthanc by URL, never from the index). */
export function normaliseDicomJson(ds: DicomJson): DicomJson {
  const out: DicomJson = {};
  for (const [tag, attr] of Object.entries(ds)) {
    if (attr.BulkDataURI !== undefined || attr.InlineBinary !== undefined) continue;
    out[tag.toUpperCase()] =
      attr.Value === undefined ? { vr: attr.vr } : { vr: attr.vr, Value: attr.Value.map(nfcDeep) };
  }
  return out;
}

function nfcDeep(v: unknown): unknown {
  if (typeof v === 'string') return v.normalize('NFC');
  if (Array.isArray(v)) return v.map(nfcDeep);
  if (v !== null && typeof v === 'object') {
    const o: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) o[k] = nfcDeep(x);
    return o;
  }
  return v;
}

/** Split a (normalised) instance data set into the parts stored on studies, series and instances. */
export function splitByLevel(ds: DicomJson): { study: DicomJson; series: DicomJson; instance: DicomJson } {
  const study: DicomJson = {};
  const series: DicomJson = {};
  const instance: DicomJson = {};
  for (const [tag, attr] of Object.entries(ds)) {
    const level = levelOfTag(tag);
    if (level === 'study') study[tag] = attr;
    else if (level === 'series') series[tag] = attr;
    else if (JSON.stringify(attr).length <= MAX_INSTANCE_ATTRIBUTE_CHARS) instance[tag] = attr;
  }
  return { study, series, instance };
}

/** First value of a text attribute (any string VR), or null. PN gives its Alphabetic group. */
export function str(ds: DicomJson, tag: string): string | null {
  const v = ds[tag]?.Value?.[0];
  if (v === undefined || v === null) return null;
  if (typeof v === 'string') return v.trim() === '' ? null : v.trim();
  if (typeof v === 'number') return String(v);
  if (typeof v === 'object' && 'Alphabetic' in v) {
    const a = (v as { Alphabetic?: unknown }).Alphabetic;
    return typeof a === 'string' && a.trim() !== '' ? a.trim() : null;
  }
  return null;
}

/** All values of a multi-valued text attribute (e.g. ImageType, ModalitiesInStudy). */
export function strs(ds: DicomJson, tag: string): string[] {
  return (ds[tag]?.Value ?? [])
    .filter((v): v is string => typeof v === 'string' && v.trim() !== '')
    .map((v) => v.trim());
}

/** First value of an integer attribute (IS as number or string, US/UL), or null. */
export function int(ds: DicomJson, tag: string): number | null {
  const v = ds[tag]?.Value?.[0];
  const n = typeof v === 'number' ? v : typeof v === 'string' ? Number.parseInt(v.trim(), 10) : Number.NaN;
  return Number.isFinite(n) && Number.isSafeInteger(Math.trunc(n)) ? Math.trunc(n) : null;
}

/**
 * A DICOM TM value normalised to HHMMSS.ffffff (the form QIDO time ranges compare against), or
 * null when it is not a time. Accepts the ACR-NEMA `HH:MM:SS` form that old modalities still write.
 */
export function normaliseTime(tm: string | null): string | null {
  if (!tm) return null;
  const m = /^([0-9]{2})(?::?([0-9]{2})(?::?([0-9]{2})(?:\.([0-9]{1,6}))?)?)?$/.exec(tm.trim());
  if (!m) return null;
  return `${m[1]}${m[2] ?? '00'}${m[3] ?? '00'}.${(m[4] ?? '').padEnd(6, '0')}`;
}

/** A DICOM DA value if it is YYYYMMDD (the ACR-NEMA `YYYY.MM.DD` form is converted), else null. */
export function normaliseDate(da: string | null): string | null {
  if (!da) return null;
  const d = da.trim().replace(/\./g, '');
  return /^[0-9]{8}$/.test(d) ? d : null;
}
