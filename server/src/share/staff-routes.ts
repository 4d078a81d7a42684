/**
 * Staff side of patient share links: create one for a study that has a signed report (with its
 * QR code and printable slip), list the study's links, revoke one.
 *
 * Who: the owning facility's staff (facility admin, radiologist, referring doctor), or a
 * radiologist who signed a report of the study (the reading side of a remote read). A study the
 * caller cannot see answers 404; one they see but may not share, 403. System admins may list and
 * revoke (incident response) but not create: giving patient data out is a clinical act.
 */
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { canAccessStudy } from '../access/study-access.js';
import { baseUrl } from '../dicomweb/base-url.js';
import { hashPassword } from '../identity/passwords.js';
import type { Principal } from '../identity/principal.js';
import { AppError } from '../plugins/errors.js';
import { type LinkRepo, type LinkRow, statusOf } from './links-repo.js';
import { CreatedLink, CreateLinkBody, LinkParams, ShareLink, StudyParams } from './schemas.js';
import { birthYearOf, newLinkToken, newPin, sha256Hex } from './secrets.js';
import { qrCodes, type SlipRenderer } from './slip.js';

export interface StaffRouteOptions {
  links: LinkRepo;
  slips: SlipRenderer;
  defaultTtlDays: number;
}

const iso = (d: Date | null) => (d ? new Date(d).toISOString() : null);

export function linkApi(l: LinkRow) {
  return {
    id: l.id,
    studyUid: l.studyUid,
    secretKind: l.secretKind,
    status: statusOf(l),
    createdAt: iso(l.createdAt)!,
    expiresAt: iso(l.expiresAt)!,
    createdBy: { id: l.createdById, name: l.createdByName, role: l.createdByRole },
    revokedAt: iso(l.revokedAt),
    revokedBy: l.revokedById ? { id: l.revokedById, name: l.revokedByName ?? '' } : null,
    failedAttempts: l.failedAttempts,
    lockedAt: iso(l.lockedAt),
    openCount: l.openCount,
    lastOpenedAt: iso(l.lastOpenedAt),
  };
}

interface ShareableStudy {
  facilityName: string | null;
  studyDate: string | null;
  studyDescription: string | null;
  birthDate: string | null;
  signed: boolean;
}

const SHARER_ROLES = ['facility_admin', 'radiologist', 'referring_doctor'];

/** The study, if the caller may manage its share links; 404 when out of scope, 403 when not theirs to share. */
async function manageableStudy(
  app: FastifyInstance,
  p: Principal,
  studyUid: string,
): Promise<ShareableStudy> {
  if (!(await canAccessStudy(app.db, p, studyUid))) throw new AppError('RADLINK_NOT_FOUND', 'No such study.');
  const [s] = await app.db.query<ShareableStudy & { facilityId: string | null; signedByMe: boolean }>(
    `SELECT s.facility_id AS "facilityId", f.name AS "facilityName", s.study_date AS "studyDate",
            s.study_description AS "studyDescription", s.patient_birth_date AS "birthDate",
            EXISTS (SELECT 1 FROM reports r WHERE r.study_uid = s.study_uid AND r.status = 'final'
                       AND r.parent_report_id IS NULL) AS signed,
            EXISTS (SELECT 1 FROM reports r JOIN report_signatures g ON g.report_id = r.id
                     WHERE r.study_uid = s.study_uid AND g.signer_id = $2) AS "signedByMe"
       FROM studies s LEFT JOIN facilities f ON f.id = s.facility_id WHERE s.study_uid = $1`,
    [studyUid, p.userId],
  );
  if (!s) throw new AppError('RADLINK_NOT_FOUND', 'No such study.');
  const owner = p.facilityId !== null && p.facilityId === s.facilityId && SHARER_ROLES.includes(p.role);
  const signer = p.role === 'radiologist' && s.signedByMe;
  if (!(p.role === 'system_admin' || owner || signer))
    throw new AppError(
      'RADLINK_FORBIDDEN',
      "Share links are given by the study's own facility or by the radiologist who signed its report.",
    );
  return s;
}

export default async function staffShareRoutes(fastify: FastifyInstance, opts: StaffRouteOptions) {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  const { links, slips } = opts;

  app.post(
    '/api/studies/:studyUid/share-links',
    {
      schema: {
        tags: ['share'],
        summary:
          'Create a read-only, time-limited share link to one study with a signed report, for the patient: URL, PIN (shown once), QR code and printable slip.',
        params: StudyParams,
        body: CreateLinkBody,
        response: { 201: CreatedLink },
      },
    },
    async (request, reply) => {
      const p = request.principal!;
      const { studyUid } = request.params;
      const s = await manageableStudy(app, p, studyUid);
      if (!s.signed)
        throw new AppError(
          'RADLINK_CONFLICT',
          'The study has no signed report yet: share it once it is signed.',
        );
      const secretKind = request.body.secret ?? 'pin';
      let pin: string | null = null;
      let secret: string;
      if (secretKind === 'pin') {
        pin = newPin();
        secret = pin;
      } else {
        const year = birthYearOf(s.birthDate);
        if (year === null)
          throw new AppError(
            'RADLINK_CONFLICT',
            'The study has no usable birth date for the patient: use a PIN instead.',
          );
        secret = String(year);
      }
      const token = newLinkToken();
      const link = await links.create({
        studyUid,
        tokenHash: sha256Hex(token),
        secretKind,
        secretHash: await hashPassword(secret),
        createdBy: p.userId,
        ttlDays: request.body.expiresInDays ?? opts.defaultTtlDays,
      });
      request.auditDetail = { shareLinkId: link.id, secretKind };
      // The fragment (#/s/…) never reaches a server, so the token stays out of every access log.
      const url = `${baseUrl(request)}/#/s/${token}`;
      const qr = await qrCodes(url);
      const pdf = await slips.render(
        {
          url,
          facilityName: s.facilityName ?? '',
          studyDate: s.studyDate,
          studyDescription: s.studyDescription,
          secretKind,
          pin,
          expiresAt: new Date(link.expiresAt),
        },
        qr.png,
      );
      return reply.code(201).send({
        link: linkApi(link),
        url,
        token,
        pin,
        qr: { svg: qr.svg, png: qr.png.toString('base64') },
        slip: { pdf: Buffer.from(pdf).toString('base64') },
      });
    },
  );

  app.get(
    '/api/studies/:studyUid/share-links',
    {
      schema: {
        tags: ['share'],
        summary: 'The share links of a study, newest first (tokens and PINs are never shown again).',
        params: StudyParams,
        response: { 200: Type.Array(ShareLink) },
      },
    },
    async (request) => {
      await manageableStudy(app, request.principal!, request.params.studyUid);
      return (await links.forStudy(request.params.studyUid)).map(linkApi);
    },
  );

  app.post(
    '/api/studies/:studyUid/share-links/:linkId/revoke',
    {
      schema: {
        tags: ['share'],
        summary: 'Withdraw a share link: its open sessions end and it can no longer be opened (idempotent).',
        params: LinkParams,
        response: { 200: ShareLink },
      },
    },
    async (request) => {
      const p = request.principal!;
      const { studyUid, linkId } = request.params;
      await manageableStudy(app, p, studyUid);
      const link = await links.revoke(studyUid, linkId, p.userId);
      if (!link) throw new AppError('RADLINK_NOT_FOUND', 'No such share link for this study.');
      request.auditDetail = { shareLinkId: link.id };
      return linkApi(link);
    },
  );
}
