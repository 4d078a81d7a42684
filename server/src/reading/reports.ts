/**
 * Reports: templates, drafts (autosaved by the viewer), signing and addenda, verification.
 * Finalising signs the canonical content (canonical.ts) through the pluggable Signer; the
 * stored row, its signature and the request move to final/signed in one transaction, and from
 * then on the database refuses any change (see migration 010). Corrections are addenda, each
 * signed the same way. Verification rebuilds the canonical bytes from what is stored now and
 * asks the signer that made the signature whether they still match.
 */
import { randomUUID, timingSafeEqual } from 'node:crypto';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { Principal } from '../identity/principal.js';
import { AppError } from '../plugins/errors.js';
import { canonicalReport, type ReportContent, sha256Hex } from './canonical.js';
import type { ReadingMetrics } from './metrics.js';
import { type ReportRepo, type ReportRow, type SignatureRecord, toApi } from './reports-repo.js';
import { isReaderSide, maySee } from './request-access.js';
import { visibleRequest } from './requests.js';
import type { RequestRepo, RequestRow } from './requests-repo.js';
import {
  AddendumBody,
  PublicVerifyQuery,
  PublicVerifyResponse,
  Report,
  ReportIdParams,
  ReportWithAddenda,
  RequestIdParams,
  SaveDraftBody,
  SignBody,
  TemplateSchema,
  VerifyResponse,
} from './schemas.js';
import type { DemoSigner } from './signing/demo-signer.js';
import { type Signer, SigningRefused, type SignResult } from './signing/signer.js';
import { missingToSign, normaliseFields, templateById, templatesFor } from './templates.js';

export interface ReportRoutesOptions {
  requests: RequestRepo;
  reports: ReportRepo;
  /** The signer new signatures are made with. */
  signer: Signer;
  /** Every signer a stored signature may name, by kind (old signatures outlive a signer change). */
  signers: Map<string, Signer>;
  demoSigner: DemoSigner;
  metrics: ReadingMetrics;
  /** Delivery of signed reports (delivery/): started after each signature, checked by verify. */
  delivery?: ReportDelivery;
}

/** What delivery (PDF in S3, DICOM copy in the study) adds to signing and verification. */
export interface ReportDelivery {
  /** Called once a report or addendum is signed and committed; must not throw for delivery trouble. */
  onSigned(reportId: string): Promise<void>;
  /** Checks the delivered copies of a signed report against its delivery record. */
  verifyCopies(r: ReportRow): Promise<CopiesVerdict>;
}

export interface CopyVerdict {
  status: 'valid' | 'tampered' | 'missing' | 'pending' | 'unavailable';
  reason: string;
  sha256: string | null;
}
const COPY_NAMES = {
  pdf: 'PDF copy in S3',
  dicom: 'DICOM copy in the study',
  sr: 'SR copy in the study',
} as const;

export interface CopiesVerdict {
  pdf: CopyVerdict;
  dicom: CopyVerdict;
  sr: CopyVerdict;
}

const NO_REPORT = () => new AppError('RADLINK_NOT_FOUND', 'No such report.');

/** Drafts are the readers' working copy; the requester's side sees signed reports only. */
export function maySeeReport(p: Principal, req: RequestRow, r: ReportRow): boolean {
  return maySee(p, req) && (r.status === 'final' || p.role === 'system_admin' || isReaderSide(p, req));
}

export function contentOf(
  r: Pick<
    ReportRow,
    'id' | 'requestId' | 'studyUid' | 'parentReportId' | 'templateId' | 'language' | 'fields' | 'freeText'
  >,
  accessionNumber: string,
  signer: { userId: string; name: string },
  signedAt: Date,
): ReportContent {
  return {
    reportId: r.id,
    requestId: r.requestId,
    studyUid: r.studyUid,
    accessionNumber,
    parentReportId: r.parentReportId,
    templateId: r.templateId,
    language: r.language,
    fields: r.fields,
    freeText: r.freeText,
    signer,
    signedAt: signedAt.toISOString(),
  };
}

async function signOrRefuse(signer: Signer, content: Buffer, p: Principal, pin: string): Promise<SignResult> {
  try {
    return await signer.sign(content, { userId: p.userId, pin });
  } catch (e) {
    if (!(e instanceof SigningRefused)) throw e;
    const code = {
      'wrong-pin': 'RADLINK_PIN_INVALID',
      locked: 'RADLINK_PIN_LOCKED',
      'not-enrolled': 'RADLINK_SIGNER_NOT_ENROLLED',
      'certificate-invalid': 'RADLINK_CERTIFICATE_INVALID',
    } as const;
    throw new AppError(code[e.why], e.message);
  }
}

