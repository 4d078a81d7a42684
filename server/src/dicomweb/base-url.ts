/**
 * The gateway's external base URL, for URLs it hands out (STOW RetrieveURLs, BulkDataURIs):
 * RADLINK_PUBLIC_URL when configured (behind a proxy the request's own Host may be internal),
 * else derived from the request.
 */
import type { FastifyRequest } from 'fastify';

export function baseUrl(request: FastifyRequest): string {
  const configured = request.server.config.RADLINK_PUBLIC_URL;
  if (configured) return configured.replace(/\/+$/, '');
  return `${request.protocol}://${request.host}`;
}

export function instanceUrl(
  base: string,
  studyUid: string,
  seriesUid: string,
  sopInstanceUid: string,
): string {
  return `${base}/dicom-web/studies/${studyUid}/series/${seriesUid}/instances/${sopInstanceUid}`;
}
