/**
 * Patient side of share links: open a link (token + PIN or birth year) into a short viewing
 * session, see the study and its signed reports, download a report's PDF, read who accessed the
 * study, and close the session. Images come from the ordinary DICOMweb routes, which admit the
 * share session for the link's one study only (policy table + grants model).
 *
 * Opening answers, without ever naming the study: unknown token 401, withdrawn or expired 410,
 * locked 423, no secret given 401 naming which one to ask for (no attempt used), wrong secret 401
 * with the attempts left. Attempts are counted per link in the database, so the limit holds
 * across gateways and restarts; opens are also rate-limited per client address.
 */
import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { Counter } from 'prom-client';
import type { ErrorCode } from '../../../contracts/errors.js';
import { verifyPassword } from '../identity/passwords.js';
import { AppError } from '../plugins/errors.js';
import { SHARE_BEARER_PREFIX, SHARE_COOKIE } from '../policy/guard.js';
import type { DeliveryRepo } from '../reading/delivery/delivery-repo.js';
import { ACCESS_LOG_NOTE, accessLog } from './access-log.js';
import { type LinkRepo, statusOf } from './links-repo.js';
import { type PatientReports, studyView } from './patient-view.js';
import { AccessLog, AccessLogQuery, Ok, OpenBody, OpenResponse, ReportParams, ShareMe } from './schemas.js';
import { secretInput, sha256Hex } from './secrets.js';
import { type ShareSessions, sharePrincipal } from './share-sessions.js';

export interface PatientRouteOptions {
  links: LinkRepo;
  sessions: ShareSessions;
  reports: PatientReports;
  deliveries: DeliveryRepo;
  maxAttempts: number;
  openRateLimit: number;
  cookieSecure: boolean;
}

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

