/**
 * The webhook admin API of a facility: its admin (or a system admin) sets the URL and secret,
 * enables, narrows to some event types, removes it, and reads the delivery log, a page at a
 * time, with the retention that prunes it (webhooks-retention.ts). The secret is write-only.
 */
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { FacilityRepo } from '../identity/facilities.js';
import type { Principal } from '../identity/principal.js';
import { FacilityId } from '../identity/schemas.js';
import { AppError } from '../plugins/errors.js';
import { READING_EVENT_TYPES } from './events.js';
import { forbiddenAddress } from './webhooks-delivery.js';
import { decodeCursor, encodeCursor, type WebhookRepo } from './webhooks-repo.js';
import { expiresAt, type WebhookLogRetention } from './webhooks-retention.js';

const Params = Type.Object({ facilityId: FacilityId });
const Iso = Type.String({ format: 'date-time' });
const EventType = Type.Union(READING_EVENT_TYPES.map((t) => Type.Literal(t)));

export const WebhookSchema = Type.Object({
  facilityId: Type.String(),
  url: Type.String(),
  enabled: Type.Boolean(),
  eventTypes: Type.Union([Type.Array(Type.String()), Type.Null()], { description: 'null: every event type' }),
  secretHint: Type.String({ description: 'The last four characters of the secret' }),
  createdAt: Iso,
  updatedAt: Iso,
});

export const DeliverySchema = Type.Object({
  id: Type.String(),
  eventId: Type.String(),
  eventType: Type.String(),
  url: Type.String(),
  status: Type.Union([Type.Literal('pending'), Type.Literal('delivered'), Type.Literal('failed')]),
  attempts: Type.Integer(),
  lastStatusCode: Type.Union([Type.Integer(), Type.Null()]),
  lastError: Type.Union([Type.String(), Type.Null()]),
  createdAt: Iso,
  updatedAt: Iso,
  deliveredAt: Type.Union([Iso, Type.Null()]),
  expiresAt: Type.Union([Iso, Type.Null()], {
    description: 'From when retention may remove the entry (within the hour after); null while pending',
  }),
});

export const DeliveryLogSchema = Type.Object({
  retention: Type.Object(
    {
      deliveredDays: Type.Integer({
        description: 'Delivered entries are kept this many days after delivery',
      }),
      failedDays: Type.Integer({
        description: 'Failed entries are kept this many days after their last attempt',
      }),
    },
    { description: 'Pending entries are kept until they are delivered or fail' },
  ),
  deliveries: Type.Array(DeliverySchema),
  nextBefore: Type.Union([Type.String(), Type.Null()], {
    description: 'Pass as `before` for the next (older) page; null on the last page',
  }),
});

function mayAdminister(p: Principal, facilityId: string): void {
  if (p.role === 'system_admin' || (p.role === 'facility_admin' && p.facilityId === facilityId)) return;
  throw new AppError('RADLINK_FORBIDDEN', "Only the facility's admin manages its webhook.");
}

