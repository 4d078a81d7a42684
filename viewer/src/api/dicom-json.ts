/**
 * Reading DICOM JSON (PS3.18 Annex F) as QIDO-RS and STOW-RS answer it. Pure functions, unit-tested.
 */

export type DicomJson = Record<string, { vr: string; Value?: unknown[] } | undefined>;

export function str(ds: DicomJson, tag: string): string | null {
  const v = ds[tag]?.Value?.[0];
  if (v === undefined || v === null) return null;
  if (typeof v === 'object') {
    // PN: {Alphabetic: 'Family^Given'}
    const a = (v as { Alphabetic?: unknown }).Alphabetic;
    return typeof a === 'string' ? a : null;
  }
  return String(v);
}

export function strs(ds: DicomJson, tag: string): string[] {
  return (ds[tag]?.Value ?? []).map((v) => String(v));
}

export function num(ds: DicomJson, tag: string): number | null {
  const v = ds[tag]?.Value?.[0];
  const n = typeof v === 'number' ? v : typeof v === 'string' ? Number(v) : Number.NaN;
  return Number.isFinite(n) ? n : null;
}

/** `Family^Given Middle` → `Family Given Middle` (Vietnamese order: family name first). */
export function personName(pn: string | null): string {
  if (!pn) return '';
  return pn
    .split('=')[0]!
    .split('^')
    .filter((p) => p.trim() !== '')
    .join(' ')
    .normalize('NFC');
}

/** `YYYYMMDD` → `YYYY-MM-DD` (unchanged when not a DICOM date). */
export function dicomDate(da: string | null): string {
  if (!da || !/^\d{8}$/.test(da)) return da ?? '';
  return `${da.slice(0, 4)}-${da.slice(4, 6)}-${da.slice(6, 8)}`;
}

export interface StowOutcome {
  stored: string[];
  failed: { sopInstanceUid: string | null; reason: number | null; comment: string | null }[];
  /** Stored with a warning (0xB000, 0xB006, 0xB007). */
  warnings: { sopInstanceUid: string; warning: number }[];
}

/** The STOW-RS answer: ReferencedSOPSequence (0008,1199) and FailedSOPSequence (0008,1198). */
export function parseStowResponse(body: DicomJson): StowOutcome {
  const items = (tag: string) => (body[tag]?.Value ?? []) as DicomJson[];
  const out: StowOutcome = { stored: [], failed: [], warnings: [] };
  for (const r of items('00081199')) {
    const uid = str(r, '00081155');
    if (!uid) continue;
    out.stored.push(uid);
    const w = num(r, '00081196');
    if (w !== null) out.warnings.push({ sopInstanceUid: uid, warning: w });
  }
  for (const f of items('00081198'))
    out.failed.push({
      sopInstanceUid: str(f, '00081155'),
      reason: num(f, '00081197'),
      comment: str(f, '00000902'),
    });
  return out;
}
