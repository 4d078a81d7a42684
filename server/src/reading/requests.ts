/**
 * Read requests: a referring doctor asks another facility to read a study of their own
 * facility; the target's radiologists claim, release and reassign it. Creating a request
 * shares the study (and the patient's priors) with the target through a grant; cancelling it
 * before anyone claimed it revokes that grant.
 */
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { canAccessStudy } from '../access/study-access.js';
import type { FacilityRepo } from '../identity/facilities.js';
import type { Principal } from '../identity/principal.js';
import { Uuid } from '../identity/schemas.js';
import type { UserRepo } from '../identity/users.js';
import { AppError } from '../plugins/errors.js';
import type { ReadingMetrics } from './metrics.js';
import { isReaderSide, isRequesterSide, maySee, NO_REQUEST, visibleSql } from './request-access.js';
import { DuplicateOpenRequest, type RequestRepo, type RequestRow, toApi } from './requests-repo.js';
import { CreateRequestBody, ReadRequest, RequestIdParams, RequestStatus } from './schemas.js';
import { tatMinutes } from './turnaround.js';

export interface RequestRoutesOptions {
  requests: RequestRepo;
  users: UserRepo;
  facilities: FacilityRepo;
  metrics: ReadingMetrics;
}

/** Loads a request the caller may see (404 otherwise) and records its study for the audit trail. */
export async function visibleRequest(
  requests: RequestRepo,
  p: Principal,
  id: string,
  audit: { auditStudyUid: string | null },
): Promise<RequestRow> {
  const r = await requests.byId(id);
  if (!r || !maySee(p, r)) throw NO_REQUEST();
  audit.auditStudyUid = r.studyUid;
  return r;
}

/**
 * Only the radiologist holding a claim, or an admin of the reading side, may release or hand
 * it on. Returns whether the caller acts as an admin (who may act on someone else's claim).
 */
function holderOrAdmin(
  p: Principal,
  r: Parameters<typeof isReaderSide>[1] & { claimedById: string | null },
  verb: string,
): boolean {
  const admin = p.role === 'system_admin' || (p.role === 'facility_admin' && isReaderSide(p, r));
  if (!admin && r.claimedById !== p.userId) {
    throw new AppError(
      'RADLINK_FORBIDDEN',
      `Only the radiologist holding the claim or an admin can ${verb} it.`,
    );
  }
  return admin;
}

