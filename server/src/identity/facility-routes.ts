/** Facilities (with their tier) and the AE titles of their modalities. */
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { FacilityTier } from '../../../contracts/roles.js';
import type { Db } from '../db/client.js';
import { AppError } from '../plugins/errors.js';
import type { OrthancClient } from '../plugins/orthanc.js';
import type { AeTitle, FacilityRepo } from './facilities.js';
import { syncModalities } from './modality-sync.js';
import { FacilityId, Ok, TierSchema } from './schemas.js';

const AeTitleSchema = Type.Object(
  {
    aeTitle: Type.String({
      pattern: '^[A-Za-z0-9_.-]{1,16}$',
      description: 'Calling AE title of the modality',
    }),
    host: Type.Union([Type.String({ maxLength: 255 }), Type.Null()]),
    port: Type.Union([Type.Integer({ minimum: 1, maximum: 65535 }), Type.Null()]),
  },
  { additionalProperties: false },
);
const Facility = Type.Object({
  id: Type.String(),
  name: Type.String(),
  tier: TierSchema,
  parentId: Type.Union([Type.String(), Type.Null()]),
  aeTitles: Type.Array(AeTitleSchema),
});

export default async function facilityRoutes(
  app: FastifyInstance,
  opts: { db: Db; facilities: FacilityRepo; orthanc: OrthancClient },
) {
  const { facilities } = opts;

  app.get(
    '/api/facilities',
    {
      schema: {
        tags: ['admin'],
        summary: 'All facilities (to address read requests).',
        response: { 200: Type.Array(Facility) },
      },
    },
    async (request) => {
      const all = await facilities.list();
      // AE titles are operational detail for admins only.
      const p = request.principal!;
      return all.map((f) =>
        p.role === 'system_admin' || (p.role === 'facility_admin' && p.facilityId === f.id)
          ? f
          : { ...f, aeTitles: [] },
      );
    },
  );

  app.post(
    '/api/facilities',
    {
      schema: {
        tags: ['admin'],
        summary: 'Create a facility.',
        body: Type.Object(
          {
            id: FacilityId,
            name: Type.String({ minLength: 1, maxLength: 200 }),
            tier: TierSchema,
            parentId: Type.Union([FacilityId, Type.Null()]),
          },
          { additionalProperties: false },
        ),
        response: { 201: Facility },
      },
    },
    async (request, reply) => {
      const body = request.body as { id: string; name: string; tier: FacilityTier; parentId: string | null };
      if (await facilities.byId(body.id))
        throw new AppError('RADLINK_CONFLICT', 'A facility with that id exists.');
      if (body.parentId && !(await facilities.byId(body.parentId)))
        throw new AppError('RADLINK_VALIDATION', 'parentId names no facility.');
      await facilities.create(body);
      return reply.code(201).send((await facilities.byId(body.id))!);
    },
  );

  app.patch(
    '/api/facilities/:facilityId',
    {
      schema: {
        tags: ['admin'],
        summary: 'Rename a facility or change its tier or parent.',
        params: Type.Object({ facilityId: FacilityId }),
        body: Type.Object(
          {
            name: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
            tier: Type.Optional(TierSchema),
            parentId: Type.Optional(Type.Union([FacilityId, Type.Null()])),
          },
          { additionalProperties: false, minProperties: 1 },
        ),
        response: { 200: Facility },
      },
    },
    async (request) => {
      const { facilityId } = request.params as { facilityId: string };
      const patch = request.body as { name?: string; tier?: FacilityTier; parentId?: string | null };
      if (patch.parentId === facilityId)
        throw new AppError('RADLINK_VALIDATION', 'A facility cannot be its own parent.');
      if (!(await facilities.update(facilityId, patch)))
        throw new AppError('RADLINK_NOT_FOUND', 'No such facility.');
      return (await facilities.byId(facilityId))!;
    },
  );

  app.put(
    '/api/facilities/:facilityId/ae-titles',
    {
      schema: {
        tags: ['admin'],
        summary:
          "Set the AE titles this facility's modalities send from; pushed to the DICOM listener at once.",
        params: Type.Object({ facilityId: FacilityId }),
        body: Type.Array(AeTitleSchema, { maxItems: 200 }),
        response: { 200: Ok },
      },
    },
    async (request) => {
      const p = request.principal!;
      const { facilityId } = request.params as { facilityId: string };
      if (p.role !== 'system_admin' && p.facilityId !== facilityId)
        throw new AppError('RADLINK_NOT_FOUND', 'No such facility.');
      if (!(await facilities.byId(facilityId))) throw new AppError('RADLINK_NOT_FOUND', 'No such facility.');
      const titles = request.body as AeTitle[];
      const upper = titles.map((t) => t.aeTitle);
      if (new Set(upper).size !== upper.length) throw new AppError('RADLINK_VALIDATION', 'AE titles repeat.');
      const owners = (await facilities.allAeTitles()).filter(
        (t) => upper.includes(t.aeTitle) && t.facilityId !== facilityId,
      );
      if (owners.length > 0) {
        throw new AppError(
          'RADLINK_CONFLICT',
          `AE title ${owners[0]!.aeTitle} already belongs to another facility.`,
        );
      }
      await opts.db.tx((tx) => facilities.setAeTitles(facilityId, titles, tx));
      await syncModalities(opts.orthanc, facilities);
      return { ok: true as const };
    },
  );
}
