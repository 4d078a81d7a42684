/**
 * Caching headers for immutable DICOM resources. Invariant that makes them immutable: the object
 * under a SOP Instance UID never changes (STOW refuses different bytes under a known UID and
 * Orthanc runs with OverwriteInstances=false), so a representation is a function of the Orthanc
 * instance id and the negotiated representation. The ETag is strong; multipart responses derive
 * their boundary from it, so equal ETags really mean equal bytes.
 */
import { createHash } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';

export const IMMUTABLE = 'private, max-age=31536000, immutable';
/** Study/series responses grow as instances arrive: cacheable, but revalidated every time. */
export const REVALIDATE = 'private, no-cache';

export function strongEtag(...parts: (string | number | undefined)[]): string {
  return `"${createHash('sha256')
    .update(parts.map((p) => String(p ?? '')).join('|'))
    .digest('hex')
    .slice(0, 40)}"`;
}

/** A multipart boundary that is a function of the ETag (128+ bits of hash: no collision with payloads in practice). */
export function boundaryFor(etag: string): string {
  return `radlink-${etag.replace(/"/g, '').slice(0, 32)}`;
}

/** RFC 9110 13.1.2: If-None-Match uses weak comparison; `*` matches any current representation. */
export function matchesIfNoneMatch(request: FastifyRequest, etag: string): boolean {
  const header = request.headers['if-none-match'];
  if (!header) return false;
  const opaque = etag.replace(/^W\//, '');
  return header.split(',').some((t) => {
    const v = t.trim();
    return v === '*' || v.replace(/^W\//, '') === opaque;
  });
}

/** Sets ETag and Cache-Control; answers 304 (and returns true) when the client has this representation. */
export function immutableOrNotModified(request: FastifyRequest, reply: FastifyReply, etag: string): boolean {
  void reply.header('etag', etag).header('cache-control', IMMUTABLE);
  if (matchesIfNoneMatch(request, etag)) {
    void reply.code(304).send();
    return true;
  }
  return false;
}
