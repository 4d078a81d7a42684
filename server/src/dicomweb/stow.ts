/**
 * STOW-RS (PS3.18 10.5): `POST /dicom-web/studies[/{study}]` with a multipart/related body of
 * application/dicom parts. The body is parsed as it streams in (memory: a few parts, never the
 * whole request); each part is validated (stow-validate.ts) before it is stored (stow-store.ts),
 * a few parts are in flight at once, and the answer lists every instance's outcome.
 *
 * Request-level answers: 415 for anything but multipart/related of application/dicom (metadata +
 * bulk data STOW is not offered), 400 for a malformed multipart body before any part was read,
 * 413 when Content-Length already exceeds the request limit. Once parts have been read, a limit or
 * a malformed tail ends reading and becomes a failure entry, so the client learns what was stored.
 */
import { createHash } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { refuseWhenDiskFull } from '../ops/disk-guard.js';
import { AppError } from '../plugins/errors.js';
import { baseUrl, instanceUrl } from './base-url.js';
import { IngestSignal } from './ingest-signal.js';
import { isSafeUid } from './media-types.js';
import { MultipartError, parseMultipartContentType, parseMultipartRelatedStream } from './multipart.js';
import { type InstanceOutcome, stowHttpStatus, stowResponseBody } from './stow-response.js';
import { indexLookup, type KeyedLocks, type StoreContext, storeInstance } from './stow-store.js';
import { FAILURE, validatePart10 } from './stow-validate.js';

/**
 * Parts validated and stored concurrently. A part spends most of its time waiting on round trips
 * (the index, Orthanc's store, its holder lookup), so several in flight keep Orthanc and the
 * database busy. Parts stay in memory until stored, hence the bound in bytes as well: a request
 * holds at most IN_FLIGHT_BYTES plus one part (a part larger than that is stored on its own).
 */
const IN_FLIGHT_PARTS = 8;
const IN_FLIGHT_BYTES = 64 * 1024 * 1024;

class RequestTooLarge extends Error {}

async function* limited(source: AsyncIterable<Buffer>, max: number): AsyncGenerator<Buffer> {
  let total = 0;
  for await (const chunk of source) {
    total += chunk.length;
    if (total > max) throw new RequestTooLarge();
    yield chunk;
  }
}

const studyParams = {
  type: 'object',
  properties: { studyUid: { type: 'string', maxLength: 64 } },
  required: ['studyUid'],
} as const;

const stowResponseSchema = {
  description: 'PS3.18 Store Instances Response (DICOM JSON)',
  type: 'object',
  additionalProperties: true,
} as const;

