/**
 * The delivery record of a signed report: which PDF (S3 key, SHA-256) and which DICOM copy
 * (UIDs, SHA-256 of the file as stored in Orthanc) were made from which signature. Written twice
 * (PDF, then DICOM) and never changed afterwards (the migration's trigger refuses it).
 */
import type { Queryable } from '../../db/client.js';

export interface DeliveryRow {
  reportId: string;
  contentHash: string;
  signatureSha256: string;
  pdfKey: string;
  pdfSha256: string;
  pdfSizeBytes: number;
  pdfCreatedAt: Date;
  dicomStudyUid: string | null;
  dicomSeriesUid: string | null;
  dicomSopInstanceUid: string | null;
  dicomSha256: string | null;
  dicomStoredAt: Date | null;
  srSeriesUid: string | null;
  srSopInstanceUid: string | null;
  srSha256: string | null;
}

const SELECT = `SELECT report_id AS "reportId", content_hash AS "contentHash", signature_sha256 AS "signatureSha256",
    pdf_key AS "pdfKey", pdf_sha256 AS "pdfSha256", pdf_size_bytes::int AS "pdfSizeBytes",
    pdf_created_at AS "pdfCreatedAt", dicom_study_uid AS "dicomStudyUid", dicom_series_uid AS "dicomSeriesUid",
    dicom_sop_instance_uid AS "dicomSopInstanceUid", dicom_sha256 AS "dicomSha256",
    dicom_stored_at AS "dicomStoredAt", sr_series_uid AS "srSeriesUid", sr_sop_instance_uid AS "srSopInstanceUid",
    sr_sha256 AS "srSha256"
  FROM report_deliveries`;

/** The flat S3 key of a report's PDF: the report's UUID only, no patient data in object names. */
export const pdfKeyOf = (reportId: string) => `report-pdf/${reportId}.pdf`;

export class DeliveryRepo {
  constructor(private readonly db: Queryable) {}

  async byReport(reportId: string): Promise<DeliveryRow | null> {
    return (await this.db.query<DeliveryRow>(`${SELECT} WHERE report_id = $1`, [reportId]))[0] ?? null;
  }

  /** Records the PDF; a row already there wins (a concurrent or earlier run recorded it first). */
  async recordPdf(d: {
    reportId: string;
    contentHash: string;
    signatureSha256: string;
    pdfKey: string;
    pdfSha256: string;
    pdfSizeBytes: number;
  }): Promise<DeliveryRow> {
    await this.db.query(
      `INSERT INTO report_deliveries (report_id, content_hash, signature_sha256, pdf_key, pdf_sha256, pdf_size_bytes)
       VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (report_id) DO NOTHING`,
      [d.reportId, d.contentHash, d.signatureSha256, d.pdfKey, d.pdfSha256, d.pdfSizeBytes],
    );
    return (await this.byReport(d.reportId))!;
  }

  /** Records the DICOM copies (Encapsulated PDF and SR) once; a second call is a no-op. */
  async recordDicom(d: {
    reportId: string;
    studyUid: string;
    seriesUid: string;
    sopInstanceUid: string;
    sha256: string;
    sr: { seriesUid: string; sopInstanceUid: string; sha256: string };
  }): Promise<DeliveryRow> {
    await this.db.query(
      `UPDATE report_deliveries
          SET dicom_study_uid = $2, dicom_series_uid = $3, dicom_sop_instance_uid = $4, dicom_sha256 = $5,
              dicom_stored_at = now(), sr_series_uid = $6, sr_sop_instance_uid = $7, sr_sha256 = $8
        WHERE report_id = $1 AND dicom_sha256 IS NULL`,
      [
        d.reportId,
        d.studyUid,
        d.seriesUid,
        d.sopInstanceUid,
        d.sha256,
        d.sr.seriesUid,
        d.sr.sopInstanceUid,
        d.sr.sha256,
      ],
    );
    return (await this.byReport(d.reportId))!;
  }

  /** Signed reports whose delivery is not complete (re-enqueued at start-up). */
  async incomplete(limit: number): Promise<string[]> {
    const rows = await this.db.query<{ id: string }>(
      `SELECT r.id FROM reports r LEFT JOIN report_deliveries d ON d.report_id = r.id
        WHERE r.status = 'final' AND (d.report_id IS NULL OR d.dicom_sha256 IS NULL)
        ORDER BY r.signed_at LIMIT $1`,
      [limit],
    );
    return rows.map((r) => r.id);
  }
}
