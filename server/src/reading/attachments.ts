/**
 * Attachments of a read request (a photographed referral paper, an outside report): uploaded
 * by the requesting facility, seen by the two facilities of the request (others: 404), each
 * stored in S3 under a flat key (reading-attachments/<uuid>: no patient data in object names)
 * with its SHA-256. The uploader may delete their attachment until the request is claimed;
 * after that the reader may be relying on it. Every call is audited (policy table).
 */
import { createHash, randomUUID } from 'node:crypto';
import type { Readable } from 'node:stream';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { Uuid } from '../identity/schemas.js';
import { AppError } from '../plugins/errors.js';
import { contentDisposition, readUpload } from './attachments-upload.js';
import { isRequesterSide } from './request-access.js';
import { visibleRequest } from './requests.js';
import type { RequestRepo } from './requests-repo.js';
import { RequestIdParams } from './schemas.js';

/** Attachments one request may hold. */
const MAX_PER_REQUEST = 20;
const KEY_PREFIX = 'reading-attachments/';

export const AttachmentSchema = Type.Object({
  id: Type.String(),
  requestId: Type.String(),
  filename: Type.String(),
  contentType: Type.Union([
    Type.Literal('image/jpeg'),
    Type.Literal('image/png'),
    Type.Literal('application/pdf'),
  ]),
  sizeBytes: Type.Integer(),
  sha256: Type.String(),
  uploadedBy: Type.Object({ id: Type.String(), name: Type.String() }),
  createdAt: Type.String({ format: 'date-time' }),
});

const AttachmentParams = Type.Object({ requestId: Uuid, attachmentId: Uuid });

interface Row {
  id: string;
  requestId: string;
  s3Key: string;
  filename: string;
  contentType: 'image/jpeg' | 'image/png' | 'application/pdf';
  sizeBytes: string | number;
  sha256: string;
  uploaderId: string;
  uploaderName: string;
  createdAt: Date;
}

const SELECT = `SELECT a.id, a.request_id AS "requestId", a.s3_key AS "s3Key", a.filename, a.content_type AS "contentType",
    a.size_bytes AS "sizeBytes", a.sha256, a.uploaded_by AS "uploaderId", u.display_name AS "uploaderName",
    a.created_at AS "createdAt"
  FROM request_attachments a JOIN users u ON u.id = a.uploaded_by`;

const toApi = (r: Row) => ({
  id: r.id,
  requestId: r.requestId,
  filename: r.filename,
  contentType: r.contentType,
  sizeBytes: Number(r.sizeBytes),
  sha256: r.sha256,
  uploadedBy: { id: r.uploaderId, name: r.uploaderName },
  createdAt: new Date(r.createdAt).toISOString(),
});

