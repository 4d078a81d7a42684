/**
 * Deterministic UIDs of a run's outputs. A SEG or SR written for (series, model, version) gets
 * the same Series and SOP Instance UIDs however often the run is repeated, so Orthanc (which
 * keeps the first copy of a SOP Instance UID) ends up with exactly one SEG and one SR per run.
 *
 * The value is a UUID (RFC 9562 version 8, "custom": 122 bits of SHA-256 with the version and
 * variant bits set) written as one decimal integer under `2.25` (ISO/IEC 9834-8, PS3.5 B.2):
 * at most 44 characters.
 */
import { createHash } from 'node:crypto';

export function uuidUid(...parts: string[]): string {
  const bytes = Buffer.from(
    createHash('sha256')
      .update(`radlink-ai:${parts.join('\u0000')}`)
      .digest()
      .subarray(0, 16),
  );
  bytes[6] = (bytes[6]! & 0x0f) | 0x80;
  bytes[8] = (bytes[8]! & 0x3f) | 0x80;
  return `2.25.${BigInt(`0x${bytes.toString('hex')}`).toString(10)}`;
}

export interface RunOutputUids {
  segSeriesUid: string;
  segSopInstanceUid: string;
  srSeriesUid: string;
  srSopInstanceUid: string;
}

/** The four output UIDs of (series, model, version). */
export function runOutputUids(seriesUid: string, modelId: string, version: string): RunOutputUids {
  const u = (what: string) => uuidUid(seriesUid, modelId, version, what);
  return {
    segSeriesUid: u('seg-series'),
    segSopInstanceUid: u('seg-instance'),
    srSeriesUid: u('sr-series'),
    srSopInstanceUid: u('sr-instance'),
  };
}

/** UID of one finding (SR tracking UID, SEG segment TrackingUID). */
export const findingUid = (seriesUid: string, modelId: string, version: string, index: number) =>
  uuidUid(seriesUid, modelId, version, 'finding', String(index));
