/**
 * `GET /api/events`: the reading workflow's live events as server-sent events
 * (text/event-stream), for the browser's `EventSource('/api/events')` (session cookie) and for
 * API clients (bearer). Each event is
 *
 *   id: <monotonic id>        event: <type, e.g. request.claimed>        data: <JSON, ReadingEventData>
 *
 * and reaches a caller only when the caller may see its request (the two facilities of the
 * request; system admins) and, for addressed events (STAT alerts), only its recipients.
 * Reconnecting with `Last-Event-ID` (EventSource does it by itself; or `?lastEventId=`) replays
 * the logged events after that id before the live ones, without gaps or duplicates. A comment
 * line is sent every RADLINK_SSE_HEARTBEAT_SECONDS; at each, the caller's session is checked
 * again and the stream ends when it was revoked or expired, or the user disabled or moved.
 */
import { PassThrough } from 'node:stream';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { Principal } from '../identity/principal.js';
import type { SessionRepo } from '../identity/sessions.js';
import { AppError } from '../plugins/errors.js';
import type { ReadingEvent, ReadingEvents } from './events.js';
import { maySee } from './request-access.js';

/** Most events replayed on reconnection; a client further behind reloads its lists. */
const REPLAY_LIMIT = 1000;
/** Streams per user per gateway (tabs, devices): bounds what one account can hold open. */
const MAX_STREAMS_PER_USER = 20;
/** A client this far behind (bytes queued) is too slow to follow: its stream is ended. */
const MAX_QUEUED_BYTES = 1 << 20;

export function mayReceive(p: Principal, e: ReadingEvent): boolean {
  if (e.recipients && !e.recipients.includes(p.userId)) return false;
  return maySee(p, {
    requestingFacilityId: e.data.requestingFacilityId,
    targetFacilityId: e.data.targetFacilityId,
    requesterId: '',
    claimedById: e.data.claimedById,
  });
}

/** One event in text/event-stream syntax (the JSON has no raw newlines). */
export function formatEvent(e: ReadingEvent): string {
  return `id: ${e.id}\nevent: ${e.type}\ndata: ${JSON.stringify(e.data)}\n\n`;
}

export default async function eventStreamRoutes(
  fastify: FastifyInstance,
  opts: { events: ReadingEvents; sessions: SessionRepo; heartbeatSeconds: number },
) {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  const { events, sessions } = opts;
  const open = new Set<() => void>();
  const perUser = new Map<string, number>();
  // Open streams would keep the server from closing.
  app.addHook('preClose', async () => {
    for (const end of [...open]) end();
  });

  app.get(
    '/api/events',
    {
      schema: {
        tags: ['reading'],
        summary:
          'Live reading events (server-sent events): request.created, request.claimed, request.released, ' +
          'request.status-changed, report.signed, stat.new, stat.escalated, stat.acknowledged, message.posted.',
        querystring: Type.Object(
          {
            lastEventId: Type.Optional(
              Type.String({
                pattern: '^[0-9]{1,18}$',
                description: 'Replay after this id (as Last-Event-ID)',
              }),
            ),
          },
          { additionalProperties: false },
        ),
        headers: Type.Object({
          'last-event-id': Type.Optional(Type.String({ pattern: '^[0-9]{1,18}$' })),
        }),
        response: {
          200: Type.Unsafe<string>({ type: 'string', description: 'text/event-stream' }),
        },
      },
    },
    async (request, reply) => {
      const p = request.principal!;
      const lastEventId = request.headers['last-event-id'] ?? request.query.lastEventId ?? null;
      const mine = perUser.get(p.userId) ?? 0;
      if (mine >= MAX_STREAMS_PER_USER)
        throw new AppError('RADLINK_RATE_LIMITED', `At most ${MAX_STREAMS_PER_USER} event streams per user.`);
      perUser.set(p.userId, mine + 1);

      const stream = new PassThrough();
      let lastSent = lastEventId ? BigInt(lastEventId) : -1n;
      let replaying = true;
      const held: ReadingEvent[] = [];
      let ended = false;

      const send = (e: ReadingEvent) => {
        const id = BigInt(e.id);
        if (id <= lastSent) return;
        lastSent = id;
        if (!mayReceive(p, e)) return;
        if (stream.writableLength > MAX_QUEUED_BYTES) return end();
        stream.write(formatEvent(e));
      };
      const unlisten = events.listen((e) => (replaying ? held.push(e) : send(e)));
      const heartbeat = setInterval(() => {
        stream.write(`: heartbeat ${new Date().toISOString()}\n\n`);
        sessions
          .byId(p.sessionId)
          .then((s) => {
            if (
              !s ||
              s.revoked ||
              s.expired ||
              s.disabled ||
              s.role !== p.role ||
              s.facilityId !== p.facilityId
            )
              end();
          })
          .catch(() => undefined);
      }, opts.heartbeatSeconds * 1000);
      heartbeat.unref();

      function end() {
        if (ended) return;
        ended = true;
        unlisten();
        clearInterval(heartbeat);
        open.delete(end);
        const n = (perUser.get(p.userId) ?? 1) - 1;
        if (n <= 0) perUser.delete(p.userId);
        else perUser.set(p.userId, n);
        stream.end();
      }
      open.add(end);
      reply.raw.on('close', end);

      reply
        .header('content-type', 'text/event-stream; charset=utf-8')
        .header('cache-control', 'no-cache, no-transform')
        .header('x-accel-buffering', 'no')
        // A stream's connection is its own: closed with it, never left idle in keep-alive (which
        // would hold a closing server until the keep-alive timeout).
        .header('connection', 'close');
      // The reconnection delay EventSource uses, and a first line so proxies pass the headers on.
      stream.write('retry: 3000\n: connected\n\n');
      if (lastEventId !== null) {
        try {
          for (const e of await events.since(lastEventId, REPLAY_LIMIT)) send(e);
        } catch (err) {
          request.log.warn({ err: (err as Error).message }, 'event replay failed');
        }
      }
      replaying = false;
      for (const e of held.splice(0)) send(e);
      request.auditDetail = { lastEventId };
      return reply.send(stream);
    },
  );
}
