/**
 * QIDO-RS (PS3.18 10.6): the six search routes, answered from the gateway's study index with
 * the caller's access scope inside the SQL (server/src/index/search.ts).
 *
 * Choices, with reasons:
 *  - No match → 200 with `[]` (PS3.18 allows it; OHIF and dicomweb-client handle it, and one
 *    status code for "searched fine" is simpler for every client than 200/204).
 *  - A study-scoped search on a study outside the caller's scope (or not indexed) → 404, the
 *    same answer as for a study that does not exist: existence is not revealed.
 *  - A limit above the maximum is capped and a `Warning: 299` header says so (PS3.18 8.3.4.4).
 *  - Responses are gzip/brotli-compressed when the client accepts it: DICOM JSON compresses ~10x
 *    and district hospitals have slow links. Compression is opt-in per route (the gateway
 *    registers @fastify/compress with `global: false`) so frames and bulk data are never gzipped.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { canAccessStudy, scopeOf } from '../access/study-access.js';
import { buildQidoSql, type InstanceRow, type SeriesRow, type StudyRow } from '../index/search.js';
import { AppError } from '../plugins/errors.js';
import { baseUrl } from './base-url.js';
import { isSafeUid } from './media-types.js';
import { parseQidoQuery, type QidoLevel, type QidoQuery, QidoQueryError } from './qido-query.js';
import { type DicomJsonObject, instanceResult, seriesResult, studyResult } from './qido-response.js';

const DICOM_JSON = 'application/dicom+json';
const ACCEPTABLE =
  /(^|[\s,])(application\/dicom\+json|application\/json|application\/\*|\*\/\*)(\s*;|\s*,|\s*$)/i;
const UID_PARAM = { type: 'string', minLength: 1, maxLength: 64 } as const;

const responseSchema = {
  200: {
    description: 'Matching entities in the DICOM JSON model (PS3.18 Annex F).',
    type: 'array',
    items: { type: 'object', additionalProperties: true },
  },
} as const;

interface Params {
  studyUid?: string;
  seriesUid?: string;
}

function checkAccept(request: FastifyRequest): void {
  const accept = request.headers.accept;
  if (accept && !ACCEPTABLE.test(accept)) {
    throw new AppError(
      'RADLINK_NOT_ACCEPTABLE',
      'QIDO-RS answers application/dicom+json (or application/json) only.',
    );
  }
}

function parse(level: QidoLevel, request: FastifyRequest, params: Params): QidoQuery {
  try {
    return parseQidoQuery(level, request.query as Record<string, string | string[]>, {
      ...(params.studyUid !== undefined ? { studyInstanceUid: params.studyUid } : {}),
      ...(params.seriesUid !== undefined ? { seriesInstanceUid: params.seriesUid } : {}),
    });
  } catch (err) {
    if (err instanceof QidoQueryError) throw new AppError('RADLINK_BAD_REQUEST', err.message);
    throw err;
  }
}

/** 404 unless the study is in scope (and, when given, the series belongs to it). */
async function requireScopedTarget(
  app: FastifyInstance,
  request: FastifyRequest,
  params: Params,
): Promise<void> {
  const principal = request.principal;
  if (!principal || !params.studyUid || !isSafeUid(params.studyUid)) throw new AppError('RADLINK_NOT_FOUND');
  if (!(await canAccessStudy(app.db, principal, params.studyUid))) throw new AppError('RADLINK_NOT_FOUND');
  if (params.seriesUid) {
    const rows = await app.db.query('SELECT 1 FROM series WHERE series_uid = $1 AND study_uid = $2', [
      params.seriesUid,
      params.studyUid,
    ]);
    if (rows.length === 0) throw new AppError('RADLINK_NOT_FOUND');
  }
}

function warnIfCapped(reply: FastifyReply, q: QidoQuery, request: FastifyRequest): void {
  if (!q.limitCapped) return;
  reply.header(
    'warning',
    `299 ${request.hostname}: "The number of results exceeded the maximum supported by the server. Additional results can be requested."`,
  );
}

export default async function qidoRoutes(app: FastifyInstance) {
  const search = async (
    level: QidoLevel,
    request: FastifyRequest,
    reply: FastifyReply,
  ): Promise<DicomJsonObject[]> => {
    checkAccept(request);
    const params = (request.params ?? {}) as Params;
    if (params.studyUid) request.auditStudyUid = params.studyUid;
    const q = parse(level, request, params);
    const principal = request.principal;
    if (!principal) throw new AppError('RADLINK_UNAUTHENTICATED');
    const { sql, params: values } = buildQidoSql(q, scopeOf(principal));
    const rows = await app.db.query<InstanceRow>(sql, values);
    // An empty page under a study: tell "out of scope / unknown" (404) from "no match" (200 []).
    if (rows.length === 0 && params.studyUid) await requireScopedTarget(app, request, params);
    const base = baseUrl(request);
    const underStudy = params.studyUid !== undefined;
    const out = rows.map((r) => {
      if (level === 'study') return studyResult(r as StudyRow, q, base);
      if (level === 'series') return seriesResult(r as SeriesRow, q, base, !underStudy);
      return instanceResult(r, q, base, { study: !underStudy, series: params.seriesUid === undefined });
    });
    warnIfCapped(reply, q, request);
    reply.type(`${DICOM_JSON}; charset=utf-8`);
    return out;
  };

  const common = { tags: ['dicomweb'], querystring: { type: 'object', additionalProperties: true } } as const;
  const compress = { threshold: 1024 };
  const study = { studyUid: UID_PARAM };
  const studySeries = { studyUid: UID_PARAM, seriesUid: UID_PARAM };
  const paramsOf = (p: Record<string, typeof UID_PARAM>) => ({
    type: 'object',
    properties: p,
    required: Object.keys(p),
    additionalProperties: false,
  });

  app.get(
    '/dicom-web/studies',
    { compress, schema: { ...common, summary: 'QIDO-RS: search for studies.', response: responseSchema } },
    (req, reply) => search('study', req, reply),
  );
  app.get(
    '/dicom-web/series',
    {
      compress,
      schema: { ...common, summary: 'QIDO-RS: search for series (all studies).', response: responseSchema },
    },
    (req, reply) => search('series', req, reply),
  );
  app.get(
    '/dicom-web/instances',
    {
      compress,
      schema: {
        ...common,
        summary: 'QIDO-RS: search for instances (all studies).',
        response: responseSchema,
      },
    },
    (req, reply) => search('instance', req, reply),
  );
  app.get(
    '/dicom-web/studies/:studyUid/series',
    {
      compress,
      schema: {
        ...common,
        params: paramsOf(study),
        summary: "QIDO-RS: search for a study's series.",
        response: responseSchema,
      },
    },
    (req, reply) => search('series', req, reply),
  );
  app.get(
    '/dicom-web/studies/:studyUid/instances',
    {
      compress,
      schema: {
        ...common,
        params: paramsOf(study),
        summary: "QIDO-RS: search for a study's instances.",
        response: responseSchema,
      },
    },
    (req, reply) => search('instance', req, reply),
  );
  app.get(
    '/dicom-web/studies/:studyUid/series/:seriesUid/instances',
    {
      compress,
      schema: {
        ...common,
        params: paramsOf(studySeries),
        summary: "QIDO-RS: search for a series' instances.",
        response: responseSchema,
      },
    },
    (req, reply) => search('instance', req, reply),
  );
}
