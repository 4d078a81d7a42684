/**
 * Delivery routes on a report: its delivery record (which copies exist, their hashes), the
 * signed PDF itself, and the insertion of viewer measurements into the draft.
 */
import { createHash } from 'node:crypto';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { AppError } from '../../plugins/errors.js';
import { type ReportRepo, toApi } from '../reports-repo.js';
import { isReaderSide } from '../request-access.js';
import type { RequestRepo } from '../requests-repo.js';
import { AddMeasurementsBody, Report, ReportIdParams } from '../schemas.js';
import { visibleReport } from './access.js';
import type { ReportDeliveryService } from './deliver.js';
import type { DeliveryRepo, DeliveryRow } from './delivery-repo.js';
import {
  MAX_MEASUREMENTS_PER_REPORT,
  MEASUREMENTS_KEY,
  measurementsOf,
  measurementText,
  problemOf,
  toMeasurement,
} from './measurements.js';

export interface DeliveryRoutesOptions {
  reports: ReportRepo;
  requests: RequestRepo;
  deliveries: DeliveryRepo;
  service: ReportDeliveryService;
}

const Nullable = <T extends ReturnType<typeof Type.String>>(t: T) => Type.Union([t, Type.Null()]);
const Iso = Type.String({ format: 'date-time' });
export const DeliveryStatus = Type.Object({
  reportId: Type.String(),
  pdf: Type.Union([
    Type.Object({ sha256: Type.String(), sizeBytes: Type.Integer(), createdAt: Iso, url: Type.String() }),
    Type.Null(),
  ]),
  dicom: Type.Union([
    Type.Object({
      studyUid: Type.String(),
      seriesUid: Type.String(),
      sopInstanceUid: Type.String(),
      sha256: Type.String(),
      storedAt: Iso,
    }),
    Type.Null(),
  ]),
  sr: Type.Union([
    Type.Object({ seriesUid: Type.String(), sopInstanceUid: Type.String(), sha256: Type.String() }),
    Type.Null(),
  ]),
  signatureSha256: Nullable(Type.String()),
});

export function deliveryStatus(reportId: string, d: DeliveryRow | null) {
  return {
    reportId,
    pdf: d
      ? {
          sha256: d.pdfSha256,
          sizeBytes: Number(d.pdfSizeBytes),
          createdAt: new Date(d.pdfCreatedAt).toISOString(),
          url: `/api/reports/${reportId}/pdf`,
        }
      : null,
    dicom:
      d?.dicomSha256 && d.dicomSopInstanceUid && d.dicomSeriesUid && d.dicomStudyUid && d.dicomStoredAt
        ? {
            studyUid: d.dicomStudyUid,
            seriesUid: d.dicomSeriesUid,
            sopInstanceUid: d.dicomSopInstanceUid,
            sha256: d.dicomSha256,
            storedAt: new Date(d.dicomStoredAt).toISOString(),
          }
        : null,
    sr:
      d?.srSha256 && d.srSeriesUid && d.srSopInstanceUid
        ? { seriesUid: d.srSeriesUid, sopInstanceUid: d.srSopInstanceUid, sha256: d.srSha256 }
        : null,
    signatureSha256: d?.signatureSha256 ?? null,
  };
}

