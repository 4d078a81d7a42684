/** The discussion thread of a read request, between the requester's side and the readers. */
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { visibleRequest } from './requests.js';
import type { RequestRepo } from './requests-repo.js';
import { Message, RequestIdParams } from './schemas.js';

interface MessageRow {
  id: string;
  authorId: string;
  authorName: string;
  body: string;
  createdAt: Date;
}

const toApi = (m: MessageRow) => ({
  id: m.id,
  author: { id: m.authorId, name: m.authorName },
  body: m.body,
  createdAt: new Date(m.createdAt).toISOString(),
});

const SELECT = `SELECT m.id, m.author_id AS "authorId", u.display_name AS "authorName", m.body, m.created_at AS "createdAt"
  FROM request_messages m JOIN users u ON u.id = m.author_id`;

export default async function messageRoutes(fastify: FastifyInstance, opts: { requests: RequestRepo }) {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();

  app.get(
    '/api/requests/:requestId/messages',
    {
      schema: {
        tags: ['reading'],
        summary: 'The discussion on a read request, oldest first.',
        params: RequestIdParams,
        response: { 200: Type.Array(Message) },
      },
    },
    async (request) => {
      const r = await visibleRequest(opts.requests, request.principal!, request.params.requestId, request);
      const rows = await app.db.query<MessageRow>(
        `${SELECT} WHERE m.request_id = $1 ORDER BY m.created_at, m.id`,
        [r.id],
      );
      return rows.map(toApi);
    },
  );

  app.post(
    '/api/requests/:requestId/messages',
    {
      schema: {
        tags: ['reading'],
        summary: 'Post to the discussion on a read request.',
        params: RequestIdParams,
        body: Type.Object(
          { body: Type.String({ minLength: 1, maxLength: 4000 }) },
          { additionalProperties: false },
        ),
        response: { 201: Message },
      },
    },
    async (request, reply) => {
      const p = request.principal!;
      const r = await visibleRequest(opts.requests, p, request.params.requestId, request);
      const [row] = await app.db.query<{ id: string }>(
        'INSERT INTO request_messages (request_id, author_id, body) VALUES ($1, $2, $3) RETURNING id',
        [r.id, p.userId, request.body.body.normalize('NFC')],
      );
      const [m] = await app.db.query<MessageRow>(`${SELECT} WHERE m.id = $1`, [row!.id]);
      await app.readingEvents.publish('message.posted', r, { messageId: m!.id, authorId: p.userId });
      return reply.code(201).send(toApi(m!));
    },
  );
}
