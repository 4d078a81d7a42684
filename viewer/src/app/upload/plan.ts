/**
 * Pure upload planning, unit-tested: which files to send (not already on the server, each SOP
 * instance once), in which batches, and what a STOW-RS FailureReason means for a person.
 */

export interface PlannedFile {
  index: number;
  size: number;
  studyUid: string;
  sopInstanceUid: string;
}

export interface Plan<T extends PlannedFile> {
  toSend: T[];
  /** Already stored on the server (an earlier, interrupted upload or another sender). */
  already: T[];
  /** The same SOP instance twice in what was dropped: sent once. */
  duplicates: T[];
}

export function planUpload<T extends PlannedFile>(
  files: readonly T[],
  stored: ReadonlyMap<string, ReadonlySet<string>>,
): Plan<T> {
  const plan: Plan<T> = { toSend: [], already: [], duplicates: [] };
  const seen = new Set<string>();
  for (const f of files) {
    if (seen.has(f.sopInstanceUid)) {
      plan.duplicates.push(f);
      continue;
    }
    seen.add(f.sopInstanceUid);
    if (stored.get(f.studyUid)?.has(f.sopInstanceUid)) plan.already.push(f);
    else plan.toSend.push(f);
  }
  return plan;
}

/**
 * Batches of at most `maxFiles` files and about `maxBytes` (a single larger file goes alone):
 * small enough that an interruption loses little, large enough to amortise a request on a
 * high-latency link.
 */
export function batches<T extends { size: number }>(
  files: readonly T[],
  maxFiles = 10,
  maxBytes = 8 * 1024 * 1024,
): T[][] {
  const out: T[][] = [];
  let cur: T[] = [];
  let bytes = 0;
  for (const f of files) {
    if (cur.length > 0 && (cur.length >= maxFiles || bytes + f.size > maxBytes)) {
      out.push(cur);
      cur = [];
      bytes = 0;
    }
    cur.push(f);
    bytes += f.size;
  }
  if (cur.length > 0) out.push(cur);
  return out;
}

/** PS3.4 / PS3.18 failure reasons the gateway uses (server/src/dicomweb/stow-validate.ts). */
const KNOWN_REASONS = new Set([0x0110, 0x0111, 0x0122, 0x0124, 0xa700, 0xa900, 0xc000, 0xc122]);

/** i18n key explaining a FailureReason (a generic one for codes outside the list). */
export function reasonKey(code: number | null): string {
  if (code === null) return 'upload.reason.unknown';
  if (KNOWN_REASONS.has(code)) return `upload.reason.${code.toString(16).toUpperCase().padStart(4, '0')}`;
  if (code >= 0xa700 && code <= 0xa7ff) return 'upload.reason.A700';
  if (code >= 0xc000 && code <= 0xcfff) return 'upload.reason.C000';
  return 'upload.reason.unknown';
}

export const hex = (code: number | null) =>
  code === null ? '' : `0x${code.toString(16).toUpperCase().padStart(4, '0')}`;
