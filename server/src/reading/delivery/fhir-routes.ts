/**
 * FHIR R4 read endpoints for hospital systems (`application/fhir+json`): a read request as a
 * ServiceRequest, a report as a DiagnosticReport, and a DiagnosticReport search by study UID or
 * patient identifier. Access is the reading API's: the two facilities of the request only (the
 * requester's side sees signed reports only); anything else answers 404.
 */
import { createHash } from 'node:crypto';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { canAccessStudy } from '../../access/study-access.js';
import { baseUrl } from '../../dicomweb/base-url.js';
import type { Principal } from '../../identity/principal.js';
import { AppError } from '../../plugins/errors.js';
import { maySeeReport } from '../reports.js';
import type { ReportRepo, ReportRow } from '../reports-repo.js';
import { visibleSql } from '../request-access.js';
import { visibleRequest } from '../requests.js';
import type { RequestRepo, RequestRow } from '../requests-repo.js';
import { ReportIdParams, RequestIdParams, StudyUid } from '../schemas.js';
import { templateById } from '../templates.js';
import { visibleReport } from './access.js';
import type { ReportDeliveryService } from './deliver.js';
import type { DeliveryRepo } from './delivery-repo.js';
import {
  diagnosticReport,
  FHIR_JSON,
  type FhirPatientData,
  type FhirRequestData,
  type FhirStudyData,
  searchBundle,
  serviceRequest,
} from './fhir.js';
import { measurementsOf } from './measurements.js';

export interface FhirRoutesOptions {
  reports: ReportRepo;
  requests: RequestRepo;
  deliveries: DeliveryRepo;
  service: ReportDeliveryService;
}

/**
 * The FHIR resources are documented by the R4 specification, not re-declared here; the
 * response schema still names the resource type so nothing else can be sent.
 */
const FhirResource = (resourceType: string) =>
  Type.Object(
    { resourceType: Type.Literal(resourceType), id: Type.Optional(Type.String()) },
    {
      additionalProperties: true,
    },
  );

interface StudyRow {
  patient_id: string | null;
  issuer_of_patient_id: string | null;
  other_patient_ids: { id: string; issuer: string | null; type: string | null }[] | null;
  patient_name: string | null;
  patient_sex: string | null;
  patient_birth_date: string | null;
  study_date: string | null;
  study_time: string | null;
  study_description: string | null;
  modalities: string[];
}