export default async function patientShareRoutes(fastify: FastifyInstance, opts: PatientRouteOptions) {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  const { links, sessions, reports, deliveries, maxAttempts } = opts;
  // Wrong secrets and locks rising together point at someone guessing PINs: alert on it.
  const opens = new Counter({
    name: 'radlink_share_opens_total',
    help: 'Share-link open attempts by outcome',
    labelNames: ['outcome'],
    registers: [app.metrics.registry],
  });
  const refuse = (outcome: string, code: ErrorCode, reason?: string): never => {
    opens.inc({ outcome });
    throw new AppError(code, reason);
  };

  app.post(
    '/api/share/open',
    {
      config: {
        rateLimit: {
          max: opts.openRateLimit,
          timeWindow: '1 minute',
          keyGenerator: (req) => `share-open|${req.ip}`,
        },
      },
      schema: {
        tags: ['share'],
        summary:
          'Open a share link with its token and PIN (or birth year): a viewing session for its one study (HttpOnly cookie radlink_share, and a bearer).',
        body: OpenBody,
        response: { 200: OpenResponse },
      },
    },
    async (request, reply) => {
      const body = request.body;
      const link = await links.byTokenHash(sha256Hex(body.token));
      if (!link) return refuse('invalid', 'RADLINK_SHARE_INVALID');
      request.auditStudyUid = link.studyUid;
      request.auditDetail = { shareLinkId: link.id };
      const status = statusOf(link);
      if (status === 'revoked') return refuse('revoked', 'RADLINK_SHARE_REVOKED');
      if (status === 'expired') return refuse('expired', 'RADLINK_SHARE_EXPIRED');
      if (status === 'locked') return refuse('locked', 'RADLINK_SHARE_LOCKED');
      if (body.pin === undefined && body.birthYear === undefined)
        return refuse(
          'secret-required',
          link.secretKind === 'pin' ? 'RADLINK_SHARE_PIN_REQUIRED' : 'RADLINK_SHARE_BIRTH_YEAR_REQUIRED',
        );

      const reserved = await links.reserveAttempt(link.id, maxAttempts);
      if (!reserved.ok) return refuse('locked', 'RADLINK_SHARE_LOCKED');
      const input = secretInput(link.secretKind, body);
      if (input === null || !(await verifyPassword(input, link.secretHash))) {
        request.auditDetail = { shareLinkId: link.id, reason: 'wrong-secret', attempt: reserved.attempt };
        if (reserved.attempt >= maxAttempts) {
          await links.lock(link.id);
          return refuse('wrong-secret-locked', 'RADLINK_SHARE_LOCKED');
        }
        const left = maxAttempts - reserved.attempt;
        return refuse(
          'wrong-secret',
          'RADLINK_SHARE_SECRET_WRONG',
          `The ${link.secretKind === 'pin' ? 'PIN' : 'birth year'} is wrong; ${left} attempt${left === 1 ? '' : 's'} left.`,
        );
      }
      await links.recordOpen(link.id);
      opens.inc({ outcome: 'opened' });
      const session = await sessions.create(link.id, link.expiresAt, request.ip);
      // The audit row of this open names the share holder, like every later request of the session.
      request.principal = sharePrincipal(
        { linkId: link.id, sessionId: session.id, studyUid: link.studyUid },
        'cookie',
      );
      reply.setCookie(SHARE_COOKIE, session.credential, {
        httpOnly: true,
        sameSite: 'strict',
        secure: opts.cookieSecure,
        path: '/',
        expires: session.expiresAt,
      });
      return {
        token: `${SHARE_BEARER_PREFIX}${session.credential}`,
        expiresAt: session.expiresAt.toISOString(),
        expiresIn: Math.max(0, Math.floor((session.expiresAt.getTime() - Date.now()) / 1000)),
        linkExpiresAt: new Date(link.expiresAt).toISOString(),
      };
    },
  );

  app.post(
    '/api/share/close',
    {
      schema: { tags: ['share'], summary: 'End this viewing session.', response: { 200: Ok } },
    },
    async (request, reply) => {
      const p = request.principal!;
      request.auditStudyUid = p.shareStudyUid ?? null;
      await sessions.end(p.sessionId);
      reply.clearCookie(SHARE_COOKIE, { path: '/' });
      return { ok: true as const };
    },
  );

  app.get(
    '/api/share/me',
    {
      compress: { threshold: 1024 },
      schema: {
        tags: ['share'],
        summary:
          'What the patient page shows: facility, study, series (UIDs for DICOMweb), signed reports with their verification, expiries.',
        response: { 200: ShareMe },
      },
    },
    async (request) => {
      const p = request.principal!;
      const studyUid = p.shareStudyUid!;
      request.auditStudyUid = studyUid;
      const view = await studyView(app.db, studyUid);
      if (!view) throw new AppError('RADLINK_NOT_FOUND', 'The study is no longer available.');
      const expiries = await sessions.expiries(p.sessionId);
      return {
        ...view,
        reports: await reports.forStudy(studyUid),
        link: { expiresAt: expiries.linkExpiresAt.toISOString() },
        session: { expiresAt: expiries.sessionExpiresAt.toISOString() },
      };
    },
  );

  app.get(
    '/api/share/access-log',
    {
      compress: { threshold: 1024 },
      schema: {
        tags: ['share'],
        summary:
          'Who accessed this study and when (Law 91/2025/QH15): staff by role and facility, your own accesses, newest first.',
        querystring: AccessLogQuery,
        response: { 200: AccessLog },
      },
    },
    async (request) => {
      const studyUid = request.principal!.shareStudyUid!;
      request.auditStudyUid = studyUid;
      const page = await accessLog(app.db, studyUid, {
        limit: request.query.limit ?? 200,
        before: request.query.before,
      });
      return { studyUid, ...page, note: ACCESS_LOG_NOTE };
    },
  );

  app.get(
    '/api/share/reports/:reportId/pdf',
    {
      schema: {
        tags: ['share'],
        summary: 'The PDF of a signed report of this study, exactly as recorded when it was signed.',
        params: ReportParams,
        produces: ['application/pdf'],
        response: { 200: Type.Unsafe<Buffer>({ type: 'string', format: 'binary' }) },
      },
    },
    async (request, reply) => {
      const studyUid = request.principal!.shareStudyUid!;
      request.auditStudyUid = studyUid;
      const r = await reports.signedOfStudy(studyUid, request.params.reportId);
      if (!r) throw new AppError('RADLINK_NOT_FOUND', 'No such report.');
      const d = await deliveries.byReport(r.id);
      if (!d) throw new AppError('RADLINK_NOT_FOUND', 'The PDF of this report has not been made yet.');
      let bytes: Buffer;
      try {
        bytes = await readAll(await app.s3.client.getObject(app.s3.bucket, d.pdfKey));
      } catch (e) {
        if ((e as { code?: string }).code === 'NoSuchKey')
          throw new AppError('RADLINK_NOT_FOUND', 'The PDF of this report is missing from storage.');
        throw e;
      }
      // Never hand a patient a document that differs from the one recorded with the signature.
      if (createHash('sha256').update(bytes).digest('hex') !== d.pdfSha256)
        throw new AppError(
          'RADLINK_CONFLICT',
          'The stored PDF does not match its signed record; ask the facility.',
        );
      return reply
        .type('application/pdf')
        .header('content-disposition', `inline; filename="ket-qua-${r.id}.pdf"`)
        .header('cache-control', 'private, no-store')
        .send(bytes);
    },
  );
}
