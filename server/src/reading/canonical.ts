/**
 * Deterministic JSON (RFC 8785, JSON Canonicalization Scheme) and the canonical content of a
 * report: the exact bytes a signature covers. Verification rebuilds these bytes from the stored
 * row and compares them with what was signed, so any change to a signed field — in the
 * database, or on the way — shows as tampering.
 *
 * Invariants: object keys are sorted by UTF-16 code units (RFC 8785 §3.2.3), numbers use
 * ECMAScript's shortest round-trip form (which JSON.stringify already produces), strings are
 * NOT re-normalised here (text is NFC-normalised on the way in; changing it here would make the
 * signed bytes differ from the stored text), and values JSON cannot carry are refused rather
 * than silently dropped.
 */
import { createHash } from 'node:crypto';

export type Json = string | number | boolean | null | Json[] | { [key: string]: Json };

export function canonicalJson(value: unknown): string {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return JSON.stringify(value);
    case 'number':
      if (!Number.isFinite(value)) throw new TypeError('canonical JSON cannot carry a non-finite number');
      return JSON.stringify(value);
    case 'object': {
      if (Array.isArray(value)) return `[${value.map((v) => canonicalJson(v)).join(',')}]`;
      if (Object.getPrototypeOf(value) !== Object.prototype && Object.getPrototypeOf(value) !== null)
        throw new TypeError('canonical JSON carries plain objects only');
      const entries = Object.entries(value as Record<string, unknown>);
      for (const [k, v] of entries)
        if (v === undefined) throw new TypeError(`canonical JSON cannot carry undefined (key ${k})`);
      // Default sort compares UTF-16 code units, as RFC 8785 requires.
      entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
      return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
    }
    default:
      throw new TypeError(`canonical JSON cannot carry a ${typeof value}`);
  }
}

/** What a report signature covers. Version the shape: old signatures must keep verifying. */
export interface ReportContent {
  reportId: string;
  requestId: string;
  studyUid: string;
  accessionNumber: string;
  parentReportId: string | null;
  templateId: string;
  language: 'vi' | 'en';
  fields: Record<string, Json>;
  freeText: string;
  /** The certificate (serial, chain) is covered by the signature's protected header, not repeated here. */
  signer: { userId: string; name: string };
  /** ISO 8601 UTC, millisecond precision: the time itself is signed. */
  signedAt: string;
}

export const REPORT_CONTENT_TYPE = 'application/vnd.radlink.report+json;v=1';

export function canonicalReport(c: ReportContent): Buffer {
  return Buffer.from(canonicalJson({ type: REPORT_CONTENT_TYPE, ...c }), 'utf8');
}

export function sha256Hex(b: Buffer | string): string {
  return createHash('sha256').update(b).digest('hex');
}
