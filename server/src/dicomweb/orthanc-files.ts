/**
 * Reading stored instances out of Orthanc: the Part 10 file exactly as stored
 * (`/instances/{id}/file` — Orthanc stores what it receives byte for byte, so no transcoding can
 * happen on this path), its SHA-256, and the Orthanc ids holding a SOP Instance UID.
 */
import { createHash } from 'node:crypto';
import { AppError } from '../plugins/errors.js';
import type { OrthancClient, OrthancResponse } from '../plugins/orthanc.js';

/** Opens the stored file; 404 from Orthanc becomes RADLINK_NOT_FOUND, other errors 503. */
export async function openStoredFile(orthanc: OrthancClient, orthancId: string): Promise<OrthancResponse> {
  const res = await orthanc.request('GET', `/instances/${orthancId}/file`);
  if (res.statusCode !== 200) {
    res.body.resume();
    throw new AppError(
      res.statusCode === 404 ? 'RADLINK_NOT_FOUND' : 'RADLINK_UPSTREAM_UNAVAILABLE',
      res.statusCode === 404
        ? 'The instance is no longer in the archive.'
        : `Orthanc answered ${res.statusCode} reading an instance.`,
    );
  }
  return res;
}

export async function storedSha256(orthanc: OrthancClient, orthancId: string): Promise<string> {
  const res = await openStoredFile(orthanc, orthancId);
  const h = createHash('sha256');
  for await (const chunk of res.body) h.update(chunk as Buffer);
  return h.digest('hex');
}

/** Orthanc ids of the instances with this SOP Instance UID (normally 0 or 1). */
export async function orthancInstancesOf(orthanc: OrthancClient, sopInstanceUid: string): Promise<string[]> {
  // The body is the bare UID (not JSON): Orthanc's /tools/lookup reads it as text.
  const res = await orthanc.request('POST', '/tools/lookup', { body: sopInstanceUid });
  const text = await res.body.text();
  if (res.statusCode !== 200)
    throw new AppError('RADLINK_UPSTREAM_UNAVAILABLE', `Orthanc answered ${res.statusCode} to a lookup.`);
  const found = JSON.parse(text) as { ID: string; Type: string }[];
  return found.filter((f) => f.Type === 'Instance').map((f) => f.ID);
}
