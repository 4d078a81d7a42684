/**
 * Delivery of one signed report or addendum, in two idempotent steps:
 *  1. the PDF (pdf.ts) is rendered from the signed record, put in S3 under a flat key and
 *     recorded with its SHA-256 and the hash of the signature it was made from;
 *  2. the Encapsulated PDF (encapsulated-pdf.ts) wrapping exactly those recorded PDF bytes and
 *     the Basic Text SR (basic-text-sr.ts) are stored in Orthanc, indexed like any instance, and
 *     recorded with the files' SHA-256.
 * A step already recorded is never redone with new bytes: a re-run reads the recorded PDF back
 * from S3 (refusing it if it no longer matches its hash) and rebuilds identical DICOM files
 * (deterministic UIDs and dates), which Orthanc answers as already stored. Only a record that
 * verifies gets copies. Checking the copies later is verify-copies.ts.
 *
 * It runs in the gateway (the database writer) from the delivery queue (queue.ts), so a
 * transient S3 or Orthanc outage at signing time is retried instead of losing the copies.
 * Failures carry no patient data: reasons name the step and the report id only.
 */
import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import type { FastifyBaseLogger } from 'fastify';
import type { Db } from '../../db/client.js';
import type { Indexer } from '../../index/indexer.js';
import { AppError } from '../../plugins/errors.js';
import type { OrthancClient } from '../../plugins/orthanc.js';
import type { ObjectStore } from '../../plugins/s3.js';
import { canonicalReport, sha256Hex } from '../canonical.js';
import { contentOf } from '../reports.js';
import type { ReportRepo, ReportRow } from '../reports-repo.js';
import type { RequestRepo, RequestRow } from '../requests-repo.js';
import { templateById } from '../templates.js';
import { buildBasicTextSr, type SrSection } from './basic-text-sr.js';
import { type DeliveryRepo, type DeliveryRow, pdfKeyOf } from './delivery-repo.js';
import {
  DerivedUidConflict,
  type IndexedStudyAttributes,
  storeDerivedInstance,
  studyAttributesForDerived,
} from './derived-store.js';
import { buildEncapsulatedPdf } from './encapsulated-pdf.js';
import { type PdfInput, renderReportPdf } from './pdf.js';
import { reportPdfInstanceUid, reportSeriesUid, reportSrInstanceUid, reportSrSeriesUid } from './uids.js';

/** A delivery failure that retrying cannot fix (the queue stops retrying it). */
export class DeliveryRefused extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DeliveryRefused';
  }
}

export interface VerifyOutcome {
  status: string;
  reason: string;
  certificate: { serial: string; subject: string; issuer: string } | null;
}

export interface DeliveryDeps {
  db: Db;
  s3: ObjectStore;
  orthanc: OrthancClient;
  indexer: Indexer;
  reports: ReportRepo;
  requests: RequestRepo;
  deliveries: DeliveryRepo;
  /** Verification of the signed record (reports.ts verifyStoredReport). */
  verify(r: ReportRow, accessionNumber: string): Promise<VerifyOutcome>;
  /** External base URL for the QR code and the FHIR presentedForm. */
  publicBaseUrl: string;
  log: FastifyBaseLogger;
}

interface StudyRow extends IndexedStudyAttributes {
  facility_id: string | null;
  orthanc_id: string | null;
  modalities: string[];
}

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

export async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/**
 * The signed report's sections in template order (choice values by their label), then its free
 * text as a 'comment' section: what the PDF and the SR show.
 */
export function reportSections(r: ReportRow): SrSection[] {
  const lang = r.language;
  const t = templateById(r.templateId);
  const out: SrSection[] = [];
  for (const f of t?.fields ?? []) {
    const v = r.fields[f.key];
    if (typeof v !== 'string' || v === '') continue;
    const text = f.kind === 'choice' ? (f.options?.find((o) => o.value === v)?.label[lang] ?? v) : v;
    out.push({ key: f.key, label: f.label[lang], text });
  }
  if (r.freeText) out.push({ key: 'comment', label: lang === 'vi' ? 'Ghi chú' : 'Notes', text: r.freeText });
  return out;
}

/** The QR code's target: the viewer's public verification page (no account needed; the code is the key). */
export const verifyUrlOf = (base: string, reportId: string, code: string) =>
  `${base}/#/verify/${reportId}?code=${code}`;

export class ReportDeliveryService {
  constructor(private readonly d: DeliveryDeps) {}

