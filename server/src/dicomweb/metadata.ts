/**
 * WADO-RS metadata (PS3.18 10.4.1.1.2): DICOM JSON (Annex F) of a study, series or instance.
 * Orthanc's DICOMweb plugin builds the JSON (it knows every VR and character set); the gateway
 * rewrites every BulkDataURI to point at itself (Orthanc is private and its URLs unusable), with
 * pixel data pointing at the instance's frames, so viewers fetch pixels through the same scoped,
 * allow-listed path as everything else.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { AppError } from '../plugins/errors.js';
import { baseUrl } from './base-url.js';
import { immutableOrNotModified, REVALIDATE, strongEtag } from './http-cache.js';
import { negotiateOrThrow } from './wado.js';
import { authorizeStudy, indexedInstances, uidParamsSchema, type WadoParams } from './wado-resolve.js';

type Json = Record<string, unknown>;
const PIXEL_TAGS = new Set(['7FE00010', '7FE00008', '7FE00009']);

/**
 * Rewrites BulkDataURIs of one instance's data set, in place. `framesOf(sop)` gives the number of
 * frames of an instance (for the pixel data URI). Orthanc's URI is
 * `<root>/dicom-web/studies/<s>/series/<se>/instances/<i>/bulk/<tag>[/<item>/<tag>…]`.
 */
export function rewriteBulkDataUris(ds: Json, base: string, framesOf: (sop: string) => number): void {
  const visit = (node: Json, topLevel: boolean) => {
    for (const [tag, attr] of Object.entries(node)) {
      if (!attr || typeof attr !== 'object') continue;
      const a = attr as { BulkDataURI?: string; Value?: unknown[]; vr?: string };
      if (typeof a.BulkDataURI === 'string') {
        const m =
          /\/dicom-web\/studies\/([0-9.]+)\/series\/([0-9.]+)\/instances\/([0-9.]+)\/bulk\/([0-9a-fA-F/]+)$/.exec(
            a.BulkDataURI,
          );
        if (!m) {
          delete a.BulkDataURI; // unknown form: better no URI than one that leaks Orthanc's address
          continue;
        }
        const inst = `${base}/dicom-web/studies/${m[1]}/series/${m[2]}/instances/${m[3]}`;
        if (topLevel && PIXEL_TAGS.has(tag.toUpperCase())) {
          const n = Math.max(1, framesOf(m[3]!));
          a.BulkDataURI = `${inst}/frames/${Array.from({ length: n }, (_, i) => i + 1).join(',')}`;
        } else {
          a.BulkDataURI = `${inst}/bulk/${m[4]!.toLowerCase().replace(/\//g, '.')}`;
        }
      }
      if (a.vr === 'SQ' && Array.isArray(a.Value)) {
        for (const item of a.Value) if (item && typeof item === 'object') visit(item as Json, false);
      }
    }
  };
  visit(ds, true);
}

async function orthancMetadata(app: FastifyInstance, path: string): Promise<Json[] | undefined> {
  const res = await app.orthanc.request('GET', `${path}/metadata`, {
    headers: { accept: 'application/dicom+json' },
  });
  const text = await res.body.text();
  if (res.statusCode === 404) return undefined;
  if (res.statusCode !== 200)
    throw new AppError('RADLINK_UPSTREAM_UNAVAILABLE', `Orthanc answered ${res.statusCode} for metadata.`);
  return JSON.parse(text) as Json[];
}

export default async function metadataRoutes(app: FastifyInstance) {
  const handler = async (request: FastifyRequest, reply: FastifyReply) => {
    const p = request.params as WadoParams;
    await authorizeStudy(request, p);
    negotiateOrThrow('metadata', request.headers.accept);
    const rows = await indexedInstances(request, p);
    const base = baseUrl(request);
    if (p.sopInstanceUid) {
      const etag = strongEtag('metadata', rows[0]!.orthancId, base);
      if (immutableOrNotModified(request, reply, etag)) return reply;
    } else {
      void reply.header('cache-control', REVALIDATE);
    }
    let path = `/dicom-web/studies/${p.studyUid}`;
    if (p.seriesUid) path += `/series/${p.seriesUid}`;
    if (p.sopInstanceUid) path += `/instances/${p.sopInstanceUid}`;
    let datasets = await orthancMetadata(app, path);
    if (datasets === undefined && !p.sopInstanceUid) {
      // Orthanc keys studies by PatientID + StudyUID: a study whose instances disagree on PatientID
      // is two studies to Orthanc, and its study/series lookup fails. Ask instance by instance.
      datasets = [];
      for (const r of rows) {
        const one = await orthancMetadata(
          app,
          `/dicom-web/studies/${r.studyUid}/series/${r.seriesUid}/instances/${r.sopInstanceUid}`,
        );
        if (one) datasets.push(...one);
      }
    }
    if (datasets === undefined) throw new AppError('RADLINK_NOT_FOUND', 'No such object in the archive.');
    // Only instances the index knows (and so the caller's scope covers) are described.
    const frames = new Map(rows.map((r) => [r.sopInstanceUid, r.numberOfFrames]));
    const visible = datasets.filter((ds) => {
      const sop = (ds['00080018'] as { Value?: string[] } | undefined)?.Value?.[0];
      return sop !== undefined && frames.has(sop);
    });
    for (const ds of visible) rewriteBulkDataUris(ds, base, (sop) => frames.get(sop) ?? 1);
    return reply.type('application/dicom+json').send(JSON.stringify(visible));
  };
  const I = '/dicom-web/studies/:studyUid';
  const tags = ['dicomweb'];
  // JSON is compressed for slow links (opt-in per route, see app.ts); pixels never are.
  const compress = { threshold: 1024 };
  app.get(
    `${I}/metadata`,
    { compress, schema: { tags, summary: 'WADO-RS: study metadata.', params: uidParamsSchema('studyUid') } },
    handler,
  );
  app.get(
    `${I}/series/:seriesUid/metadata`,
    {
      compress,
      schema: {
        tags,
        summary: 'WADO-RS: series metadata.',
        params: uidParamsSchema('studyUid', 'seriesUid'),
      },
    },
    handler,
  );
  app.get(
    `${I}/series/:seriesUid/instances/:sopInstanceUid/metadata`,
    {
      compress,
      schema: {
        tags,
        summary: 'WADO-RS: instance metadata.',
        params: uidParamsSchema('studyUid', 'seriesUid', 'sopInstanceUid'),
      },
    },
    handler,
  );
}