export default async function fhirRoutes(fastify: FastifyInstance, opts: FhirRoutesOptions) {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  const { reports, requests, deliveries, service } = opts;

  async function studyData(uid: string): Promise<{ patient: FhirPatientData; study: FhirStudyData }> {
    const [s] = await app.db.query<StudyRow>(
      `SELECT patient_id, issuer_of_patient_id, other_patient_ids, patient_name, patient_sex, patient_birth_date,
              study_date, study_time, study_description, modalities FROM studies WHERE study_uid = $1`,
      [uid],
    );
    if (!s) throw new AppError('RADLINK_NOT_FOUND', 'The study of this record is not indexed.');
    return {
      patient: {
        name: s.patient_name,
        id: s.patient_id,
        issuer: s.issuer_of_patient_id,
        otherIds: s.other_patient_ids ?? [],
        sex: s.patient_sex,
        birthDate: s.patient_birth_date,
      },
      study: {
        uid,
        date: s.study_date,
        time: s.study_time,
        description: s.study_description,
        modalities: s.modalities,
      },
    };
  }

  async function requestData(req: RequestRow): Promise<FhirRequestData> {
    const fac = await app.db.query<{ id: string; name: string }>(
      'SELECT id, name FROM facilities WHERE id = ANY($1)',
      [[req.requestingFacilityId, req.targetFacilityId]],
    );
    const f = (id: string) => ({ id, name: fac.find((x) => x.id === id)?.name ?? id });
    return {
      id: req.id,
      status: req.status,
      priority: req.priority,
      accessionNumber: req.accessionNumber,
      clinicalInfo: req.clinicalInfo,
      question: req.question,
      createdAt: new Date(req.createdAt).toISOString(),
      requester: { id: req.requesterId, name: req.requesterName },
      requestingFacility: f(req.requestingFacilityId),
      targetFacility: f(req.targetFacilityId),
    };
  }

  async function reportResource(request: FastifyRequest, p: Principal, r: ReportRow, req: RequestRow) {
    const [{ patient, study }, reqData, addenda, d] = await Promise.all([
      studyData(r.studyUid),
      requestData(req),
      r.parentReportId ? Promise.resolve([]) : reports.addenda(r.id),
      deliveries.byReport(r.id),
    ]);
    // An unreachable S3 only costs the Attachment.hash; the resource is still served.
    const pdfBytes = d ? await service.pdfObject(d).catch(() => null) : null;
    const t = templateById(r.templateId);
    const impression = r.fields.impression;
    const visibleAddenda = addenda.filter((a) => maySeeReport(p, req, a));
    return diagnosticReport(
      {
        id: r.id,
        parentReportId: r.parentReportId,
        status: r.status,
        hasAddenda: visibleAddenda.length > 0,
        language: r.language,
        title: t ? t.title[r.language] : r.templateId,
        conclusion:
          r.parentReportId !== null
            ? r.freeText || null
            : typeof impression === 'string' && impression
              ? impression
              : null,
        signer: r.sigSignerId ? { id: r.sigSignerId, name: r.sigSignerName! } : null,
        signedAt: r.signedAt ? new Date(r.signedAt).toISOString() : null,
        updatedAt: new Date(r.updatedAt).toISOString(),
        measurements: measurementsOf(r.fields),
        pdf: d
          ? {
              url: `${baseUrl(request)}/api/reports/${r.id}/pdf`,
              sizeBytes: Number(d.pdfSizeBytes),
              sha1Base64: pdfBytes ? createHash('sha1').update(pdfBytes).digest('base64') : null,
            }
          : null,
        addenda: visibleAddenda.map((a) => ({ id: a.id })),
      },
      reqData,
      patient,
      study,
    );
  }

  app.get(
    '/api/fhir/ServiceRequest/:requestId',
    {
      schema: {
        tags: ['fhir'],
        summary: 'A read request as a FHIR R4 ServiceRequest.',
        params: RequestIdParams,
        produces: [FHIR_JSON],
        response: { 200: FhirResource('ServiceRequest') },
      },
    },
    async (request, reply) => {
      const p = request.principal!;
      const req = await visibleRequest(requests, p, request.params.requestId, request);
      // The resource carries the Patient (name, IDs, birth date): a party that no longer sees the
      // study (the target after the request was cancelled and its grant revoked) keeps the request
      // record (GET /api/requests/:id) but not the patient's identity.
      if (!(await canAccessStudy(app.db, p, req.studyUid)))
        throw new AppError('RADLINK_NOT_FOUND', 'No such read request.');
      const { patient, study } = await studyData(req.studyUid);
      return reply.type(FHIR_JSON).send(serviceRequest(await requestData(req), patient, study));
    },
  );

  app.get(
    '/api/fhir/DiagnosticReport/:reportId',
    {
      schema: {
        tags: ['fhir'],
        summary: 'A report (or addendum) as a FHIR R4 DiagnosticReport; presentedForm is the signed PDF.',
        params: ReportIdParams,
        produces: [FHIR_JSON],
        response: { 200: FhirResource('DiagnosticReport') },
      },
    },
    async (request, reply) => {
      const p = request.principal!;
      const { r, req } = await visibleReport(reports, requests, p, request.params.reportId, request);
      return reply.type(FHIR_JSON).send(await reportResource(request, p, r, req));
    },
  );

  app.get(
    '/api/fhir/DiagnosticReport',
    {
      schema: {
        tags: ['fhir'],
        summary:
          'Search DiagnosticReports (searchset Bundle) by study (Study Instance UID) or patient (patient ID, any issuer).',
        querystring: Type.Object(
          {
            study: Type.Optional(StudyUid),
            patient: Type.Optional(
              Type.String({ minLength: 1, maxLength: 64, pattern: '^[^\\x00-\\x1f]+$' }),
            ),
            _count: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: 50 })),
          },
          { additionalProperties: false },
        ),
        produces: [FHIR_JSON],
        response: { 200: FhirResource('Bundle') },
      },
    },
    async (request, reply) => {
      const p = request.principal!;
      const { study, patient, _count } = request.query;
      if (!study && !patient)
        throw new AppError('RADLINK_VALIDATION', 'Search by "study" or "patient" (one of them is required).');
      if (study) request.auditStudyUid = study;
      const vis = visibleSql(p, 1);
      const params: unknown[] = [...vis.params];
      const where = [vis.sql, 'rp.parent_report_id IS NULL'];
      if (study) {
        params.push(study);
        where.push(`r.study_uid = $${params.length}`);
      }
      if (patient) {
        params.push(patient);
        where.push(
          `(s.patient_id = $${params.length} OR s.other_patient_ids @> jsonb_build_array(jsonb_build_object('id', $${params.length}::text)))`,
        );
      }
      params.push(_count ?? 50);
      const rows = await app.db.query<{ id: string }>(
        `SELECT rp.id FROM reports rp JOIN read_requests r ON r.id = rp.request_id JOIN studies s ON s.study_uid = rp.study_uid
          WHERE ${where.join(' AND ')} ORDER BY rp.created_at DESC LIMIT $${params.length}`,
        params,
      );
      const resources = [];
      for (const { id } of rows) {
        const r = (await reports.byId(id))!;
        const req = (await requests.byId(r.requestId))!;
        if (!maySeeReport(p, req, r)) continue;
        resources.push(await reportResource(request, p, r, req));
      }
      const self = `${baseUrl(request)}${request.url}`;
      return reply.type(FHIR_JSON).send(searchBundle(resources, self, baseUrl(request)));
    },
  );
}
