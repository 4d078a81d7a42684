/**
 * What the patient page shows for the one study of a share link: the facility, the study and
 * its series (UIDs, so the viewer can load them over DICOMweb with the share session), and every
 * signed report and addendum as text with its signer, signing time and a fresh verification.
 * Drafts never leave here: only `status = 'final'` rows are read.
 */
import type { Queryable } from '../db/client.js';
import type { DeliveryRepo } from '../reading/delivery/delivery-repo.js';
import { verifyStoredReport } from '../reading/reports.js';
import type { ReportRepo, ReportRow } from '../reading/reports-repo.js';
import type { DemoSigner } from '../reading/signing/demo-signer.js';
import type { Signer, VerifyStatus } from '../reading/signing/signer.js';
import { templateById } from '../reading/templates.js';

export interface StudyView {
  studyUid: string;
  facility: { id: string | null; name: string | null };
  study: {
    date: string | null;
    description: string | null;
    modalities: string[];
    numSeries: number;
    numInstances: number;
  };
  series: {
    seriesUid: string;
    modality: string | null;
    seriesNumber: number | null;
    description: string | null;
    numInstances: number;
  }[];
}

export async function studyView(db: Queryable, studyUid: string): Promise<StudyView | null> {
  const [s] = await db.query<{
    facility_id: string | null;
    facility_name: string | null;
    study_date: string | null;
    study_description: string | null;
    modalities: string[];
    num_series: number;
    num_instances: number;
  }>(
    `SELECT s.facility_id, f.name AS facility_name, s.study_date, s.study_description, s.modalities,
            s.num_series, s.num_instances
       FROM studies s LEFT JOIN facilities f ON f.id = s.facility_id WHERE s.study_uid = $1`,
    [studyUid],
  );
  if (!s) return null;
  const series = await db.query<StudyView['series'][number]>(
    `SELECT series_uid AS "seriesUid", modality, series_number AS "seriesNumber",
            series_description AS description, num_instances AS "numInstances"
       FROM series WHERE study_uid = $1 ORDER BY series_number NULLS LAST, series_uid`,
    [studyUid],
  );
  return {
    studyUid,
    facility: { id: s.facility_id, name: s.facility_name },
    study: {
      date: s.study_date,
      description: s.study_description,
      modalities: s.modalities ?? [],
      numSeries: s.num_series,
      numInstances: s.num_instances,
    },
    series,
  };
}

export interface PatientReport {
  id: string;
  parentReportId: string | null;
  title: string;
  language: 'vi' | 'en';
  sections: { label: string; text: string }[];
  freeText: string;
  signer: { name: string };
  signedAt: string;
  verification: { status: VerifyStatus; reason: string; demo: boolean; checkedAt: string };
  pdfAvailable: boolean;
}

/** Template fields in template order with their labels; choice values shown by their label. */
export function sectionsOf(r: Pick<ReportRow, 'templateId' | 'language' | 'fields'>): {
  title: string;
  sections: { label: string; text: string }[];
} {
  const t = templateById(r.templateId);
  const addendum = r.language === 'vi' ? 'Phụ lục bổ sung kết quả' : 'Report addendum';
  if (!t) return { title: r.templateId === 'addendum' ? addendum : r.templateId, sections: [] };
  const sections: { label: string; text: string }[] = [];
  for (const f of t.fields) {
    const value = r.fields[f.key];
    if (typeof value !== 'string' || value === '') continue;
    const option = f.options?.find((o) => o.value === value);
    sections.push({ label: f.label[r.language], text: option ? option.label[r.language] : value });
  }
  return { title: t.title[r.language], sections };
}

export interface ReportVerifier {
  signers: Map<string, Signer>;
  demoSigner: DemoSigner;
}

export class PatientReports {
  constructor(
    private readonly db: Queryable,
    private readonly reports: ReportRepo,
    private readonly verifier: ReportVerifier,
    private readonly deliveries: DeliveryRepo,
  ) {}

  /** Signed reports and addenda of the study, oldest first, each verified now. */
  async forStudy(studyUid: string): Promise<PatientReport[]> {
    const ids = await this.db.query<{ id: string; accession_number: string }>(
      `SELECT p.id, q.accession_number FROM reports p JOIN read_requests q ON q.id = p.request_id
        WHERE p.study_uid = $1 AND p.status = 'final' ORDER BY p.signed_at, p.id`,
      [studyUid],
    );
    const out: PatientReport[] = [];
    for (const { id, accession_number } of ids) {
      const r = await this.reports.byId(id);
      if (r?.status !== 'final' || !r.signedAt || !r.sigSignature) continue;
      const v = await verifyStoredReport(this.verifier, r, accession_number);
      const { title, sections } = sectionsOf(r);
      out.push({
        id: r.id,
        parentReportId: r.parentReportId,
        title,
        language: r.language,
        sections,
        freeText: r.freeText,
        signer: { name: r.sigSignerName ?? r.authorName },
        signedAt: new Date(r.signedAt).toISOString(),
        verification: {
          status: v.status,
          reason: v.reason,
          demo: v.demo,
          checkedAt: new Date().toISOString(),
        },
        pdfAvailable: (await this.deliveries.byReport(r.id)) !== null,
      });
    }
    return out;
  }

  /** The report, if it is a signed report of this study (anything else is not the patient's). */
  async signedOfStudy(studyUid: string, reportId: string): Promise<ReportRow | null> {
    const r = await this.reports.byId(reportId);
    return r && r.studyUid === studyUid && r.status === 'final' ? r : null;
  }
}
