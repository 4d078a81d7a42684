/**
 * Deterministic DICOM UIDs under the `2.25` root (ISO/IEC 9834-8: a UUID written as one
 * decimal integer). The 128-bit value is the first 16 bytes of SHA-256 over (seed, labels),
 * so the same seed always yields the same Study/Series/SOP Instance UIDs, and different
 * labels cannot collide in practice.
 *
 * Invariants: result matches /^2\.25\.(0|[1-9][0-9]*)$/ and is at most 64 characters
 * (2.25. + at most 39 digits = 44), as PS3.5 §9.1 requires.
 */
import { createHash } from 'node:crypto';

export const UID_ROOT = '2.25';

/** UID for (seed, ...labels), e.g. uidFor(7, 'study'), uidFor(7, 'series', 1, 'sop', 12). */
export function uidFor(seed: number, ...labels: Array<string | number>): string {
  const digest = createHash('sha256')
    .update(`radlink-synth-uid:${seed}:${labels.join('/')}`)
    .digest();
  // Set version 4 / variant bits like a random UUID would; keeps 122 bits of hash.
  const bytes = Buffer.from(digest.subarray(0, 16));
  bytes[6] = ((bytes[6] ?? 0) & 0x0f) | 0x40;
  bytes[8] = ((bytes[8] ?? 0) & 0x3f) | 0x80;
  const value = BigInt(`0x${bytes.toString('hex')}`);
  return `${UID_ROOT}.${value.toString(10)}`;
}

/** Fixed implementation UID for the file meta header (identifies this generator, not a study). */
export const IMPLEMENTATION_CLASS_UID = uidFor(0, 'radlink-synth-implementation');
export const IMPLEMENTATION_VERSION_NAME = 'RADLINK_SYNTH1';