  private async load(reportId: string): Promise<{ r: ReportRow; req: RequestRow; study: StudyRow }> {
    const r = await this.d.reports.byId(reportId);
    if (!r) throw new DeliveryRefused(`report ${reportId} does not exist`);
    if (r.status !== 'final' || !r.sigSignature || !r.signedAt || !r.contentHash)
      throw new DeliveryRefused(`report ${reportId} is not signed`);
    const req = await this.d.requests.byId(r.requestId);
    if (!req) throw new DeliveryRefused(`report ${reportId} has no request`);
    const [study] = await this.d.db.query<StudyRow>(
      `SELECT facility_id, orthanc_id, patient_id, issuer_of_patient_id, patient_name, patient_sex, patient_birth_date,
              study_date, study_time, accession_number, study_id, study_description, referring_physician_name, modalities
         FROM studies WHERE study_uid = $1`,
      [r.studyUid],
    );
    if (!study) throw new DeliveryRefused(`the study of report ${reportId} is not indexed`);
    return { r, req, study };
  }

  /** Runs both steps; returns the complete delivery record. */
  async deliver(reportId: string): Promise<DeliveryRow> {
    const { r, req, study } = await this.load(reportId);
    let row = await this.d.deliveries.byReport(reportId);
    let pdf: Buffer;
    if (row) {
      pdf = await this.recordedPdf(row);
    } else {
      pdf = Buffer.from(await this.renderPdf(r, req, study));
      const key = pdfKeyOf(r.id);
      await this.d.s3.client.putObject(this.d.s3.bucket, key, pdf, pdf.length, {
        'Content-Type': 'application/pdf',
      });
      row = await this.d.deliveries.recordPdf({
        reportId: r.id,
        contentHash: r.contentHash!,
        signatureSha256: sha256Hex(r.sigSignature!),
        pdfKey: key,
        pdfSha256: sha256(pdf),
        pdfSizeBytes: pdf.length,
      });
      // Another run recorded first: its PDF is the one bound to the record.
      if (row.pdfSha256 !== sha256(pdf)) pdf = await this.recordedPdf(row);
    }
    if (!row.dicomSha256) row = await this.storeDicom(r, study, row, pdf);
    return row;
  }

  private async recordedPdf(row: DeliveryRow): Promise<Buffer> {
    const bytes = await this.pdfObject(row);
    if (!bytes) throw new Error(`the PDF of report ${row.reportId} is missing in S3`);
    if (sha256(bytes) !== row.pdfSha256)
      throw new DeliveryRefused(`the PDF of report ${row.reportId} in S3 does not match its record`);
    return bytes;
  }

  /** The PDF object's bytes, or null when S3 has no such object; S3 unreachable is a 503. */
  async pdfObject(row: DeliveryRow): Promise<Buffer | null> {
    try {
      return await readAll(await this.d.s3.client.getObject(this.d.s3.bucket, row.pdfKey));
    } catch (e) {
      if ((e as { code?: string }).code === 'NoSuchKey') return null;
      throw new AppError('RADLINK_UPSTREAM_UNAVAILABLE', 'The object store (S3) is unavailable.');
    }
  }

  async renderPdf(r: ReportRow, req: RequestRow, study: StudyRow): Promise<Uint8Array> {
    const [facilities, verification] = await Promise.all([
      this.d.db.query<{ id: string; name: string }>('SELECT id, name FROM facilities WHERE id = ANY($1)', [
        [req.requestingFacilityId, req.targetFacilityId],
      ]),
      this.d.verify(r, req.accessionNumber),
    ]);
    // Copies are made only of a record that verifies: a row altered before delivery ran must not
    // get a PDF whose recorded hash would then vouch for it.
    if (verification.status !== 'valid' && verification.status !== 'revoked-since')
      throw new DeliveryRefused(
        `report ${r.id} does not verify (${verification.status}); no copies are made`,
      );
    const facilityName = (id: string) => facilities.find((f) => f.id === id)?.name ?? id;
    const lang = r.language;
    const t = templateById(r.templateId);
    // The free text is printed under its own heading (pdf.ts), not as a section.
    const sections = reportSections(r).filter((s) => s.key !== 'comment');
    // valid and revoked-since always name the certificate that signed.
    const cert = verification.certificate!;
    const signer = { userId: r.sigSignerId!, name: r.sigSignerName! };
    const input: PdfInput = {
      reportId: r.id,
      language: lang,
      parentReportId: r.parentReportId,
      readingFacility: facilityName(req.targetFacilityId),
      requestingFacility: facilityName(req.requestingFacilityId),
      patient: {
        name: study.patient_name,
        id: study.patient_id,
        issuer: study.issuer_of_patient_id,
        sex: study.patient_sex,
        birthDate: study.patient_birth_date,
      },
      study: {
        uid: r.studyUid,
        date: study.study_date,
        description: study.study_description,
        modalities: study.modalities,
        accessionNumber: req.accessionNumber,
      },
      request: { priority: req.priority, clinicalInfo: req.clinicalInfo, question: req.question },
      title: t ? t.title[lang] : r.templateId,
      sections,
      freeText: r.freeText,
      signer: { name: signer.name },
      certificate: cert,
      signedAt: new Date(r.signedAt!).toISOString(),
      contentHash: r.contentHash!,
      verification: {
        status: verification.status,
        reason: verification.reason,
        checkedAt: new Date().toISOString(),
      },
      verifyUrl: verifyUrlOf(this.d.publicBaseUrl, r.id, await this.d.reports.ensureVerifyCode(r.id)),
      demo: r.sigSignerKind === 'demo-ca',
      canonicalContent: canonicalReport(contentOf(r, req.accessionNumber, signer, new Date(r.signedAt!))),
      signature: r.sigSignature!,
    };
    return renderReportPdf(input);
  }

