/**
 * The built-in Signer: per-radiologist P-256 keys wrapped under the radiologist's PIN
 * (pin-keys.ts), certificates from the demo CA (demo-ca.ts), signatures as compact JWS (ES256)
 * whose protected header carries the chain (`x5c`) and the signing time (`sigT`, as in ETSI
 * JAdES), so a signature can be checked on its own, years later, with the CA certificate only.
 *
 * Wrong PINs are counted per credential; after MAX_PIN_FAILURES in a row the key is locked for
 * PIN_LOCK_MINUTES, which bounds online guessing of a short PIN through the API.
 */
import { createPrivateKey, generateKeyPairSync, X509Certificate } from 'node:crypto';
import { CompactSign, compactVerify, decodeProtectedHeader } from 'jose';
import type { Db } from '../../db/client.js';
import { DEMO_CA_ID, type DemoCa, normaliseSerial } from './demo-ca.js';
import { unwrapKey, type WrappedKey, WrongPinError, wrapKey } from './pin-keys.js';
import {
  type CertificateInfo,
  type Signer,
  type SignerIdentity,
  SigningRefused,
  type SignResult,
  type VerifyResult,
} from './signer.js';

export const MAX_PIN_FAILURES = 5;
export const PIN_LOCK_MINUTES = 15;

interface CredentialRow {
  id: string;
  certificate_pem: string;
  serial_number: string;
  not_before: Date;
  not_after: Date;
  wrapped_private_key: WrappedKey;
  locked_until: Date | null;
}

const der64 = (pem: string) => new X509Certificate(pem).raw.toString('base64');

function info(c: X509Certificate): CertificateInfo {
  return {
    serial: normaliseSerial(c.serialNumber),
    subject: c.subject.replace(/\n/g, ', '),
    issuer: c.issuer.replace(/\n/g, ', '),
    notBefore: new Date(c.validFrom).toISOString(),
    notAfter: new Date(c.validTo).toISOString(),
  };
}

export class DemoSigner implements Signer {
  readonly kind = 'demo-ca';
  constructor(
    private readonly db: Db,
    private readonly ca: DemoCa,
  ) {}

  /**
   * Creates (or replaces) a user's signing credential: a fresh key pair, the private half
   * wrapped under the PIN, a certificate from the demo CA. The previous credential is
   * superseded, not revoked: what it signed stays valid.
   */
  async enrol(
    user: { userId: string; name: string; organisation: string },
    pin: string,
  ): Promise<CertificateInfo> {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const wrapped = await wrapKey(privateKey.export({ type: 'pkcs8', format: 'der' }), pin);
    const cert = await this.ca.issue(user, publicKey.export({ type: 'spki', format: 'der' }));
    await this.db.tx(async (q) => {
      await q.query(
        'UPDATE signer_credentials SET superseded_at = now() WHERE user_id = $1 AND superseded_at IS NULL',
        [user.userId],
      );
      await q.query(
        `INSERT INTO signer_credentials (user_id, ca_id, certificate_pem, serial_number, not_before, not_after, wrapped_private_key)
         VALUES ($1, $2, $3, $4, $5, $6, $7)`,
        [
          user.userId,
          DEMO_CA_ID,
          cert.pem,
          cert.serial,
          cert.notBefore,
          cert.notAfter,
          JSON.stringify(wrapped),
        ],
      );
    });
    return info(new X509Certificate(cert.pem));
  }

  async current(userId: string): Promise<(CertificateInfo & { revokedAt: string | null }) | null> {
    const row = await this.credential(userId);
    if (!row) return null;
    const revokedAt = await this.ca.revokedAt(row.serial_number);
    return { ...info(new X509Certificate(row.certificate_pem)), revokedAt: revokedAt?.toISOString() ?? null };
  }

  /** The owner of a certificate this CA issued (any credential, current or superseded). */
  async ownerOf(serial: string): Promise<string | null> {
    const rows = await this.db.query<{ user_id: string }>(
      'SELECT user_id FROM signer_credentials WHERE serial_number = $1',
      [normaliseSerial(serial)],
    );
    return rows[0]?.user_id ?? null;
  }

  private async credential(userId: string): Promise<CredentialRow | null> {
    const rows = await this.db.query<CredentialRow>(
      `SELECT id, certificate_pem, serial_number, not_before, not_after, wrapped_private_key, locked_until
         FROM signer_credentials WHERE user_id = $1 AND superseded_at IS NULL`,
      [userId],
    );
    return rows[0] ?? null;
  }

