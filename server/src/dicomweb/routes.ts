/**
 * The one place that lists the DICOMweb services (PS3.18), as the Orthanc DICOMweb plugin
 * does: each service lives in its own file and registers its routes here. The access rule of
 * every route is in server/src/policy/table.ts.
 */
import type { FastifyInstance } from 'fastify';
import frameRoutes from './frames.js';
import metadataRoutes from './metadata.js';
import qidoRoutes from './qido.js';
import renderedRoutes from './rendered.js';
import stowRoutes from './stow.js';
import thumbnailRoutes from './thumbnails.js';
import wadoRoutes from './wado.js';
import wadoUriRoutes from './wado-uri.js';

export default async function dicomwebRoutes(app: FastifyInstance) {
  await app.register(qidoRoutes); // QIDO-RS
  await app.register(stowRoutes); // STOW-RS
  await app.register(wadoRoutes); // WADO-RS: studies, series, instances
  await app.register(metadataRoutes); // WADO-RS: metadata
  await app.register(frameRoutes); // WADO-RS: frames, bulk data
  await app.register(renderedRoutes); // WADO-RS: rendered
  await app.register(thumbnailRoutes); // thumbnails (cached in S3)
  await app.register(wadoUriRoutes); // WADO-URI (PS3.18 chapter 9)
}