export default async function requestRoutes(fastify: FastifyInstance, opts: RequestRoutesOptions) {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  const { requests, users, facilities, metrics } = opts;

  app.post(
    '/api/requests',
    {
      schema: {
        tags: ['reading'],
        summary: 'Ask another facility to read a study of my facility.',
        body: CreateRequestBody,
        response: { 201: ReadRequest },
      },
    },
    async (request, reply) => {
      const p = request.principal!;
      const b = request.body;
      request.auditStudyUid = b.studyUid;
      if (!p.facilityId) throw new AppError('RADLINK_FORBIDDEN', 'Only facility staff request reads.');
      // The study must be indexed, visible to the caller AND owned by their facility: a grant
      // received from elsewhere does not allow re-sharing someone else's patient.
      const [study] = await app.db.query<{ facility_id: string | null; accession_number: string | null }>(
        'SELECT facility_id, accession_number FROM studies WHERE study_uid = $1',
        [b.studyUid],
      );
      if (!study || !(await canAccessStudy(app.db, p, b.studyUid)))
        throw new AppError('RADLINK_NOT_FOUND', 'No such study.');
      if (study.facility_id !== p.facilityId)
        throw new AppError(
          'RADLINK_FORBIDDEN',
          'Only the facility that owns a study can request a read of it.',
        );
      if (b.targetFacilityId === p.facilityId)
        throw new AppError('RADLINK_VALIDATION', 'targetFacilityId must be another facility.');
      if (!(await facilities.byId(b.targetFacilityId)))
        throw new AppError('RADLINK_VALIDATION', 'targetFacilityId names no facility.');
      if (b.specialtyPool && !(await app.specialtyPools.exists(b.targetFacilityId, b.specialtyPool)))
        throw new AppError('RADLINK_VALIDATION', 'specialtyPool names no pool of the target facility.');
      try {
        const created = await requests.create({
          studyUid: b.studyUid,
          requestingFacilityId: p.facilityId,
          requesterId: p.userId,
          targetFacilityId: b.targetFacilityId,
          specialtyPool: b.specialtyPool ?? null,
          priority: b.priority,
          clinicalInfo: b.clinicalInfo.normalize('NFC').trim(),
          question: b.question.normalize('NFC').trim(),
          accessionNumber: b.accessionNumber ?? (study.accession_number || null),
          tatMinutes: tatMinutes(app.config, b.priority),
        });
        metrics.requestsCreated.inc({ priority: b.priority });
        await app.readingEvents.publish('request.created', created);
        return reply.code(201).send(toApi(created));
      } catch (e) {
        if (e instanceof DuplicateOpenRequest)
          throw new AppError(
            'RADLINK_CONFLICT',
            'This study already has an open read request to that facility.',
          );
        throw e;
      }
    },
  );

  app.get(
    '/api/requests',
    {
      schema: {
        tags: ['reading'],
        summary: 'Read requests my facility sent or received, newest first.',
        querystring: Type.Object(
          {
            status: Type.Optional(RequestStatus),
            limit: Type.Integer({ minimum: 1, maximum: 200, default: 50 }),
            offset: Type.Integer({ minimum: 0, maximum: 100000, default: 0 }),
          },
          { additionalProperties: false },
        ),
        response: { 200: Type.Array(ReadRequest) },
      },
    },
    async (request) => {
      const q = request.query;
      const rows = await requests.list(
        visibleSql(request.principal!, 1),
        q.status ?? null,
        q.limit,
        q.offset,
      );
      return rows.map(toApi);
    },
  );

  app.get(
    '/api/requests/:requestId',
    {
      schema: {
        tags: ['reading'],
        summary: 'One read request.',
        params: RequestIdParams,
        response: { 200: ReadRequest },
      },
    },
    async (request) =>
      toApi(await visibleRequest(requests, request.principal!, request.params.requestId, request)),
  );

  app.post(
    '/api/requests/:requestId/cancel',
    {
      schema: {
        tags: ['reading'],
        summary: 'Cancel a request nobody has claimed yet; the target loses access to the study.',
        params: RequestIdParams,
        body: Type.Object(
          { reason: Type.String({ minLength: 1, maxLength: 500 }) },
          { additionalProperties: false },
        ),
        response: { 200: ReadRequest },
      },
    },
    async (request) => {
      const p = request.principal!;
      const r = await visibleRequest(requests, p, request.params.requestId, request);
      const mayCancel =
        p.role === 'system_admin' ||
        (isRequesterSide(p, r) && (r.requesterId === p.userId || p.role === 'facility_admin'));
      if (!mayCancel)
        throw new AppError('RADLINK_FORBIDDEN', 'Only the requester or their facility admin can cancel.');
      if (!(await requests.cancel(r.id, request.body.reason.normalize('NFC'))))
        throw new AppError(
          'RADLINK_CONFLICT',
          `A ${r.status === 'requested' ? 'claimed' : r.status} request cannot be cancelled.`,
        );
      const cancelled = (await requests.byId(r.id))!;
      await app.readingEvents.publish('request.status-changed', cancelled, { previousStatus: r.status });
      return toApi(cancelled);
    },
  );

  app.post(
    '/api/requests/:requestId/claim',
    {
      schema: {
        tags: ['reading'],
        summary: 'Claim a request: a lock the other radiologists see. Exactly one concurrent claim wins.',
        params: RequestIdParams,
        response: { 200: ReadRequest },
      },
    },
    async (request) => {
      const p = request.principal!;
      const r = await visibleRequest(requests, p, request.params.requestId, request);
      if (p.role !== 'radiologist' || !isReaderSide(p, r))
        throw new AppError(
          'RADLINK_FORBIDDEN',
          "Only radiologists of the request's target facility can claim it.",
        );
      if (!(await requests.claim(r.id, p.userId, r.targetFacilityId))) {
        metrics.claimConflicts.inc();
        const now = (await requests.byId(r.id))!;
        throw new AppError(
          'RADLINK_CONFLICT',
          now.claimedById
            ? `Already claimed by ${now.claimedById === p.userId ? 'you' : now.claimedByName}.`
            : `A ${now.status} request cannot be claimed.`,
        );
      }
      const claimed = (await requests.byId(r.id))!;
      await app.readingEvents.publish('request.claimed', claimed);
      return toApi(claimed);
    },
  );

  app.post(
    '/api/requests/:requestId/release',
    {
      schema: {
        tags: ['reading'],
        summary: 'Give a claimed request back to the worklist (its holder, or a target facility admin).',
        params: RequestIdParams,
        response: { 200: ReadRequest },
      },
    },
    async (request) => {
      const p = request.principal!;
      const r = await visibleRequest(requests, p, request.params.requestId, request);
      const admin = holderOrAdmin(p, r, 'release');
      if (!(await requests.release(r.id, admin ? null : p.userId)))
        throw new AppError('RADLINK_CONFLICT', `A ${r.status} request cannot be released.`);
      const released = (await requests.byId(r.id))!;
      await app.readingEvents.publish('request.released', released, { previousStatus: r.status });
      return toApi(released);
    },
  );

  app.post(
    '/api/requests/:requestId/reassign',
    {
      schema: {
        tags: ['reading'],
        summary: 'Hand a request to another radiologist of the target facility.',
        params: RequestIdParams,
        body: Type.Object({ userId: Uuid }, { additionalProperties: false }),
        response: { 200: ReadRequest },
      },
    },
    async (request) => {
      const p = request.principal!;
      const r = await visibleRequest(requests, p, request.params.requestId, request);
      const admin = holderOrAdmin(p, r, 'reassign');
      const to = await users.byId(request.body.userId);
      if (!to || to.disabled || to.role !== 'radiologist' || to.facilityId !== r.targetFacilityId)
        throw new AppError(
          'RADLINK_VALIDATION',
          'userId must be an active radiologist of the target facility.',
        );
      if (!(await requests.reassign(r.id, to.id, admin ? null : p.userId)))
        throw new AppError('RADLINK_CONFLICT', `A ${r.status} request cannot be reassigned.`);
      const reassigned = (await requests.byId(r.id))!;
      await app.readingEvents.publish('request.claimed', reassigned, { previousStatus: r.status });
      return toApi(reassigned);
    },
  );
}
