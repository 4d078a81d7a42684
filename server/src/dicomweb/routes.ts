/**
 * The one place that lists the DICOMweb services (PS3.18), as the Orthanc DICOMweb plugin
 * does: each service lives in its own file and registers its routes here. The access rule of
 * every route is in server/src/policy/table.ts.
 */
import type { FastifyInstance } from 'fastify';
import dicomwebPassthrough from './passthrough.js';

export default async function dicomwebRoutes(app: FastifyInstance) {
  await app.register(dicomwebPassthrough, { orthanc: app.orthanc });
}