  /** Patient and study attributes as Orthanc files the study (falls back to the index). */
  private patientStudyTags(studyUid: string, study: StudyRow): Promise<Record<string, string>> {
    return studyAttributesForDerived(this.d.orthanc, studyUid, study);
  }

  /**
   * Stores one derived object in Orthanc and indexes it (derived-store.ts). Another object under
   * our UID is refused for good.
   */
  private async storeInOrthanc(file: Buffer, facilityId: string | null, what: string): Promise<string> {
    try {
      return await storeDerivedInstance(this.d, file, facilityId, what);
    } catch (e) {
      if (e instanceof DerivedUidConflict) throw new DeliveryRefused(e.message);
      throw e;
    }
  }

  /** The Encapsulated PDF (wrapping the recorded PDF) and the Basic Text SR, stored and recorded together. */
  private async storeDicom(
    r: ReportRow,
    study: StudyRow,
    row: DeliveryRow,
    pdf: Buffer,
  ): Promise<DeliveryRow> {
    const mainId = r.parentReportId ?? r.id;
    // The main report is instance 1 of each series; its addenda follow in signing order.
    let instanceNumber = 1;
    let predecessor: { seriesUid: string; sopInstanceUid: string } | null = null;
    if (r.parentReportId) {
      const [addenda, main] = await Promise.all([
        this.d.reports.addenda(r.parentReportId),
        this.d.reports.byId(r.parentReportId),
      ]);
      instanceNumber =
        2 +
        Math.max(
          0,
          addenda.findIndex((a) => a.id === r.id),
        );
      if (main)
        predecessor = {
          seriesUid: reportSrSeriesUid(mainId),
          sopInstanceUid: reportSrInstanceUid(main.id, main.version),
        };
    }
    const vi = r.language === 'vi';
    const patientStudy = await this.patientStudyTags(r.studyUid, study);
    const signedAt = new Date(r.signedAt!);
    const pdfUids = {
      seriesUid: reportSeriesUid(mainId),
      sopInstanceUid: reportPdfInstanceUid(r.id, r.version),
    };
    const srUids = {
      seriesUid: reportSrSeriesUid(mainId),
      sopInstanceUid: reportSrInstanceUid(r.id, r.version),
    };
    const encapsulated = buildEncapsulatedPdf({
      pdf,
      studyUid: r.studyUid,
      ...pdfUids,
      instanceNumber,
      patientStudy,
      documentTitle: r.parentReportId
        ? vi
          ? 'Phụ lục kết quả chẩn đoán hình ảnh'
          : 'Imaging report addendum'
        : vi
          ? 'Kết quả chẩn đoán hình ảnh'
          : 'Imaging report',
      seriesDescription: vi ? 'Kết quả đọc (PDF đã ký)' : 'Signed report (PDF)',
      signedAt,
    });
    const [organisation] = await this.d.db.query<{ name: string }>(
      'SELECT f.name FROM read_requests q JOIN facilities f ON f.id = q.target_facility_id WHERE q.id = $1',
      [r.requestId],
    );
    const sr = buildBasicTextSr({
      studyUid: r.studyUid,
      ...srUids,
      instanceNumber,
      patientStudy,
      seriesDescription: vi ? 'Kết quả đọc (SR)' : 'Signed report (SR)',
      signedAt,
      signerName: r.sigSignerName!,
      organisation: organisation?.name ?? '',
      sections: reportSections(r),
      predecessor,
    });
    const pdfSha = await this.storeInOrthanc(encapsulated, study.facility_id, `DICOM copy of report ${r.id}`);
    const srSha = await this.storeInOrthanc(sr, study.facility_id, `SR copy of report ${r.id}`);
    return this.d.deliveries.recordDicom({
      reportId: row.reportId,
      studyUid: r.studyUid,
      ...pdfUids,
      sha256: pdfSha,
      sr: { ...srUids, sha256: srSha },
    });
  }
}
