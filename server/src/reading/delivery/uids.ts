/**
 * DICOM UIDs of the delivered copies, derived from the report's identity so that a re-run of
 * the delivery job (after a crash, a retry, a re-trigger) produces the same UIDs and Orthanc
 * keeps one instance instead of a duplicate. Form: `2.25.<decimal of a 128-bit integer>` (PS3.5
 * B.2), the integer being the first 16 bytes of SHA-256 over a labelled input, so UIDs of
 * different purposes (series, instance) cannot collide with each other or with random 2.25 UIDs
 * in practice.
 */
import { createHash } from 'node:crypto';

export function derivedUid(...parts: string[]): string {
  const h = createHash('sha256')
    .update(['radlink', ...parts].join('|'))
    .digest();
  return `2.25.${BigInt(`0x${h.subarray(0, 16).toString('hex')}`).toString()}`;
}

/** The series holding a report's documents: the main report and its addenda share it. */
export function reportSeriesUid(mainReportId: string): string {
  return derivedUid('report-series', mainReportId);
}

/** The Encapsulated PDF of one signed report (or addendum) at its signed version. */
export function reportPdfInstanceUid(reportId: string, version: number): string {
  return derivedUid('report-pdf', reportId, String(version));
}

/** The series holding a report's Basic Text SRs (SR documents need a series of their own modality). */
export function reportSrSeriesUid(mainReportId: string): string {
  return derivedUid('report-sr-series', mainReportId);
}

/** The Basic Text SR of one signed report (or addendum) at its signed version. */
export function reportSrInstanceUid(reportId: string, version: number): string {
  return derivedUid('report-sr', reportId, String(version));
}