  async sign(canonicalContent: Buffer, who: SignerIdentity): Promise<SignResult> {
    const cred = await this.credential(who.userId);
    if (!cred) throw new SigningRefused('not-enrolled', 'No signing certificate: enrol a signing PIN first.');
    if (cred.locked_until && new Date(cred.locked_until) > new Date())
      throw new SigningRefused('locked', 'Too many wrong PINs; the signing key is locked for a while.');

    let pkcs8: Buffer;
    try {
      pkcs8 = await unwrapKey(cred.wrapped_private_key, who.pin);
    } catch (e) {
      if (!(e instanceof WrongPinError)) throw e;
      await this.db.query(
        `UPDATE signer_credentials
            SET failed_pin_attempts = failed_pin_attempts + 1,
                locked_until = CASE WHEN failed_pin_attempts + 1 >= $2
                                    THEN now() + make_interval(mins => $3) END
          WHERE id = $1`,
        [cred.id, MAX_PIN_FAILURES, PIN_LOCK_MINUTES],
      );
      throw new SigningRefused('wrong-pin', 'The signing PIN is wrong; nothing was signed.');
    }
    await this.db.query(
      'UPDATE signer_credentials SET failed_pin_attempts = 0, locked_until = NULL WHERE id = $1 AND failed_pin_attempts > 0',
      [cred.id],
    );

    // The certificate is judged now, at signing time, and the judgement is recorded with the signature.
    const certCheckedAt = new Date();
    const revokedAt = await this.ca.revokedAt(cred.serial_number);
    if (revokedAt)
      throw new SigningRefused(
        'certificate-invalid',
        'The signing certificate is revoked; nothing was signed.',
      );
    if (certCheckedAt < new Date(cred.not_before) || certCheckedAt > new Date(cred.not_after))
      throw new SigningRefused(
        'certificate-invalid',
        'The signing certificate is not valid now; nothing was signed.',
      );

    const signedAt = new Date();
    const key = createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' });
    const signature = await new CompactSign(canonicalContent)
      .setProtectedHeader({
        alg: 'ES256',
        x5c: [der64(cred.certificate_pem), der64(this.ca.certificatePem)],
        sigT: signedAt.toISOString(),
      })
      .sign(key);
    return {
      signature,
      certificateChain: [cred.certificate_pem, this.ca.certificatePem],
      certificateSerial: cred.serial_number,
      signedAt,
      certStatus: 'good',
      certCheckedAt,
    };
  }

  async verify(canonicalContent: Buffer, signature: string): Promise<VerifyResult> {
    const fail = (
      status: VerifyResult['status'],
      reason: string,
      certificate: CertificateInfo | null = null,
    ) => ({
      status,
      reason,
      signedAt: null,
      revokedAt: null,
      certificate,
    });
    let leaf: X509Certificate;
    let sigT: string;
    try {
      const header = decodeProtectedHeader(signature);
      if (!header.x5c?.[0] || typeof header.sigT !== 'string')
        return fail('tampered', 'The signature header is incomplete.');
      leaf = new X509Certificate(Buffer.from(header.x5c[0], 'base64'));
      sigT = header.sigT;
    } catch {
      return fail('tampered', 'The signature is not a readable JWS.');
    }
    const cert = info(leaf);
    let payload: Uint8Array;
    try {
      ({ payload } = await compactVerify(signature, leaf.publicKey, { algorithms: ['ES256'] }));
    } catch {
      return fail('tampered', 'The signature does not match the signed data.', cert);
    }
    if (!Buffer.from(payload).equals(canonicalContent))
      return fail('tampered', 'The report differs from the content that was signed.', cert);

    const ca = new X509Certificate(this.ca.certificatePem);
    if (!leaf.checkIssued(ca) || !leaf.verify(ca.publicKey))
      return fail('untrusted', "The certificate was not issued by this deployment's CA.", cert);
    const signedAt = new Date(sigT);
    if (
      Number.isNaN(signedAt.getTime()) ||
      signedAt < new Date(leaf.validFrom) ||
      signedAt > new Date(leaf.validTo)
    )
      return fail('untrusted', 'The certificate was not valid at the signing time.', cert);

    const revokedAt = await this.ca.revokedAt(cert.serial);
    const base = {
      signedAt: signedAt.toISOString(),
      revokedAt: revokedAt?.toISOString() ?? null,
      certificate: cert,
    };
    if (revokedAt && revokedAt <= signedAt)
      return {
        ...base,
        status: 'revoked',
        reason: 'The certificate was already revoked when this was signed.',
      };
    if (revokedAt)
      return {
        ...base,
        status: 'revoked-since',
        reason: 'Valid as signed; the certificate was revoked after the signature was made.',
      };
    return {
      ...base,
      status: 'valid',
      reason: 'The signature matches the report and the certificate is good.',
    };
  }
}
