/**
 * Reports and their signatures: the SQL. A main report is saved as a draft any number of times
 * (each save bumps `version`), then finalised exactly once, in one transaction with its
 * signature row; the database trigger makes the final row and the signature immutable from
 * then on. Addenda are inserted already final, with their signature, in one transaction.
 */
import { randomBytes } from 'node:crypto';
import type { Db } from '../db/client.js';
import type { Json } from './canonical.js';
import { MEASUREMENTS_KEY, measurementsOf, templateFieldsOf } from './delivery/measurements.js';

export interface ReportRow {
  id: string;
  requestId: string;
  studyUid: string;
  parentReportId: string | null;
  authorId: string;
  authorName: string;
  templateId: string;
  language: 'vi' | 'en';
  fields: Record<string, Json>;
  freeText: string;
  status: 'draft' | 'final';
  version: number;
  contentHash: string | null;
  signedAt: Date | null;
  createdAt: Date;
  updatedAt: Date;
  sigSignerKind: string | null;
  sigSignerId: string | null;
  sigSignerName: string | null;
  sigSignature: string | null;
  sigCertificateSerial: string | null;
  sigCertStatus: 'good' | null;
  sigCertCheckedAt: Date | null;
  sigSignedAt: Date | null;
}

const SELECT = `SELECT p.id, p.request_id AS "requestId", p.study_uid AS "studyUid",
    p.parent_report_id AS "parentReportId", p.author_id AS "authorId", u.display_name AS "authorName",
    p.template_id AS "templateId", p.language, p.fields, p.free_text AS "freeText", p.status, p.version,
    p.content_hash AS "contentHash", p.signed_at AS "signedAt", p.created_at AS "createdAt",
    p.updated_at AS "updatedAt", s.signer_kind AS "sigSignerKind", s.signer_id AS "sigSignerId",
    s.signer_name AS "sigSignerName", s.signature AS "sigSignature",
    s.certificate_serial AS "sigCertificateSerial", s.cert_status AS "sigCertStatus",
    s.cert_checked_at AS "sigCertCheckedAt", s.signed_at AS "sigSignedAt"
  FROM reports p JOIN users u ON u.id = p.author_id
  LEFT JOIN report_signatures s ON s.report_id = p.id`;

const iso = (d: Date | null) => (d ? new Date(d).toISOString() : null);

export function toApi(r: ReportRow) {
  return {
    id: r.id,
    requestId: r.requestId,
    studyUid: r.studyUid,
    parentReportId: r.parentReportId,
    author: { id: r.authorId, name: r.authorName },
    templateId: r.templateId,
    language: r.language,
    // Measurements live in `fields` under a reserved key (so they are signed) but are shown apart.
    fields: templateFieldsOf(r.fields),
    measurements: measurementsOf(r.fields),
    freeText: r.freeText,
    status: r.status,
    version: r.version,
    contentHash: r.contentHash,
    signedAt: iso(r.signedAt),
    createdAt: iso(r.createdAt)!,
    updatedAt: iso(r.updatedAt)!,
    signature: r.sigSignature
      ? {
          signerKind: r.sigSignerKind!,
          signer: { id: r.sigSignerId!, name: r.sigSignerName! },
          certificateSerial: r.sigCertificateSerial!,
          certStatus: r.sigCertStatus!,
          certCheckedAt: iso(r.sigCertCheckedAt)!,
          signedAt: iso(r.sigSignedAt)!,
          signature: r.sigSignature,
        }
      : null,
  };
}

export interface SignatureRecord {
  signerKind: string;
  signerId: string;
  signerName: string;
  signature: string;
  certificateSerial: string;
  certificateChain: string[];
  certStatus: 'good';
  certCheckedAt: Date;
  signedAt: Date;
}

export type DraftSaveOutcome = { ok: true; report: ReportRow } | { ok: false; why: 'signed' | 'stale' };

export class ReportRepo {
  constructor(private readonly db: Db) {}

  /** The code printed with a report's QR code (migration 043), or null before its first delivery. */
  async verifyCode(id: string): Promise<string | null> {
    const [r] = await this.db.query<{ code: string }>(
      'SELECT code FROM report_verify_codes WHERE report_id = $1',
      [id],
    );
    return r?.code ?? null;
  }

  /** Sets the code once (random, 128 bits) and returns it; later calls return the same code. */
  async ensureVerifyCode(id: string): Promise<string> {
    await this.db.query(
      'INSERT INTO report_verify_codes (report_id, code) VALUES ($1, $2) ON CONFLICT (report_id) DO NOTHING',
      [id, randomBytes(16).toString('base64url')],
    );
    const code = await this.verifyCode(id);
    if (!code) throw new Error(`report ${id} has no verification code`);
    return code;
  }

  async byId(id: string): Promise<ReportRow | null> {
    return (await this.db.query<ReportRow>(`${SELECT} WHERE p.id = $1`, [id]))[0] ?? null;
  }

  async mainFor(requestId: string): Promise<ReportRow | null> {
    return (
      (
        await this.db.query<ReportRow>(`${SELECT} WHERE p.request_id = $1 AND p.parent_report_id IS NULL`, [
          requestId,
        ])
      )[0] ?? null
    );
  }