export default async function reportRoutes(fastify: FastifyInstance, opts: ReportRoutesOptions) {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  const { requests, reports, signer, signers, demoSigner, metrics } = opts;

  const signature = (p: Principal, s: SignResult, signerName: string): SignatureRecord => ({
    signerKind: signer.kind,
    signerId: p.userId,
    signerName,
    signature: s.signature,
    certificateSerial: s.certificateSerial,
    certificateChain: s.certificateChain,
    certStatus: s.certStatus,
    certCheckedAt: s.certCheckedAt,
    signedAt: s.signedAt,
  });

  /** Loads a report the caller may see, with its request; 404 otherwise. */
  async function visibleReport(p: Principal, id: string, audit: { auditStudyUid: string | null }) {
    const r = await reports.byId(id);
    const req = r ? await requests.byId(r.requestId) : null;
    if (!r || !req || !maySeeReport(p, req, r)) throw NO_REPORT();
    audit.auditStudyUid = r.studyUid;
    return { r, req };
  }

  async function displayName(userId: string): Promise<string> {
    const [u] = await app.db.query<{ display_name: string }>('SELECT display_name FROM users WHERE id = $1', [
      userId,
    ]);
    return u?.display_name ?? '';
  }

  app.get(
    '/api/report-templates',
    {
      schema: {
        tags: ['reading'],
        summary: 'Report templates (Vietnamese and English), optionally for one modality.',
        querystring: Type.Object(
          { modality: Type.Optional(Type.String({ pattern: '^[A-Z]{2}$' })) },
          { additionalProperties: false },
        ),
        response: { 200: Type.Array(TemplateSchema) },
      },
    },
    async (request) => templatesFor(request.query.modality),
  );

  app.put(
    '/api/requests/:requestId/report',
    {
      schema: {
        tags: ['reading'],
        summary: 'Save the draft report of a request I hold (autosave). A signed report answers 409.',
        params: RequestIdParams,
        body: SaveDraftBody,
        response: { 200: Report },
      },
    },
    async (request) => {
      const p = request.principal!;
      const req = await visibleRequest(requests, p, request.params.requestId, request);
      if (req.status === 'signed') throw new AppError('RADLINK_REPORT_SIGNED');
      if (req.claimedById !== p.userId || !['claimed', 'reported'].includes(req.status))
        throw new AppError('RADLINK_CONFLICT', 'Claim the request before writing its report.');
      const b = request.body;
      const t = templateById(b.templateId);
      if (!t || b.templateId === 'addendum')
        throw new AppError('RADLINK_VALIDATION', `No template "${b.templateId}".`);
      const saved = await reports.saveDraft({
        requestId: req.id,
        studyUid: req.studyUid,
        authorId: p.userId,
        templateId: t.id,
        language: b.language,
        fields: normaliseFields(t, b.fields),
        freeText: b.freeText.normalize('NFC').trim(),
        expectedVersion: b.version ?? null,
      });
      if (!saved.ok)
        throw saved.why === 'signed'
          ? new AppError('RADLINK_REPORT_SIGNED')
          : new AppError('RADLINK_CONFLICT', 'The draft was saved elsewhere since you read it; reload it.');
      // The first save moves the request to 'reported' (reports-repo.ts saveDraft).
      if (req.status === 'claimed')
        await app.readingEvents.publish(
          'request.status-changed',
          { ...req, status: 'reported' },
          { previousStatus: 'claimed' },
        );
      return toApi(saved.report);
    },
  );

  app.get(
    '/api/requests/:requestId/report',
    {
      schema: {
        tags: ['reading'],
        summary: 'The report of a request with its addenda (the requester sees signed reports only).',
        params: RequestIdParams,
        response: { 200: ReportWithAddenda },
      },
    },
    async (request) => {
      const p = request.principal!;
      const req = await visibleRequest(requests, p, request.params.requestId, request);
      const r = await reports.mainFor(req.id);
      if (!r || !maySeeReport(p, req, r)) throw NO_REPORT();
      return { report: toApi(r), addenda: (await reports.addenda(r.id)).map(toApi) };
    },
  );

  app.get(
    '/api/reports/:reportId',
    {
      schema: {
        tags: ['reading'],
        summary: 'One report or addendum.',
        params: ReportIdParams,
        response: { 200: Report },
      },
    },
    async (request) => toApi((await visibleReport(request.principal!, request.params.reportId, request)).r),
  );

  app.post(
    '/api/reports/:reportId/sign',
    {
      schema: {
        tags: ['reading'],
        summary: 'Finalise and sign my draft with my signing PIN. Signed reports are immutable.',
        params: ReportIdParams,
        body: SignBody,
        response: { 200: Report },
      },
    },
    async (request) => {
      const p = request.principal!;
      const { r, req } = await visibleReport(p, request.params.reportId, request);
      if (r.status === 'final') throw new AppError('RADLINK_REPORT_SIGNED', 'This report is already signed.');
      if (r.authorId !== p.userId || req.claimedById !== p.userId)
        throw new AppError('RADLINK_FORBIDDEN', 'Only the radiologist holding the request signs its report.');
      const t = templateById(r.templateId);
      const missing = t ? missingToSign(t, r.fields) : [];
      if (missing.length > 0)
        throw new AppError('RADLINK_VALIDATION', `Fill these fields before signing: ${missing.join(', ')}.`);

      const name = await displayName(p.userId);
      const signedAt = new Date();
      const content = canonicalReport(
        contentOf(r, req.accessionNumber, { userId: p.userId, name }, signedAt),
      );
      const s = await signOrRefuse(signer, content, p, request.body.pin);
      if (!(await reports.finalise(r.id, r.version, sha256Hex(content), signedAt, signature(p, s, name))))
        throw new AppError('RADLINK_CONFLICT', 'The draft changed while signing; review it and sign again.');
      (signedAt > new Date(req.dueAt) ? metrics.signedLate : metrics.signedOnTime).inc({
        priority: req.priority,
      });
      await opts.delivery?.onSigned(r.id);
      const signedReq = (await requests.byId(req.id))!;
      await app.readingEvents.publish('report.signed', signedReq, { reportId: r.id, addendum: false });
      return toApi((await reports.byId(r.id))!);
    },
  );

  app.post(
    '/api/reports/:reportId/addenda',
    {
      schema: {
        tags: ['reading'],
        summary:
          'Add a signed addendum to a signed report (the correction path: signed reports never change).',
        params: ReportIdParams,
        body: AddendumBody,
        response: { 201: Report },
      },
    },
    async (request, reply) => {
      const p = request.principal!;
      const { r: parent, req } = await visibleReport(p, request.params.reportId, request);
      if (p.role !== 'radiologist' || !isReaderSide(p, req))
        throw new AppError('RADLINK_FORBIDDEN', 'Only radiologists of the reading facility add addenda.');
      if (parent.status !== 'final' || parent.parentReportId)
        throw new AppError('RADLINK_CONFLICT', 'Addenda are added to a signed main report.');
      const name = await displayName(p.userId);
      const signedAt = new Date();
      const draft = {
        id: randomUUID(),
        requestId: parent.requestId,
        studyUid: parent.studyUid,
        parentReportId: parent.id,
        templateId: 'addendum',
        language: request.body.language,
        fields: {},
        freeText: request.body.freeText.normalize('NFC').trim(),
      };
      const content = canonicalReport(
        contentOf(draft, req.accessionNumber, { userId: p.userId, name }, signedAt),
      );
      const s = await signOrRefuse(signer, content, p, request.body.pin);
      await reports.insertSignedAddendum({
        id: draft.id,
        parent,
        authorId: p.userId,
        language: draft.language,
        freeText: draft.freeText,
        contentHash: sha256Hex(content),
        contentSignedAt: signedAt,
        sig: signature(p, s, name),
      });
      await opts.delivery?.onSigned(draft.id);
      await app.readingEvents.publish('report.signed', req, { reportId: draft.id, addendum: true });
      return reply.code(201).send(toApi((await reports.byId(draft.id))!));
    },
  );

  app.get(
    '/api/reports/:reportId/verify',
    {
      schema: {
        tags: ['reading'],
        summary:
          'Verify a signed report or addendum: valid, tampered, revoked-since (valid as signed), revoked or untrusted.',
        params: ReportIdParams,
        response: { 200: VerifyResponse },
      },
    },
    async (request) => {
      const { r, req } = await visibleReport(request.principal!, request.params.reportId, request);
      if (r.status !== 'final' || !r.sigSignature || !r.signedAt)
        throw new AppError('RADLINK_CONFLICT', 'This report is a draft: there is no signature to verify.');
      return fullVerification(r, req);
    },
  );

  app.get(
    '/api/verify/reports/:reportId',
    {
      schema: {
        tags: ['reading'],
        summary:
          'Public check of a printed report by its QR code (report id + printed code): the signature status, signer and time, no patient data.',
        params: ReportIdParams,
        querystring: PublicVerifyQuery,
        response: { 200: PublicVerifyResponse },
      },
    },
    async (request) => {
      const r = await reports.byId(request.params.reportId);
      const code = r ? await reports.verifyCode(r.id) : null;
      const given = Buffer.from(request.query.code);
      // One answer for "no such report", "not signed" and "wrong code": nothing to enumerate.
      if (
        !r ||
        !code ||
        given.length !== code.length ||
        !timingSafeEqual(given, Buffer.from(code)) ||
        r.status !== 'final' ||
        !r.sigSignature ||
        !r.signedAt
      )
        throw new AppError('RADLINK_NOT_FOUND', 'No signed report matches this code.');
      const req = await requests.byId(r.requestId);
      if (!req) throw new AppError('RADLINK_NOT_FOUND', 'No signed report matches this code.');
      request.auditStudyUid = r.studyUid;
      const v = await fullVerification(r, req);
      return {
        reportId: v.reportId,
        status: v.status,
        reason: v.reason,
        signedAt: v.signedAt,
        revokedAt: v.revokedAt,
        contentHash: v.contentHash,
        signerName: v.signer?.name ?? null,
        certificate: v.certificate,
        demo: v.demo,
        addendum: r.parentReportId !== null,
      };
    },
  );

  /** The signed record and, when delivery is on, each delivered copy against it. */
  async function fullVerification(r: ReportRow, req: RequestRow) {
    {
      const record = await verifyStoredReport({ signers, demoSigner }, r, req.accessionNumber);
      if (!opts.delivery) return record;
      // Each delivered copy is checked against the delivery record. A tampered record keeps its own
      // reason (it is the signed source); otherwise any altered copy makes the report tampered, named.
      const copies = await opts.delivery.verifyCopies(r);
      const bad = (['pdf', 'dicom', 'sr'] as const).filter((k) => copies[k].status === 'tampered');
      if (bad.length === 0 || record.status === 'tampered') return { ...record, copies };
      return {
        ...record,
        status: 'tampered' as const,
        reason: bad.map((k) => `${COPY_NAMES[k]}: ${copies[k].reason}`).join(' '),
        copies,
      };
    }
  }
}

