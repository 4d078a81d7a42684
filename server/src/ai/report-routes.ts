/**
 * `POST /api/reports/:reportId/ai-findings`: the radiologist holding a request inserts chosen
 * AI findings of its study into the draft report, as one line of text each (in the report's
 * language) appended to the template's "findings" field (or the free text when the template has
 * none), saved through the reports repository like any draft save — so the version moves on and
 * a stale autosave from another tab is refused rather than losing the insertion. The response
 * also lists the inserted items structurally.
 */
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { AppError } from '../plugins/errors.js';
import type { Json } from '../reading/canonical.js';
import { ReportRepo, toApi } from '../reading/reports-repo.js';
import { maySee } from '../reading/request-access.js';
import { RequestRepo } from '../reading/requests-repo.js';
import { Report } from '../reading/schemas.js';
import { templateById } from '../reading/templates.js';
import { FindingId } from './schemas.js';

interface FindingRow {
  id: string;
  label: string;
  finding_index: number;
  longest_diameter_mm: number;
  volume_ml: number;
  mean_intensity: number;
  confidence: number;
  centroid_lps: number[];
  referenced_sop_instance_uid: string;
  model_name: string;
  model_version: string;
  model_label: string;
  modality: string | null;
}

const fmt = (x: number, digits: number, lang: 'vi' | 'en') => {
  const s = Number(x).toFixed(digits);
  return lang === 'vi' ? s.replace('.', ',') : s;
};

/** One finding as a line of report text, e.g. "[AI] Focal liver lesion 1: 23 mm, 5.2 ml, 38 HU, confidence 0.93 (RadLink liver lesion CT 1.0.0 — AI generated — not for clinical use)". */
export function findingText(f: FindingRow, lang: 'vi' | 'en'): string {
  const unit = (f.modality ?? '').toUpperCase() === 'CT' ? ' HU' : '';
  const parts =
    lang === 'vi'
      ? [
          `đường kính lớn nhất ${fmt(f.longest_diameter_mm, 0, lang)} mm`,
          `thể tích ${fmt(f.volume_ml, 1, lang)} ml`,
          `${unit ? 'tỷ trọng' : 'cường độ'} trung bình ${fmt(f.mean_intensity, 0, lang)}${unit}`,
          `độ tin cậy ${fmt(f.confidence, 2, lang)}`,
        ]
      : [
          `longest diameter ${fmt(f.longest_diameter_mm, 0, lang)} mm`,
          `volume ${fmt(f.volume_ml, 1, lang)} ml`,
          `mean ${unit ? 'attenuation' : 'intensity'} ${fmt(f.mean_intensity, 0, lang)}${unit}`,
          `confidence ${fmt(f.confidence, 2, lang)}`,
        ];
  return `[AI] ${f.label} ${f.finding_index}: ${parts.join(', ')} (${f.model_name} ${f.model_version} — ${f.model_label})`;
}

export default async function aiReportRoutes(fastify: FastifyInstance) {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  const reports = new ReportRepo(app.db);
  const requests = new RequestRepo(app.db);

  app.post(
    '/api/reports/:reportId/ai-findings',
    {
      schema: {
        tags: ['ai', 'reading'],
        summary: 'Insert AI findings of the study into my draft report (text lines, in the report language).',
        params: Type.Object({ reportId: Type.String({ format: 'uuid' }) }),
        body: Type.Object(
          { findingIds: Type.Array(FindingId, { minItems: 1, maxItems: 50, uniqueItems: true }) },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object({
            report: Report,
            inserted: Type.Array(Type.Object({ findingId: Type.String(), text: Type.String() })),
          }),
        },
      },
    },
    async (request) => {
      const p = request.principal!;
      const r = await reports.byId(request.params.reportId);
      const req = r ? await requests.byId(r.requestId) : null;
      if (!r || !req || !maySee(p, req) || r.parentReportId)
        throw new AppError('RADLINK_NOT_FOUND', 'No such report.');
      request.auditStudyUid = r.studyUid;
      if (r.status === 'final') throw new AppError('RADLINK_REPORT_SIGNED');
      if (req.claimedById !== p.userId || !['claimed', 'reported'].includes(req.status))
        throw new AppError('RADLINK_CONFLICT', 'Claim the request before writing its report.');
      const rows = await app.db.query<FindingRow & { study_uid: string }>(
        `SELECT f.id, f.label, f.finding_index, f.longest_diameter_mm, f.volume_ml, f.mean_intensity, f.confidence,
                f.centroid_lps, f.referenced_sop_instance_uid, m.name AS model_name, r.model_version,
                m.manifest->>'label' AS model_label, se.modality, r.study_uid
           FROM ai_findings f JOIN ai_runs r ON r.id = f.run_id
           JOIN ai_models m ON m.model_id = r.model_id AND m.version = r.model_version
           LEFT JOIN series se ON se.series_uid = r.series_uid
          WHERE f.id = ANY ($1::uuid[]) AND r.status = 'completed' AND NOT r.shadow AND r.withdrawn_at IS NULL`,
        [request.body.findingIds],
      );
      const byId = new Map(rows.filter((x) => x.study_uid === r.studyUid).map((x) => [x.id, x]));
      const missing = request.body.findingIds.filter((id) => !byId.has(id));
      if (missing.length)
        throw new AppError('RADLINK_NOT_FOUND', `No AI finding ${missing[0]} in this report's study.`);
      const inserted = request.body.findingIds.map((id) => ({
        findingId: id,
        text: findingText(byId.get(id)!, r.language),
      }));
      const lines = inserted.map((i) => i.text).join('\n');
      const t = templateById(r.templateId);
      const fields: Record<string, Json> = { ...(r.fields as Record<string, Json>) };
      let freeText = r.freeText;
      if (t?.fields.some((f) => f.key === 'findings')) {
        const cur = typeof fields.findings === 'string' ? fields.findings : '';
        fields.findings = cur ? `${cur}\n${lines}` : lines;
      } else freeText = freeText ? `${freeText}\n${lines}` : lines;
      const saved = await reports.saveDraft({
        requestId: r.requestId,
        studyUid: r.studyUid,
        authorId: p.userId,
        templateId: r.templateId,
        language: r.language,
        fields,
        freeText,
        expectedVersion: r.version,
      });
      if (!saved.ok)
        throw saved.why === 'signed'
          ? new AppError('RADLINK_REPORT_SIGNED')
          : new AppError('RADLINK_CONFLICT', 'The draft changed while inserting; reload it and try again.');
      request.auditDetail = { findings: inserted.length };
      return { report: toApi(saved.report), inserted };
    },
  );
}
