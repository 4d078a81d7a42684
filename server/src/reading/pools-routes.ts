/**
 * The specialty-pool admin API: a reading facility's admin (or a system admin) defines pools and
 * their radiologists; every staff member may list them (a requester picks one when asking for a
 * read). Membership is limited to active radiologists of the pool's facility.
 */
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { FacilityRepo } from '../identity/facilities.js';
import type { Principal } from '../identity/principal.js';
import { FacilityId, Uuid } from '../identity/schemas.js';
import type { UserRepo } from '../identity/users.js';
import { AppError } from '../plugins/errors.js';
import { POOL_PATTERN, type PoolRepo } from './pools.js';

const PoolName = Type.String({ pattern: POOL_PATTERN, description: 'Pool key, e.g. "neuro"' });
const FacilityParams = Type.Object({ facilityId: FacilityId });
const PoolParams = Type.Object({ facilityId: FacilityId, pool: PoolName });
const MemberParams = Type.Object({ facilityId: FacilityId, pool: PoolName, userId: Uuid });

export const PoolSchema = Type.Object({
  facilityId: Type.String(),
  pool: Type.String(),
  name: Type.String(),
  members: Type.Array(Type.Object({ id: Type.String(), name: Type.String() })),
  createdAt: Type.String({ format: 'date-time' }),
});

function mayAdminister(p: Principal, facilityId: string): void {
  if (p.role === 'system_admin' || (p.role === 'facility_admin' && p.facilityId === facilityId)) return;
  throw new AppError('RADLINK_FORBIDDEN', "Only the facility's admin can change its specialty pools.");
}

export default async function poolRoutes(
  fastify: FastifyInstance,
  opts: { pools: PoolRepo; users: UserRepo; facilities: FacilityRepo },
) {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  const { pools, users, facilities } = opts;

  async function facilityOr404(id: string) {
    if (!(await facilities.byId(id))) throw new AppError('RADLINK_NOT_FOUND', 'No such facility.');
  }
  async function poolOr404(facilityId: string, pool: string) {
    const found = await pools.get(facilityId, pool);
    if (!found) throw new AppError('RADLINK_NOT_FOUND', 'No such specialty pool.');
    return found;
  }

  app.get(
    '/api/facilities/:facilityId/pools',
    {
      schema: {
        tags: ['reading'],
        summary: "A facility's specialty pools and their radiologists.",
        params: FacilityParams,
        response: { 200: Type.Array(PoolSchema) },
      },
    },
    async (request) => {
      await facilityOr404(request.params.facilityId);
      return pools.list(request.params.facilityId);
    },
  );

  app.put(
    '/api/facilities/:facilityId/pools/:pool',
    {
      schema: {
        tags: ['reading'],
        summary: 'Create or rename a specialty pool.',
        params: PoolParams,
        body: Type.Object(
          { name: Type.String({ minLength: 1, maxLength: 200 }) },
          { additionalProperties: false },
        ),
        response: { 200: PoolSchema },
      },
    },
    async (request) => {
      const { facilityId, pool } = request.params;
      mayAdminister(request.principal!, facilityId);
      await facilityOr404(facilityId);
      // The worklist's `pool=mine` filter means "my pools".
      if (pool === 'mine') throw new AppError('RADLINK_VALIDATION', 'A pool cannot be called "mine".');
      await pools.upsert(facilityId, pool, request.body.name.normalize('NFC').trim());
      return poolOr404(facilityId, pool);
    },
  );

  app.delete(
    '/api/facilities/:facilityId/pools/:pool',
    {
      schema: {
        tags: ['reading'],
        summary: "Delete a pool (requests that named it stay on the facility's worklist).",
        params: PoolParams,
        response: { 204: Type.Null() },
      },
    },
    async (request, reply) => {
      const { facilityId, pool } = request.params;
      mayAdminister(request.principal!, facilityId);
      if (!(await pools.remove(facilityId, pool)))
        throw new AppError('RADLINK_NOT_FOUND', 'No such specialty pool.');
      return reply.code(204).send(null);
    },
  );

  app.put(
    '/api/facilities/:facilityId/pools/:pool/members/:userId',
    {
      schema: {
        tags: ['reading'],
        summary: 'Add a radiologist of the facility to a pool.',
        params: MemberParams,
        response: { 200: PoolSchema },
      },
    },
    async (request) => {
      const { facilityId, pool, userId } = request.params;
      mayAdminister(request.principal!, facilityId);
      await poolOr404(facilityId, pool);
      const u = await users.byId(userId);
      if (!u || u.disabled || u.role !== 'radiologist' || u.facilityId !== facilityId)
        throw new AppError('RADLINK_VALIDATION', 'userId must be an active radiologist of this facility.');
      await pools.addMember(facilityId, pool, userId);
      return poolOr404(facilityId, pool);
    },
  );

  app.delete(
    '/api/facilities/:facilityId/pools/:pool/members/:userId',
    {
      schema: {
        tags: ['reading'],
        summary: 'Remove a radiologist from a pool.',
        params: MemberParams,
        response: { 204: Type.Null() },
      },
    },
    async (request, reply) => {
      const { facilityId, pool, userId } = request.params;
      mayAdminister(request.principal!, facilityId);
      if (!(await pools.removeMember(facilityId, pool, userId)))
        throw new AppError('RADLINK_NOT_FOUND', 'That user is not in this pool.');
      return reply.code(204).send(null);
    },
  );
}
