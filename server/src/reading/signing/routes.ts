/**
 * Signing credentials: a radiologist enrols a PIN (which creates their key pair and a demo-CA
 * certificate), reads their certificate; admins (or the owner) revoke a certificate; anyone
 * logged in may fetch the CA certificate to check signatures offline.
 */
import { X509Certificate } from 'node:crypto';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { AppError } from '../../plugins/errors.js';
import { CertificateInfo, Pin } from '../schemas.js';
import { DEMO_CA_SUBJECT, type DemoCa } from './demo-ca.js';
import type { DemoSigner } from './demo-signer.js';

const Serial = Type.String({ pattern: '^[0-9a-fA-F]{2,64}$' });
const MyCertificate = Type.Intersect([
  CertificateInfo,
  Type.Object({ revokedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]) }),
]);

export default async function signingRoutes(
  fastify: FastifyInstance,
  opts: { ca: DemoCa; signer: DemoSigner },
) {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  const { ca, signer } = opts;

  app.get(
    '/api/signing/ca',
    {
      schema: {
        tags: ['signing'],
        summary: "The deployment's demo CA certificate (PEM): it is not a legal signature authority.",
        response: {
          200: Type.Object({
            subject: Type.String(),
            certificatePem: Type.String(),
            demo: Type.Literal(true),
          }),
        },
      },
    },
    async () => ({
      subject: new X509Certificate(ca.certificatePem).subject.replace(/\n/g, ', '),
      certificatePem: ca.certificatePem,
      demo: true as const,
    }),
  );

  app.post(
    '/api/signing/enrol',
    {
      schema: {
        tags: ['signing'],
        summary: `Set my signing PIN: creates my key pair and a certificate from "${DEMO_CA_SUBJECT}". Replaces any previous one.`,
        body: Type.Object({ pin: Pin }, { additionalProperties: false }),
        response: { 201: CertificateInfo },
      },
    },
    async (request, reply) => {
      const p = request.principal!;
      const [u] = await app.db.query<{ display_name: string; facility_name: string | null }>(
        `SELECT u.display_name, f.name AS facility_name FROM users u LEFT JOIN facilities f ON f.id = u.facility_id
          WHERE u.id = $1`,
        [p.userId],
      );
      const info = await signer.enrol(
        { userId: p.userId, name: u!.display_name, organisation: u!.facility_name ?? 'RadLink' },
        request.body.pin,
      );
      return reply.code(201).send(info);
    },
  );

  app.get(
    '/api/signing/certificate',
    {
      schema: {
        tags: ['signing'],
        summary: 'My current signing certificate.',
        response: { 200: MyCertificate },
      },
    },
    async (request) => {
      const c = await signer.current(request.principal!.userId);
      if (!c) throw new AppError('RADLINK_SIGNER_NOT_ENROLLED');
      return c;
    },
  );

  app.post(
    '/api/signing/certificates/:serial/revoke',
    {
      schema: {
        tags: ['signing'],
        summary:
          'Revoke a signing certificate (its owner, their facility admin, or a system admin). Reports it signed before stay valid-as-signed.',
        params: Type.Object({ serial: Serial }),
        body: Type.Object(
          { reason: Type.String({ minLength: 1, maxLength: 200 }) },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object({ serial: Type.String(), revokedAt: Type.String({ format: 'date-time' }) }),
        },
      },
    },
    async (request) => {
      const p = request.principal!;
      const owner = await signer.ownerOf(request.params.serial);
      const [u] = owner
        ? await app.db.query<{ facility_id: string | null }>('SELECT facility_id FROM users WHERE id = $1', [
            owner,
          ])
        : [];
      const allowed =
        owner !== null &&
        (p.role === 'system_admin' ||
          owner === p.userId ||
          (p.role === 'facility_admin' && u?.facility_id === p.facilityId));
      if (!allowed) throw new AppError('RADLINK_NOT_FOUND', 'No such certificate.');
      const revokedAt = await ca.revoke(
        request.params.serial,
        request.body.reason.normalize('NFC'),
        p.userId,
      );
      return { serial: request.params.serial.toLowerCase(), revokedAt: revokedAt.toISOString() };
    },
  );
}