export default async function attachmentRoutes(
  fastify: FastifyInstance,
  opts: { requests: RequestRepo; maxBytes: number },
) {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  const { requests } = opts;
  const { client, bucket } = app.s3;
  // The body is read (and its size bounded) by the handler, not buffered by Fastify.
  app.addContentTypeParser('multipart/form-data', (_req, payload, done) => done(null, payload));

  async function one(requestId: string, attachmentId: string): Promise<Row> {
    const [row] = await app.db.query<Row>(`${SELECT} WHERE a.id = $1 AND a.request_id = $2`, [
      attachmentId,
      requestId,
    ]);
    if (!row) throw new AppError('RADLINK_NOT_FOUND', 'No such attachment.');
    return row;
  }

  app.post(
    '/api/requests/:requestId/attachments',
    {
      schema: {
        tags: ['reading'],
        summary: 'Attach a JPEG, PNG or PDF (multipart/form-data, field "file") to a request of my facility.',
        consumes: ['multipart/form-data'],
        params: RequestIdParams,
        response: { 201: AttachmentSchema },
      },
    },
    async (request, reply) => {
      const p = request.principal!;
      const r = await visibleRequest(requests, p, request.params.requestId, request);
      if (!isRequesterSide(p, r))
        throw new AppError('RADLINK_FORBIDDEN', 'Only the requesting facility attaches files to a request.');
      if (!['requested', 'claimed', 'reported'].includes(r.status))
        throw new AppError('RADLINK_CONFLICT', `A ${r.status} request takes no more attachments.`);
      const [count] = await app.db.query<{ n: number }>(
        'SELECT count(*)::int AS n FROM request_attachments WHERE request_id = $1',
        [r.id],
      );
      if ((count?.n ?? 0) >= MAX_PER_REQUEST)
        throw new AppError('RADLINK_CONFLICT', `A request holds at most ${MAX_PER_REQUEST} attachments.`);
      const file = await readUpload(request.headers['content-type'], request.body as Readable, opts.maxBytes);
      const sha256 = createHash('sha256').update(file.body).digest('hex');
      const key = KEY_PREFIX + randomUUID();
      await client.putObject(bucket, key, file.body, file.body.length, {
        'Content-Type': file.type,
        'x-amz-meta-sha256': sha256,
      });
      let id: string;
      try {
        const [row] = await app.db.query<{ id: string }>(
          `INSERT INTO request_attachments (request_id, s3_key, filename, content_type, size_bytes, sha256, uploaded_by)
           VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id`,
          [r.id, key, file.filename, file.type, file.body.length, sha256, p.userId],
        );
        id = row!.id;
      } catch (err) {
        await client.removeObject(bucket, key).catch(() => undefined);
        throw err;
      }
      request.auditDetail = { attachmentId: id, contentType: file.type, sizeBytes: file.body.length };
      return reply.code(201).send(toApi(await one(r.id, id)));
    },
  );

  app.get(
    '/api/requests/:requestId/attachments',
    {
      schema: {
        tags: ['reading'],
        summary: "A request's attachments, oldest first.",
        params: RequestIdParams,
        response: { 200: Type.Array(AttachmentSchema) },
      },
    },
    async (request) => {
      const r = await visibleRequest(requests, request.principal!, request.params.requestId, request);
      const rows = await app.db.query<Row>(`${SELECT} WHERE a.request_id = $1 ORDER BY a.created_at, a.id`, [
        r.id,
      ]);
      return rows.map(toApi);
    },
  );

  app.get(
    '/api/requests/:requestId/attachments/:attachmentId',
    {
      schema: {
        tags: ['reading'],
        summary: 'Download an attachment (its real type; `disposition=inline` to show it in the browser).',
        params: AttachmentParams,
        querystring: Type.Object(
          {
            disposition: Type.Union([Type.Literal('attachment'), Type.Literal('inline')], {
              default: 'attachment',
            }),
          },
          { additionalProperties: false },
        ),
        response: { 200: Type.Unsafe<Buffer>({ type: 'string', format: 'binary' }), 304: Type.Null() },
      },
    },
    async (request, reply) => {
      const r = await visibleRequest(requests, request.principal!, request.params.requestId, request);
      const a = await one(r.id, request.params.attachmentId);
      request.auditDetail = { attachmentId: a.id };
      const etag = `"${a.sha256}"`;
      if (request.headers['if-none-match'] === etag) return reply.code(304).header('etag', etag).send(null);
      const body = await client.getObject(bucket, a.s3Key);
      return reply
        .header('content-type', a.contentType)
        .header('content-length', String(a.sizeBytes))
        .header('content-disposition', contentDisposition(request.query.disposition, a.filename))
        .header('x-content-type-options', 'nosniff')
        .header('cache-control', 'private, no-cache')
        .header('etag', etag)
        .header('repr-digest', `sha-256=:${Buffer.from(a.sha256, 'hex').toString('base64')}:`)
        .send(body);
    },
  );

  app.delete(
    '/api/requests/:requestId/attachments/:attachmentId',
    {
      schema: {
        tags: ['reading'],
        summary: 'Delete my attachment while the request is not yet claimed.',
        params: AttachmentParams,
        response: { 204: Type.Null() },
      },
    },
    async (request, reply) => {
      const p = request.principal!;
      const r = await visibleRequest(requests, p, request.params.requestId, request);
      const a = await one(r.id, request.params.attachmentId);
      request.auditDetail = { attachmentId: a.id };
      if (a.uploaderId !== p.userId)
        throw new AppError('RADLINK_FORBIDDEN', 'Only the person who uploaded an attachment deletes it.');
      // The status is re-checked in the DELETE itself: a claim committed meanwhile wins.
      const rows = await app.db.query<{ s3Key: string }>(
        `DELETE FROM request_attachments a USING read_requests r
          WHERE a.id = $1 AND a.request_id = $2 AND a.uploaded_by = $3 AND r.id = a.request_id AND r.status = 'requested'
          RETURNING a.s3_key AS "s3Key"`,
        [a.id, r.id, p.userId],
      );
      if (rows.length === 0)
        throw new AppError('RADLINK_CONFLICT', 'The request has been claimed: its attachments are kept.');
      await client
        .removeObject(bucket, rows[0]!.s3Key)
        .catch((err) =>
          request.log.warn(
            { err: (err as Error).message, attachmentId: a.id },
            'attachment object not removed',
          ),
        );
      return reply.code(204).send(null);
    },
  );
}