export default async function webhookRoutes(
  fastify: FastifyInstance,
  opts: {
    repo: WebhookRepo;
    facilities: FacilityRepo;
    allowLoopback: boolean;
    retention: WebhookLogRetention;
  },
) {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  const { repo, facilities, retention } = opts;

  async function guardFacility(p: Principal, facilityId: string) {
    mayAdminister(p, facilityId);
    if (!(await facilities.byId(facilityId))) throw new AppError('RADLINK_NOT_FOUND', 'No such facility.');
  }

  app.put(
    '/api/facilities/:facilityId/webhook',
    {
      schema: {
        tags: ['reading'],
        summary: "Set the facility's webhook: reading events are POSTed there, signed with HMAC-SHA256.",
        params: Params,
        body: Type.Object(
          {
            url: Type.String({ maxLength: 2000, pattern: '^https?://' }),
            secret: Type.Optional(
              Type.String({
                minLength: 16,
                maxLength: 256,
                description: 'HMAC key; omit to keep the current one',
              }),
            ),
            enabled: Type.Boolean({ default: true }),
            eventTypes: Type.Optional(
              Type.Union([Type.Array(EventType, { minItems: 1, uniqueItems: true }), Type.Null()]),
            ),
          },
          { additionalProperties: false },
        ),
        response: { 200: WebhookSchema },
      },
    },
    async (request) => {
      const { facilityId } = request.params;
      await guardFacility(request.principal!, facilityId);
      const b = request.body;
      let u: URL;
      try {
        u = new URL(b.url);
      } catch {
        throw new AppError('RADLINK_VALIDATION', 'url is not a valid URL.');
      }
      if (u.username || u.password)
        throw new AppError(
          'RADLINK_VALIDATION',
          'url must not carry credentials; the signature authenticates.',
        );
      const host = u.hostname.replace(/^\[|\]$/g, '');
      if (!opts.allowLoopback && (host === 'localhost' || forbiddenAddress(host)))
        throw new AppError('RADLINK_VALIDATION', 'url must not point at a loopback or link-local address.');
      const ok = await repo.put(facilityId, {
        url: u.toString(),
        secret: b.secret ?? null,
        enabled: b.enabled,
        eventTypes: b.eventTypes ?? null,
      });
      if (!ok) throw new AppError('RADLINK_VALIDATION', 'secret is required when creating a webhook.');
      return (await repo.get(facilityId))!;
    },
  );

  app.get(
    '/api/facilities/:facilityId/webhook',
    {
      schema: {
        tags: ['reading'],
        summary: "The facility's webhook (without its secret).",
        params: Params,
        response: { 200: WebhookSchema },
      },
    },
    async (request) => {
      await guardFacility(request.principal!, request.params.facilityId);
      const hook = await repo.get(request.params.facilityId);
      if (!hook) throw new AppError('RADLINK_NOT_FOUND', 'This facility has no webhook.');
      return hook;
    },
  );

  app.delete(
    '/api/facilities/:facilityId/webhook',
    {
      schema: {
        tags: ['reading'],
        summary: "Remove the facility's webhook (pending deliveries then fail).",
        params: Params,
        response: { 204: Type.Null() },
      },
    },
    async (request, reply) => {
      await guardFacility(request.principal!, request.params.facilityId);
      if (!(await repo.remove(request.params.facilityId)))
        throw new AppError('RADLINK_NOT_FOUND', 'This facility has no webhook.');
      return reply.code(204).send(null);
    },
  );

  app.get(
    '/api/facilities/:facilityId/webhook/deliveries',
    {
      schema: {
        tags: ['reading'],
        summary:
          `The facility's webhook delivery log, newest first, a page at a time. Delivered entries are kept ` +
          `${retention.deliveredDays} days, failed ones ${retention.failedDays} days, pending ones until they finish.`,
        params: Params,
        querystring: Type.Object(
          {
            status: Type.Optional(
              Type.Union([Type.Literal('pending'), Type.Literal('delivered'), Type.Literal('failed')]),
            ),
            limit: Type.Integer({ minimum: 1, maximum: 500, default: 50 }),
            before: Type.Optional(
              Type.String({
                minLength: 1,
                maxLength: 200,
                pattern: '^[A-Za-z0-9_-]+$',
                description: '`nextBefore` of the previous page',
              }),
            ),
          },
          { additionalProperties: false },
        ),
        response: { 200: DeliveryLogSchema },
      },
    },
    async (request) => {
      await guardFacility(request.principal!, request.params.facilityId);
      const q = request.query;
      const before = q.before === undefined ? null : decodeCursor(q.before);
      if (q.before !== undefined && !before)
        throw new AppError('RADLINK_VALIDATION', 'before is not a cursor of this log (use nextBefore).');
      const page = await repo.listDeliveries(request.params.facilityId, {
        status: q.status ?? null,
        limit: q.limit,
        before,
      });
      return {
        retention,
        deliveries: page.rows.map(({ payload: _payload, facilityId: _f, ...d }) => ({
          ...d,
          expiresAt: expiresAt(retention, d.status, d.updatedAt),
        })),
        nextBefore: page.next ? encodeCursor(page.next) : null,
      };
    },
  );
}