/**
 * Verifies a signed report (or addendum) as stored now: rebuilds the canonical bytes from the
 * row and asks the signer that made the signature whether they still match.
 */
export async function verifyStoredReport(
  deps: { signers: Map<string, Signer>; demoSigner: DemoSigner },
  r: ReportRow,
  accessionNumber: string,
) {
  const { signers, demoSigner } = deps;
  const signerOf = { userId: r.sigSignerId!, name: r.sigSignerName! };
  const base = {
    reportId: r.id,
    contentHash: r.contentHash,
    signer: { id: signerOf.userId, name: signerOf.name },
    demo: r.sigSignerKind === demoSigner.kind,
  };
  const verifier = signers.get(r.sigSignerKind!);
  if (!verifier)
    return {
      ...base,
      status: 'untrusted' as const,
      reason: `No signer "${r.sigSignerKind}" is configured to verify this signature.`,
      signedAt: null,
      revokedAt: null,
      certificate: null,
    };
  const content = canonicalReport(contentOf(r, accessionNumber, signerOf, new Date(r.signedAt!)));
  const result = await verifier.verify(content, r.sigSignature!);
  if (result.status !== 'tampered' && sha256Hex(content) !== r.contentHash)
    return {
      ...base,
      ...result,
      status: 'tampered' as const,
      reason: 'The stored content hash does not match the report.',
    };
  // The certificate must be the signer's own: a valid signature by another account's key is not theirs.
  if (
    (result.status === 'valid' || result.status === 'revoked-since') &&
    verifier === demoSigner &&
    (await demoSigner.ownerOf(result.certificate!.serial)) !== signerOf.userId
  )
    return {
      ...base,
      ...result,
      status: 'untrusted' as const,
      reason: 'The certificate belongs to another user.',
    };
  return { ...base, ...result };
}