export default async function deliveryRoutes(fastify: FastifyInstance, opts: DeliveryRoutesOptions) {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  const { reports, requests, deliveries, service } = opts;

  app.get(
    '/api/reports/:reportId/delivery',
    {
      schema: {
        tags: ['reading'],
        summary:
          'The delivered copies of a signed report: PDF in S3 and DICOM copy in the study, with hashes.',
        params: ReportIdParams,
        response: { 200: DeliveryStatus },
      },
    },
    async (request) => {
      const { r } = await visibleReport(
        reports,
        requests,
        request.principal!,
        request.params.reportId,
        request,
      );
      return deliveryStatus(r.id, await deliveries.byReport(r.id));
    },
  );

  app.get(
    '/api/reports/:reportId/pdf',
    {
      schema: {
        tags: ['reading'],
        summary:
          'The PDF of a signed report or addendum: exactly the bytes recorded at signing (409 if the stored copy was altered).',
        params: ReportIdParams,
        produces: ['application/pdf'],
        response: { 200: Type.Unsafe<Buffer>({ type: 'string', format: 'binary' }) },
      },
    },
    async (request, reply) => {
      const { r } = await visibleReport(
        reports,
        requests,
        request.principal!,
        request.params.reportId,
        request,
      );
      const d = await deliveries.byReport(r.id);
      if (!d) throw new AppError('RADLINK_NOT_FOUND', 'The PDF of this report has not been made yet.');
      const bytes = await service.pdfObject(d);
      if (!bytes) throw new AppError('RADLINK_NOT_FOUND', 'The PDF of this report is missing from storage.');
      // Never hand out a PDF that is not the one bound to the signature: it could show other text.
      if (createHash('sha256').update(bytes).digest('hex') !== d.pdfSha256) {
        request.log.error({ reportId: r.id }, 'stored report PDF does not match its delivery record');
        throw new AppError(
          'RADLINK_CONFLICT',
          'The stored PDF no longer matches the signed report, so it is not served; verify the report.',
        );
      }
      return reply
        .type('application/pdf')
        .header('content-disposition', `inline; filename="report-${r.id}.pdf"`)
        .header('cache-control', 'private, no-store')
        .header('x-content-sha256', d.pdfSha256)
        .send(bytes);
    },
  );

  app.post(
    '/api/reports/:reportId/measurements',
    {
      schema: {
        tags: ['reading'],
        summary:
          'Insert viewer measurements into my draft: stored as structured items (signed with the report) and appended to its text.',
        params: ReportIdParams,
        body: AddMeasurementsBody,
        response: { 200: Report },
      },
    },
    async (request) => {
      const p = request.principal!;
      const { r, req } = await visibleReport(reports, requests, p, request.params.reportId, request);
      if (r.status === 'final') throw new AppError('RADLINK_REPORT_SIGNED');
      if (r.parentReportId) throw new AppError('RADLINK_CONFLICT', 'Addenda take no measurements.');
      if (
        !isReaderSide(p, req) ||
        req.claimedById !== p.userId ||
        !['claimed', 'reported'].includes(req.status)
      )
        throw new AppError('RADLINK_CONFLICT', 'Only the radiologist holding the request adds measurements.');
      const { items, version } = request.body;
      if (version !== undefined && version !== r.version)
        throw new AppError('RADLINK_CONFLICT', 'The draft was saved elsewhere since you read it; reload it.');
      items.forEach((m, i) => {
        const problem = problemOf(m, i);
        if (problem) throw new AppError('RADLINK_VALIDATION', problem);
      });
      const existing = measurementsOf(r.fields);
      if (existing.length + items.length > MAX_MEASUREMENTS_PER_REPORT)
        throw new AppError(
          'RADLINK_VALIDATION',
          `A report holds at most ${MAX_MEASUREMENTS_PER_REPORT} measurements.`,
        );
      // Every measured image must be an image of this report's study.
      const sops = [...new Set(items.map((m) => m.sopInstanceUid))];
      const rows = await app.db.query<{
        sop_instance_uid: string;
        series_uid: string;
        series_number: number | null;
        instance_number: number | null;
      }>(
        `SELECT i.sop_instance_uid, i.series_uid, s.series_number, i.instance_number
           FROM instances i JOIN series s ON s.series_uid = i.series_uid
          WHERE i.study_uid = $1 AND i.sop_instance_uid = ANY($2)`,
        [r.studyUid, sops],
      );
      const now = new Date();
      const added = items.map((m, i) => {
        const at = rows.find((x) => x.sop_instance_uid === m.sopInstanceUid && x.series_uid === m.seriesUid);
        if (!at)
          throw new AppError('RADLINK_VALIDATION', `items[${i}]: that image is not in this report's study.`);
        return toMeasurement(
          m,
          existing.length + i + 1,
          { seriesNumber: at.series_number, instanceNumber: at.instance_number },
          p.userId,
          now,
        );
      });
      const text = added.map((m) => measurementText(m, r.language)).join('\n');
      const freeText = r.freeText ? `${r.freeText}\n${text}` : text;
      if (freeText.length > 20000)
        throw new AppError('RADLINK_VALIDATION', 'The report text would exceed 20000 characters.');
      // Conditional on the version read above: a concurrent autosave makes this a 409, not a lost update.
      const updated = await app.db.query<{ id: string }>(
        `UPDATE reports
            SET fields = fields || jsonb_build_object('${MEASUREMENTS_KEY}', $3::jsonb), free_text = $4,
                version = version + 1, updated_at = now()
          WHERE id = $1 AND status = 'draft' AND version = $2 RETURNING id`,
        [r.id, r.version, JSON.stringify([...existing, ...added]), freeText],
      );
      if (updated.length === 0)
        throw new AppError('RADLINK_CONFLICT', 'The draft changed while adding measurements; reload it.');
      return toApi((await reports.byId(r.id))!);
    },
  );
}
