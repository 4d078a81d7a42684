/**
 * The deployment's demo CA: created on first start (a P-256 key pair and a self-signed
 * certificate whose subject says it is a demo and not a legal signature), kept in the database
 * so every gateway of a deployment shares it, its private key encrypted under a key derived from
 * the gateway's token secret. It issues each radiologist's signing certificate and keeps the
 * revocation list (revoked_certificates, append-only).
 */
import 'reflect-metadata';
import { randomBytes, webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import type { Db, Queryable } from '../../db/client.js';
import { unwrapKey, type WrappedKey, wrapKey } from './pin-keys.js';

type CryptoKey = webcrypto.CryptoKey;
type CryptoKeyPair = webcrypto.CryptoKeyPair;
x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

export const DEMO_CA_ID = 'demo';
export const DEMO_CA_SUBJECT = 'RadLink DEMO CA — not a legal signature';
const EC = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const SIGNING_ALG = { name: 'ECDSA', hash: 'SHA-256' } as const;
const CA_YEARS = 10;
const USER_CERT_DAYS = 730;

/** Positive 128-bit serial, lower-case hex (the form used everywhere in RadLink). */
function newSerial(): string {
  const b = randomBytes(16);
  b[0] = b[0]! & 0x7f;
  return b.toString('hex');
}

export function normaliseSerial(s: string): string {
  return s.toLowerCase().replace(/^(00)+(?=.)/, '');
}

export interface IssuedCertificate {
  pem: string;
  serial: string;
  notBefore: Date;
  notAfter: Date;
}

export class DemoCa {
  private signingKey: CryptoKey | null = null;
  private constructor(
    private readonly db: Queryable,
    readonly certificatePem: string,
    private readonly wrapped: WrappedKey,
    private readonly secret: string,
  ) {}

  /**
   * Loads the CA, creating it when the deployment has none. Two gateways starting together on
   * one PostgreSQL both may generate one; ON CONFLICT keeps the first and both load that.
   */
  static async ensure(db: Db, secret: string): Promise<DemoCa> {
    const load = async () =>
      (
        await db.query<{ certificate_pem: string; encrypted_private_key: string }>(
          'SELECT certificate_pem, encrypted_private_key FROM signing_cas WHERE id = $1',
          [DEMO_CA_ID],
        )
      )[0];
    let row = await load();
    if (!row) {
      const keys = (await webcrypto.subtle.generateKey(EC, true, ['sign', 'verify'])) as CryptoKeyPair;
      const now = new Date();
      const cert = await x509.X509CertificateGenerator.createSelfSigned({
        serialNumber: newSerial(),
        name: [{ CN: [DEMO_CA_SUBJECT] }, { O: ['RadLink demo deployment'] }],
        notBefore: new Date(now.getTime() - 60_000),
        notAfter: new Date(now.getTime() + CA_YEARS * 365 * 86400_000),
        keys,
        signingAlgorithm: SIGNING_ALG,
        extensions: [
          new x509.BasicConstraintsExtension(true, 0, true),
          new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
          await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
        ],
      });
      const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey));
      const wrapped = await wrapKey(pkcs8, secret);
      await db.query(
        `INSERT INTO signing_cas (id, certificate_pem, encrypted_private_key) VALUES ($1, $2, $3)
         ON CONFLICT (id) DO NOTHING`,
        [DEMO_CA_ID, cert.toString('pem'), JSON.stringify(wrapped)],
      );
      row = await load();
    }
    return new DemoCa(db, row!.certificate_pem, JSON.parse(row!.encrypted_private_key) as WrappedKey, secret);
  }

  private async key(): Promise<CryptoKey> {
    if (!this.signingKey) {
      let pkcs8: Buffer;
      try {
        pkcs8 = await unwrapKey(this.wrapped, this.secret);
      } catch {
        // The token secret changed since the CA was created: existing signatures still verify
        // (only the public certificate is needed), but no new certificate can be issued.
        throw new Error(
          'The demo CA key cannot be decrypted: RADLINK_TOKEN_SECRET changed since it was created.',
        );
      }
      this.signingKey = await webcrypto.subtle.importKey('pkcs8', pkcs8, EC, false, ['sign']);
    }
    return this.signingKey;
  }

  /** Issues a signing certificate for a radiologist's public key (SPKI DER). */
  async issue(
    subject: { name: string; organisation: string; userId: string },
    spki: Buffer,
  ): Promise<IssuedCertificate> {
    const ca = new x509.X509Certificate(this.certificatePem);
    const now = new Date();
    const notBefore = new Date(now.getTime() - 60_000);
    const notAfter = new Date(now.getTime() + USER_CERT_DAYS * 86400_000);
    const serial = newSerial();
    const cert = await x509.X509CertificateGenerator.create({
      serialNumber: serial,
      subject: [
        { CN: [subject.name] },
        { O: [subject.organisation] },
        { OU: ['DEMO certificate — not a legal signature'] },
        // userId (0.9.2342.19200300.100.1.1): ties the certificate to one RadLink account.
        { '0.9.2342.19200300.100.1.1': [subject.userId] },
      ],
      issuer: ca.subject,
      notBefore,
      notAfter,
      publicKey: spki,
      signingKey: await this.key(),
      signingAlgorithm: SIGNING_ALG,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(
          x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.nonRepudiation,
          true,
        ),
        await x509.AuthorityKeyIdentifierExtension.create(ca, false),
      ],
    });
    return { pem: cert.toString('pem'), serial: normaliseSerial(cert.serialNumber), notBefore, notAfter };
  }

  /** Adds a certificate to the revocation list; revoking twice keeps the first date. */
  async revoke(serial: string, reason: string, by: string | null): Promise<Date> {
    await this.db.query(
      `INSERT INTO revoked_certificates (serial_number, ca_id, reason, revoked_by) VALUES ($1, $2, $3, $4)
       ON CONFLICT (serial_number) DO NOTHING`,
      [normaliseSerial(serial), DEMO_CA_ID, reason, by],
    );
    return (await this.revokedAt(serial))!;
  }

  async revokedAt(serial: string): Promise<Date | null> {
    const rows = await this.db.query<{ revoked_at: Date }>(
      'SELECT revoked_at FROM revoked_certificates WHERE serial_number = $1',
      [normaliseSerial(serial)],
    );
    return rows[0] ? new Date(rows[0].revoked_at) : null;
  }
}
