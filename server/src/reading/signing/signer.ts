/**
 * The pluggable signer. Report finalisation talks to this interface only, so the built-in demo
 * CA can be replaced by a licensed CA (a national CA's remote-signing service, a USB token
 * bridge) behind an adapter: legally valid signatures in Vietnam come from licensed CAs
 * (Circular 13/2025/TT-BYT), and the demo CA says so in its certificate subject.
 *
 * Contract: `sign` either returns a signature over exactly `canonicalContent` made with a
 * certificate judged good at signing time, or throws (wrong PIN, revoked or expired
 * certificate, not enrolled) having signed nothing. `verify` never throws for a bad signature:
 * it answers with a status.
 */
export interface SignerIdentity {
  userId: string;
  /** The secret that unlocks the signer's key (a PIN for the demo CA; an OTP for a remote signer). */
  pin: string;
}

export interface SignResult {
  /** Self-contained signature (compact JWS for the demo CA) embedding the certificate chain. */
  signature: string;
  /** PEM certificates, leaf first. */
  certificateChain: string[];
  certificateSerial: string;
  signedAt: Date;
  /** The certificate's status judged at signing time (a signer refuses anything but good). */
  certStatus: 'good';
  certCheckedAt: Date;
}

/**
 * valid: the signature matches the content and the certificate was good when it signed.
 * tampered: the content differs from what was signed, or the signature itself was altered.
 * revoked-since: valid as signed; the certificate was revoked later (revokedAt says when).
 * revoked: the certificate was already revoked when the signature claims to have been made.
 * untrusted: the certificate does not chain to this deployment's CA, or was not valid at signing.
 */
export type VerifyStatus = 'valid' | 'tampered' | 'revoked-since' | 'revoked' | 'untrusted';

export interface CertificateInfo {
  serial: string;
  subject: string;
  issuer: string;
  notBefore: string;
  notAfter: string;
}

export interface VerifyResult {
  status: VerifyStatus;
  reason: string;
  signedAt: string | null;
  revokedAt: string | null;
  certificate: CertificateInfo | null;
}

export interface Signer {
  /** Stored with each signature, so verification goes back to the signer that made it. */
  readonly kind: string;
  sign(canonicalContent: Buffer, signer: SignerIdentity): Promise<SignResult>;
  verify(canonicalContent: Buffer, signature: string): Promise<VerifyResult>;
}

/** Thrown by signers; mapped onto the error catalogue by the routes. */
export class SigningRefused extends Error {
  constructor(
    readonly why: 'wrong-pin' | 'locked' | 'not-enrolled' | 'certificate-invalid',
    message: string,
  ) {
    super(message);
    this.name = 'SigningRefused';
  }
}