  async addenda(parentId: string): Promise<ReportRow[]> {
    return this.db.query<ReportRow>(`${SELECT} WHERE p.parent_report_id = $1 ORDER BY p.signed_at, p.id`, [
      parentId,
    ]);
  }

  /**
   * Creates or updates the request's draft. A final report is never touched (the upsert's WHERE
   * excludes it, so the immutability trigger is not even reached); a stale `expectedVersion`
   * (another tab saved in between) is refused rather than silently overwritten.
   */
  async saveDraft(d: {
    requestId: string;
    studyUid: string;
    authorId: string;
    templateId: string;
    language: 'vi' | 'en';
    fields: Record<string, Json>;
    freeText: string;
    expectedVersion: number | null;
  }): Promise<DraftSaveOutcome> {
    return this.db.tx(async (q) => {
      const rows = await q.query<{ id: string }>(
        `INSERT INTO reports (request_id, study_uid, author_id, template_id, language, fields, free_text)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (request_id) WHERE parent_report_id IS NULL DO UPDATE
            SET author_id = EXCLUDED.author_id, template_id = EXCLUDED.template_id, language = EXCLUDED.language,
                -- Inserted measurements are not part of the autosaved body: keep them.
                fields = CASE WHEN reports.fields ? '${MEASUREMENTS_KEY}'
                              THEN EXCLUDED.fields || jsonb_build_object('${MEASUREMENTS_KEY}', reports.fields -> '${MEASUREMENTS_KEY}')
                              ELSE EXCLUDED.fields END,
                free_text = EXCLUDED.free_text, version = reports.version + 1,
                updated_at = now()
          WHERE reports.status = 'draft' AND ($8::int IS NULL OR reports.version = $8::int)
         RETURNING id`,
        [
          d.requestId,
          d.studyUid,
          d.authorId,
          d.templateId,
          d.language,
          JSON.stringify(d.fields),
          d.freeText,
          d.expectedVersion,
        ],
      );
      if (rows.length === 0) {
        const [cur] = await q.query<{ status: string }>(
          'SELECT status FROM reports WHERE request_id = $1 AND parent_report_id IS NULL',
          [d.requestId],
        );
        return { ok: false, why: cur?.status === 'final' ? 'signed' : 'stale' };
      }
      await q.query(
        `UPDATE read_requests SET status = 'reported', updated_at = now() WHERE id = $1 AND status = 'claimed'`,
        [d.requestId],
      );
      const [r] = await q.query<ReportRow>(`${SELECT} WHERE p.id = $1`, [rows[0]!.id]);
      return { ok: true, report: r! };
    });
  }

  private async insertSignature(q: { query: Db['query'] }, reportId: string, s: SignatureRecord) {
    await q.query(
      `INSERT INTO report_signatures (report_id, signer_id, signer_kind, signer_name, signature, certificate_serial,
                                      certificate_chain, cert_status, cert_checked_at, signed_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
      [
        reportId,
        s.signerId,
        s.signerKind,
        s.signerName,
        s.signature,
        s.certificateSerial,
        JSON.stringify(s.certificateChain),
        s.certStatus,
        s.certCheckedAt,
        s.signedAt,
      ],
    );
  }

  /**
   * Finalises the draft exactly as it was signed: the UPDATE only matches the version whose
   * content was signed, so an autosave landing between reading and signing makes this fail
   * (the caller discards the signature) instead of finalising content nobody signed.
   */
  async finalise(
    reportId: string,
    signedVersion: number,
    contentHash: string,
    contentSignedAt: Date,
    sig: SignatureRecord,
  ): Promise<boolean> {
    return this.db.tx(async (q) => {
      const rows = await q.query<{ request_id: string }>(
        `UPDATE reports SET status = 'final', content_hash = $3, signed_at = $4, updated_at = now()
          WHERE id = $1 AND status = 'draft' AND version = $2 RETURNING request_id`,
        [reportId, signedVersion, contentHash, contentSignedAt],
      );
      if (rows.length === 0) return false;
      await this.insertSignature(q, reportId, sig);
      await q.query(
        `UPDATE read_requests SET status = 'signed', signed_at = $2, updated_at = now() WHERE id = $1`,
        [rows[0]!.request_id, contentSignedAt],
      );
      return true;
    });
  }

  async insertSignedAddendum(a: {
    id: string;
    parent: ReportRow;
    authorId: string;
    language: 'vi' | 'en';
    freeText: string;
    contentHash: string;
    contentSignedAt: Date;
    sig: SignatureRecord;
  }): Promise<void> {
    await this.db.tx(async (q) => {
      await q.query(
        `INSERT INTO reports (id, request_id, study_uid, parent_report_id, author_id, template_id, language, fields,
                              free_text, status, content_hash, signed_at)
         VALUES ($1, $2, $3, $4, $5, 'addendum', $6, '{}', $7, 'final', $8, $9)`,
        [
          a.id,
          a.parent.requestId,
          a.parent.studyUid,
          a.parent.id,
          a.authorId,
          a.language,
          a.freeText,
          a.contentHash,
          a.contentSignedAt,
        ],
      );
      await this.insertSignature(q, a.id, a.sig);
    });
  }
}
