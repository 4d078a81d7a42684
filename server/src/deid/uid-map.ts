/**
 * Consistent UID replacement for one export (PS3.15 E.1.1 "U": replace with a non-zero-length
 * UID that is internally consistent within a set of instances). The new UID is derived from the
 * old one with HMAC-SHA-256 under a key made for the export: the same input UID always gives the
 * same output within the export (so studies, series, FrameOfReferenceUID and every
 * ReferencedSOPInstanceUID still match), different exports cannot be linked, and without the key
 * — which is never stored — nobody can map an output UID back. Output: `2.25.<128-bit decimal>`
 * (PS3.5 B.2), at most 44 characters.
 */
import { createHmac } from 'node:crypto';

/** UIDs the standard itself defines (SOP classes, transfer syntaxes, coding schemes): never remapped. */
export function isDicomDefinedUid(uid: string): boolean {
  return uid.startsWith('1.2.840.10008.');
}

export class UidMapper {
  private readonly cache = new Map<string, string>();
  constructor(private readonly key: Buffer) {
    if (key.length < 16) throw new Error('the UID key must have at least 128 bits');
  }

  map(uid: string): string {
    const clean = uid.replace(/[\0 ]+$/, '');
    if (clean === '' || isDicomDefinedUid(clean)) return clean;
    let out = this.cache.get(clean);
    if (!out) {
      const h = createHmac('sha256', this.key).update(`uid:${clean}`).digest('hex');
      out = `2.25.${BigInt(`0x${h.slice(0, 32)}`).toString()}`;
      this.cache.set(clean, out);
    }
    return out;
  }

  /** A short pseudonym (patient ID/name in the export), consistent within the export. */
  pseudonym(kind: string, value: string): string {
    const h = createHmac('sha256', this.key).update(`${kind}:${value}`).digest('hex');
    return `ANON-${h.slice(0, 12).toUpperCase()}`;
  }
}
