/**
 * The secrets of a patient share link, as pure functions.
 *
 * - The link token (in the QR code and the URL's hash fragment) is 256 random bits, base64url:
 *   unguessable on its own, so it is stored as a plain SHA-256 (an indexable lookup key).
 * - The secret the patient types is a 6-digit PIN (generated here, shown once) or the patient's
 *   birth year from the index. Both are low-entropy, so they are stored with scrypt
 *   (identity/passwords.ts) and guessing is bounded by the per-link lockout, not by the hash.
 * - A viewing session's credential is `<session uuid>.<256-bit secret>`; only its SHA-256 is stored.
 */
import { createHash, randomBytes, randomInt } from 'node:crypto';

export const TOKEN_BYTES = 32;
/** base64url of 32 bytes, no padding. */
export const LINK_TOKEN_PATTERN = '^[A-Za-z0-9_-]{43}$';
export const PIN_DIGITS = 6;

export type SecretKind = 'pin' | 'birth-year';

export const sha256Hex = (s: string) => createHash('sha256').update(s).digest('hex');

export function newLinkToken(): string {
  return randomBytes(TOKEN_BYTES).toString('base64url');
}

export function isLinkToken(s: string): boolean {
  return new RegExp(LINK_TOKEN_PATTERN).test(s);
}

/** Uniform over 000000..999999 (randomInt has no modulo bias). */
export function newPin(): string {
  return String(randomInt(0, 10 ** PIN_DIGITS)).padStart(PIN_DIGITS, '0');
}

/**
 * The birth year in a DICOM DA value (YYYYMMDD, or the ACR-NEMA form YYYY.MM.DD), or null when
 * the value is missing or not a plausible year of birth: a link must not be opened with a year
 * the patient cannot know.
 */
export function birthYearOf(dicomDate: string | null | undefined, now = new Date()): number | null {
  const m = /^(\d{4})(?:\d{4}|\.\d{2}\.\d{2})?$/.exec((dicomDate ?? '').trim());
  if (!m) return null;
  const year = Number(m[1]);
  return year >= 1880 && year <= now.getUTCFullYear() ? year : null;
}

/**
 * The string the stored hash is made of, from what the patient typed: the PIN's digits, or the
 * year's four digits. Null when the input cannot be this link's kind of secret (it then counts
 * as a wrong attempt: the form of a guess must not give a free try).
 */
export function secretInput(kind: SecretKind, given: { pin?: string; birthYear?: number }): string | null {
  if (kind === 'pin') {
    const pin = given.pin?.trim();
    return pin && new RegExp(`^\\d{${PIN_DIGITS}}$`).test(pin) ? pin : null;
  }
  const y = given.birthYear;
  return y !== undefined && Number.isInteger(y) && y >= 1000 && y <= 9999 ? String(y) : null;
}

/** A new viewing-session credential and the hash stored for it. */
export function newSessionSecret(): { secret: string; hash: string } {
  const secret = randomBytes(32).toString('base64url');
  return { secret, hash: sha256Hex(secret) };
}

/** Splits `<uuid>.<secret>`; null when malformed. */
export function parseSessionCredential(credential: string): { id: string; secretHash: string } | null {
  const m = /^([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\.([A-Za-z0-9_-]{43})$/.exec(
    credential,
  );
  return m ? { id: m[1]!, secretHash: sha256Hex(m[2]!) } : null;
}