export default async function stowRoutes(app: FastifyInstance) {
  // The body reaches the handler as the raw stream; nothing is buffered by Fastify.
  app.addContentTypeParser('multipart/related', (_req, payload, done) => done(null, payload));
  const locks: KeyedLocks = new Map();
  const lookup = indexLookup(app.db);
  // Archive copies yield to uploads in progress (ingest-signal.ts).
  const ingest = new IngestSignal(app.redis, app.config.RADLINK_QUEUE_PREFIX, app.log);
  app.addHook('onClose', async () => ingest.close());

  const handler = async (request: FastifyRequest, reply: FastifyReply) => {
    if (refuseWhenDiskFull(app, reply)) return reply;
    const urlStudy = (request.params as { studyUid?: string }).studyUid;
    if (urlStudy !== undefined && !isSafeUid(urlStudy))
      throw new AppError('RADLINK_BAD_REQUEST', 'The study UID is not a valid UID.');
    const cfg = app.config;
    const contentType = request.headers['content-type'] ?? '';
    let root: string | undefined;
    try {
      root = parseMultipartContentType(contentType).type;
    } catch (err) {
      if (err instanceof MultipartError && err.code === 'invalid-content-type') {
        throw new AppError(
          'RADLINK_UNSUPPORTED_MEDIA_TYPE',
          'STOW-RS takes multipart/related; type="application/dicom".',
        );
      }
      throw new AppError('RADLINK_BAD_REQUEST', (err as Error).message);
    }
    if (root !== undefined && root !== 'application/dicom') {
      throw new AppError(
        'RADLINK_UNSUPPORTED_MEDIA_TYPE',
        `Parts of type ${root.slice(0, 60)} are not accepted; send application/dicom.`,
      );
    }
    const declared = Number(request.headers['content-length'] ?? Number.NaN);
    if (Number.isFinite(declared) && declared > cfg.RADLINK_STOW_MAX_REQUEST_BYTES) {
      throw new AppError(
        'RADLINK_PAYLOAD_TOO_LARGE',
        `The request is larger than ${cfg.RADLINK_STOW_MAX_REQUEST_BYTES} bytes.`,
      );
    }

    const ctx: StoreContext = {
      app,
      principal: request.principal!,
      locks,
      lookup,
      studyAccess: new Map(),
    };
    const ingesting = ingest.begin();
    try {
      return await receive(request, reply, ctx, urlStudy, contentType);
    } finally {
      ingesting();
    }
  };

  const receive = async (
    request: FastifyRequest,
    reply: FastifyReply,
    ctx: StoreContext,
    urlStudy: string | undefined,
    contentType: string,
  ) => {
    const cfg = app.config;
    const outcomes: Promise<InstanceOutcome>[] = [];
    const inFlight = new Set<Promise<InstanceOutcome>>();
    let inFlightBytes = 0;
    let ended: InstanceOutcome | undefined;
    // destroyOnReturn false: stopping early must not destroy the socket the answer goes out on.
    const body = (request.body as import('node:stream').Readable).iterator({
      destroyOnReturn: false,
    }) as AsyncIterable<Buffer>;
    try {
      for await (const part of parseMultipartRelatedStream(
        limited(body, cfg.RADLINK_STOW_MAX_REQUEST_BYTES),
        contentType,
        {
          maxPartBytes: cfg.RADLINK_STOW_MAX_INSTANCE_BYTES,
        },
      )) {
        const p = processPart(
          ctx,
          part.contentType,
          part.body,
          urlStudy,
          cfg.RADLINK_STOW_MAX_INSTANCE_BYTES,
        );
        outcomes.push(p);
        inFlight.add(p);
        const size = part.body.length;
        inFlightBytes += size;
        // Both outcomes handled here: a derived `p.finally()` promise would reject unhandled when
        // `p` does, and an unhandled rejection stops the process (found by the STOW fuzz test).
        const settled = () => {
          if (inFlight.delete(p)) inFlightBytes -= size;
        };
        p.then(settled, settled);
        while (inFlight.size >= IN_FLIGHT_PARTS || (inFlight.size > 0 && inFlightBytes >= IN_FLIGHT_BYTES))
          await Promise.race(inFlight);
      }
    } catch (err) {
      const tooLarge =
        err instanceof RequestTooLarge || (err instanceof MultipartError && err.code === 'part-too-large');
      if (!tooLarge && !(err instanceof MultipartError)) throw err;
      if (outcomes.length === 0 && !tooLarge)
        throw new AppError('RADLINK_BAD_REQUEST', (err as MultipartError).reason);
      ended = {
        status: 'failed',
        reason: tooLarge ? FAILURE.OUT_OF_RESOURCES : FAILURE.CANNOT_UNDERSTAND,
        comment: tooLarge
          ? 'Size limit exceeded; this and any later instances were not read.'
          : `Malformed multipart body: ${(err as MultipartError).reason}`,
      };
      // Discard the rest of the upload so the client can read the answer.
      request.raw.resume();
    }
    const results = await Promise.all(outcomes);
    if (ended) results.push(ended);
    if (results.length === 0) throw new AppError('RADLINK_BAD_REQUEST', 'The request contains no instances.');

    const base = baseUrl(request);
    const studies = new Set(results.flatMap((o) => (o.status === 'stored' ? [o.studyUid] : [])));
    const onlyStudy = urlStudy ?? (studies.size === 1 ? [...studies][0] : undefined);
    request.auditStudyUid = onlyStudy ?? null;
    request.auditDetail = {
      stored: results.filter((o) => o.status === 'stored').length,
      failed: results.filter((o) => o.status === 'failed').length,
      instances: results.slice(0, 500).map((o) =>
        o.status === 'stored'
          ? {
              sopInstanceUid: o.sopInstanceUid,
              outcome: o.alreadyStored ? 'already-stored' : 'stored',
              ...(o.warning !== undefined ? { warning: o.warning, comment: o.warningComment } : {}),
            }
          : {
              sopInstanceUid: o.sopInstanceUid ?? null,
              outcome: 'failed',
              reason: o.reason,
              comment: o.comment,
            },
      ),
    };
    const status = stowHttpStatus(results);
    return reply
      .code(status)
      .type('application/dicom+json')
      .send(
        stowResponseBody(
          results,
          (o) => instanceUrl(base, o.studyUid, o.seriesUid, o.sopInstanceUid),
          onlyStudy ? `${base}/dicom-web/studies/${onlyStudy}` : undefined,
        ),
      );
  };

  const schema = (summary: string, params?: typeof studyParams) => ({
    tags: ['dicomweb'],
    summary,
    ...(params ? { params } : {}),
    response: { 200: stowResponseSchema, 202: stowResponseSchema, 409: stowResponseSchema },
  });
  app.post('/dicom-web/studies', { schema: schema('STOW-RS: store instances.') }, handler);
  app.post(
    '/dicom-web/studies/:studyUid',
    { schema: schema('STOW-RS: store instances into one study.', studyParams) },
    handler,
  );
}

async function processPart(
  ctx: StoreContext,
  contentType: string | undefined,
  bytes: Buffer,
  urlStudy: string | undefined,
  maxBytes: number,
): Promise<InstanceOutcome> {
  const mediaType =
    contentType === undefined ? undefined : (contentType.split(';')[0] ?? '').trim().toLowerCase();
  if (mediaType !== undefined && mediaType !== 'application/dicom') {
    return {
      status: 'failed',
      reason: FAILURE.CANNOT_UNDERSTAND,
      comment: 'The part is not application/dicom.',
    };
  }
  const verdict = validatePart10(
    bytes,
    urlStudy === undefined ? { maxBytes } : { maxBytes, studyUid: urlStudy },
  );
  if (!verdict.ok) {
    const { ok: _ok, ...rest } = verdict;
    return { status: 'failed', ...rest };
  }
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  return storeInstance(ctx, bytes, verdict.instance, sha256);
}
