/**
 * User administration. System admins manage everyone; facility admins manage the clinical
 * users of their own facility only, and can never create or promote to system_admin,
 * model_manager or service. Disabling a user revokes all of their sessions in the same
 * request, so they are locked out at once.
 */
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { Role } from '../../../contracts/roles.js';
import { AppError } from '../plugins/errors.js';
import type { FacilityRepo } from './facilities.js';
import { hashPassword } from './passwords.js';
import type { Principal } from './principal.js';
import { FacilityId, Ok, Password, RoleSchema, User, Username, Uuid } from './schemas.js';
import type { SessionRepo } from './sessions.js';
import type { UserRepo, UserRow } from './users.js';

const FACILITY_ADMIN_MAY_GRANT: readonly Role[] = ['facility_admin', 'radiologist', 'referring_doctor'];

function assertMayManage(p: Principal, target: { facilityId: string | null; role: Role }): void {
  if (p.role === 'system_admin') return;
  if (
    p.role === 'facility_admin' &&
    target.facilityId === p.facilityId &&
    FACILITY_ADMIN_MAY_GRANT.includes(target.role)
  )
    return;
  // Out-of-scope users are reported as missing rather than forbidden: no probing of other facilities.
  throw new AppError('RADLINK_NOT_FOUND', 'No such user.');
}

const toPublic = (u: UserRow) => ({
  id: u.id,
  username: u.username,
  displayName: u.displayName,
  role: u.role,
  facilityId: u.facilityId,
  totpEnabled: u.totpEnabled,
  disabled: u.disabled,
});

export default async function userRoutes(
  app: FastifyInstance,
  opts: { users: UserRepo; sessions: SessionRepo; facilities: FacilityRepo },
) {
  const { users, sessions, facilities } = opts;

  app.get(
    '/api/users',
    {
      schema: {
        tags: ['admin'],
        summary: 'Users I administer.',
        querystring: Type.Object({ facilityId: Type.Optional(FacilityId) }, { additionalProperties: false }),
        response: { 200: Type.Array(User) },
      },
    },
    async (request) => {
      const p = request.principal!;
      const { facilityId } = request.query as { facilityId?: string };
      const scope = p.role === 'system_admin' ? facilityId : p.facilityId!;
      return (await users.list(scope)).map(toPublic);
    },
  );

  app.post(
    '/api/users',
    {
      schema: {
        tags: ['admin'],
        summary: 'Create a user.',
        body: Type.Object(
          {
            username: Username,
            displayName: Type.String({ minLength: 1, maxLength: 200 }),
            role: RoleSchema,
            facilityId: Type.Union([FacilityId, Type.Null()]),
            password: Password,
          },
          { additionalProperties: false },
        ),
        response: { 201: User },
      },
    },
    async (request, reply) => {
      const body = request.body as {
        username: string;
        displayName: string;
        role: Role;
        facilityId: string | null;
        password: string;
      };
      assertMayManage(request.principal!, body);
      if (body.facilityId && !(await facilities.byId(body.facilityId))) {
        throw new AppError('RADLINK_VALIDATION', 'facilityId names no facility.');
      }
      if (!body.facilityId && !['system_admin', 'model_manager', 'service'].includes(body.role)) {
        throw new AppError('RADLINK_VALIDATION', `A ${body.role} must belong to a facility.`);
      }
      if (await users.forLogin(body.username))
        throw new AppError('RADLINK_CONFLICT', 'That user name is taken.');
      const created = await users.create({ ...body, passwordHash: await hashPassword(body.password) });
      return reply.code(201).send(toPublic(created));
    },
  );

  app.patch(
    '/api/users/:userId',
    {
      schema: {
        tags: ['admin'],
        summary:
          'Change a user: name, role, facility, or disable/enable (disabling ends every session at once).',
        params: Type.Object({ userId: Uuid }),
        body: Type.Object(
          {
            displayName: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
            role: Type.Optional(RoleSchema),
            facilityId: Type.Optional(Type.Union([FacilityId, Type.Null()])),
            disabled: Type.Optional(Type.Boolean()),
          },
          { additionalProperties: false, minProperties: 1 },
        ),
        response: { 200: User },
      },
    },
    async (request) => {
      const p = request.principal!;
      const { userId } = request.params as { userId: string };
      const patch = request.body as {
        displayName?: string;
        role?: Role;
        facilityId?: string | null;
        disabled?: boolean;
      };
      const target = await users.byId(userId);
      if (!target) throw new AppError('RADLINK_NOT_FOUND', 'No such user.');
      assertMayManage(p, target);
      assertMayManage(p, {
        role: patch.role ?? target.role,
        facilityId: patch.facilityId === undefined ? target.facilityId : patch.facilityId,
      });
      if (userId === p.userId && (patch.disabled || (patch.role && patch.role !== p.role))) {
        throw new AppError('RADLINK_CONFLICT', 'You cannot disable yourself or change your own role.');
      }
      if (patch.facilityId && !(await facilities.byId(patch.facilityId))) {
        throw new AppError('RADLINK_VALIDATION', 'facilityId names no facility.');
      }
      const updated = await users.update(userId, patch);
      if (!updated) throw new AppError('RADLINK_NOT_FOUND', 'No such user.');
      if (patch.disabled) await sessions.revokeAllForUser(userId);
      // Sessions remembered in this process carry the role and facility: forget them at once.
      sessions.forgetUser(userId);
      return toPublic(updated);
    },
  );

  app.post(
    '/api/users/:userId/password',
    {
      schema: {
        tags: ['admin'],
        summary: "Set a user's password (ends their sessions).",
        params: Type.Object({ userId: Uuid }),
        body: Type.Object({ password: Password }, { additionalProperties: false }),
        response: { 200: Ok },
      },
    },
    async (request) => {
      const { userId } = request.params as { userId: string };
      const target = await users.byId(userId);
      if (!target) throw new AppError('RADLINK_NOT_FOUND', 'No such user.');
      assertMayManage(request.principal!, target);
      await users.setPassword(userId, await hashPassword((request.body as { password: string }).password));
      await sessions.revokeAllForUser(userId);
      return { ok: true as const };
    },
  );

  app.delete(
    '/api/users/:userId/sessions',
    {
      schema: {
        tags: ['admin'],
        summary: 'End every session of a user.',
        params: Type.Object({ userId: Uuid }),
        response: { 200: Type.Object({ revoked: Type.Integer() }) },
      },
    },
    async (request) => {
      const { userId } = request.params as { userId: string };
      const target = await users.byId(userId);
      if (!target) throw new AppError('RADLINK_NOT_FOUND', 'No such user.');
      assertMayManage(request.principal!, target);
      return { revoked: await sessions.revokeAllForUser(userId) };
    },
  );
}
