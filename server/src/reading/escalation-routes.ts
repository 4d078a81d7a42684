/**
 * Acknowledging a STAT request: "I have seen it and someone is on it" — stops its escalation
 * without claiming it (e.g. a facility admin who is phoning the on-call radiologist). Only the
 * reading side (the target facility's radiologists and admins, or a system admin) acknowledges.
 */
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { AppError } from '../plugins/errors.js';
import type { StatEscalation } from './escalation.js';
import type { ReadingEvents } from './events.js';
import { isReaderSide } from './request-access.js';
import { visibleRequest } from './requests.js';
import type { RequestRepo } from './requests-repo.js';
import { RequestIdParams } from './schemas.js';

const Iso = Type.String({ format: 'date-time' });
const NullableIso = Type.Union([Iso, Type.Null()]);

export const EscalationSchema = Type.Object({
  requestId: Type.String(),
  level: Type.Integer({
    description: '0: radiologists told; 1: pool alerted; 2 and up: facility admins alerted',
  }),
  nextAt: Type.Union([Iso, Type.Null()], { description: 'When the next step is due; null: finished' }),
  lastEscalatedAt: NullableIso,
  acknowledgedAt: NullableIso,
  acknowledgedBy: Type.Union([Type.String(), Type.Null()]),
});

export default async function escalationRoutes(
  fastify: FastifyInstance,
  opts: { requests: RequestRepo; escalation: StatEscalation; events: ReadingEvents },
) {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  const { requests, escalation, events } = opts;

  app.get(
    '/api/requests/:requestId/escalation',
    {
      schema: {
        tags: ['reading'],
        summary: 'The escalation state of a STAT request (404 for other priorities).',
        params: RequestIdParams,
        response: { 200: EscalationSchema },
      },
    },
    async (request) => {
      const r = await visibleRequest(requests, request.principal!, request.params.requestId, request);
      const s = await escalation.state(r.id);
      if (!s) throw new AppError('RADLINK_NOT_FOUND', 'This request has no STAT escalation.');
      return s;
    },
  );

  app.post(
    '/api/requests/:requestId/acknowledge',
    {
      schema: {
        tags: ['reading'],
        summary: 'Acknowledge an unclaimed STAT request: its escalation stops. Idempotent.',
        params: RequestIdParams,
        response: { 200: EscalationSchema },
      },
    },
    async (request) => {
      const p = request.principal!;
      const r = await visibleRequest(requests, p, request.params.requestId, request);
      if (p.role !== 'system_admin' && !isReaderSide(p, r))
        throw new AppError('RADLINK_FORBIDDEN', 'Only the reading facility acknowledges a STAT request.');
      if (r.priority !== 'stat')
        throw new AppError('RADLINK_CONFLICT', 'Only STAT requests are escalated and acknowledged.');
      const ack = await escalation.acknowledge(r.id, p.userId);
      if (!ack) throw new AppError('RADLINK_CONFLICT', 'This request has no STAT escalation to acknowledge.');
      if (ack.first)
        await events.publish('stat.acknowledged', r, {
          level: ack.state.level,
          acknowledgedById: p.userId,
        });
      return ack.state;
    },
  );
}
