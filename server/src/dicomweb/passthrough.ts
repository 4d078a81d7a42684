/**
 * A thin, guarded pass-through to Orthanc's DICOMweb for the foundation stage: QIDO for
 * studies and STOW only, and only for system admins (the handler refuses facility staff, who
 * need facility scoping). The scoped gateway (QIDO from our index, WADO with negotiation, STOW
 * with per-instance reasons) replaces it.
 * Invariant kept even here: nothing that asks Orthanc for JPEG-LS is forwarded, because
 * Orthanc 1.10 with the GDCM plugin crashes on it.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { AppError } from '../plugins/errors.js';
import type { OrthancClient } from '../plugins/orthanc.js';

const JPEG_LS = /image\/jls|1\.2\.840\.10008\.1\.2\.4\.8[01]\b/i;
const FORWARDED_RESPONSE_HEADERS = ['content-type', 'content-length', 'etag', 'last-modified'];

function guardAgainstJpegLs(request: FastifyRequest): void {
  let url = request.url;
  try {
    url = decodeURIComponent(url);
  } catch {
    throw new AppError('RADLINK_BAD_REQUEST', 'The URL is not valid percent-encoding.');
  }
  if (JPEG_LS.test(request.headers.accept ?? '') || JPEG_LS.test(url)) {
    throw new AppError('RADLINK_NOT_ACCEPTABLE', 'JPEG-LS is not available from this archive; ask for another transfer syntax or "*".');
  }
}

async function forward(orthanc: OrthancClient, request: FastifyRequest, reply: FastifyReply, body?: NodeJS.ReadableStream) {
  if (request.principal?.role !== 'system_admin' && request.principal?.role !== 'service') {
    // Unscoped answers would show other facilities' patients.
    throw new AppError('RADLINK_FORBIDDEN', 'Facility-scoped DICOMweb access is not available yet.');
  }
  guardAgainstJpegLs(request);
  const headers: Record<string, string> = {};
  if (request.headers.accept) headers.accept = request.headers.accept;
  if (request.headers['content-type']) headers['content-type'] = request.headers['content-type'];
  const res = await orthanc.request(request.method as 'GET' | 'POST', request.url, {
    headers,
    body: body as never,
  });
  reply.code(res.statusCode);
  for (const h of FORWARDED_RESPONSE_HEADERS) {
    const v = res.headers[h];
    if (typeof v === 'string') reply.header(h, v);
  }
  return reply.send(res.body);
}

export default async function dicomwebPassthrough(app: FastifyInstance, opts: { orthanc: OrthancClient }) {
  // STOW bodies are streamed straight through, never buffered.
  app.addContentTypeParser(['multipart/related', 'application/dicom'], (_req, payload, done) => done(null, payload));

  const hide = { hide: false, tags: ['dicomweb'] };
  app.get('/dicom-web/studies', { schema: { ...hide, summary: 'QIDO-RS: search for studies.' } }, (req, reply) =>
    forward(opts.orthanc, req, reply),
  );
  app.post(
    '/dicom-web/studies',
    { bodyLimit: 4 * 1024 ** 3, schema: { ...hide, summary: 'STOW-RS: store instances.' } },
    (req, reply) => forward(opts.orthanc, req, reply, req.body as NodeJS.ReadableStream),
  );
}
