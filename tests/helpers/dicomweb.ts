/**
 * Helpers for DICOMweb integration tests: facilities and users to act as, STOW request bodies,
 * and the real `dicomweb-client` (browser code: it needs an XMLHttpRequest, given by xhr2) bound
 * to the app listening on a loopback port.
 */
import { createRequire } from 'node:module';
import { buildMultipartRelated } from '../../server/src/dicomweb/multipart.js';
import { bearer, type TestApp } from './app.js';

const require = createRequire(import.meta.url);

export async function facilityUser(
  t: TestApp,
  facilityId: string,
  username: string,
  role = 'radiologist',
): Promise<string> {
  const admin = await t.adminToken();
  const f = await t.app.inject({
    method: 'POST',
    url: '/api/facilities',
    headers: bearer(admin),
    payload: { id: facilityId, name: `Bệnh viện ${facilityId}`, tier: 'district', parentId: null },
  });
  if (f.statusCode !== 201 && f.statusCode !== 409)
    throw new Error(`facility ${facilityId}: ${f.statusCode} ${f.body}`);
  const u = await t.app.inject({
    method: 'POST',
    url: '/api/users',
    headers: bearer(admin),
    payload: { username, displayName: 'Bác sĩ Thử', role, facilityId, password: 'correct horse battery' },
  });
  if (u.statusCode !== 201) throw new Error(`user ${username}: ${u.statusCode} ${u.body}`);
  return t.login(username, 'correct horse battery');
}

/** Logs a facilityUser in again: a new session, with the user's id (for admin calls about them). */
export async function loginWithId(t: TestApp, username: string): Promise<{ token: string; userId: string }> {
  const res = await t.app.inject({
    method: 'POST',
    url: '/api/auth/login',
    payload: { username, password: 'correct horse battery' },
  });
  if (res.statusCode !== 200) throw new Error(`login ${username} failed: ${res.statusCode} ${res.body}`);
  const body = res.json() as { token: string; user: { id: string } };
  return { token: body.token, userId: body.user.id };
}

export function stowBody(parts: (Buffer | { body: Buffer; contentType: string })[]): {
  payload: Buffer;
  contentType: string;
} {
  const { body, contentType } = buildMultipartRelated(
    parts.map((p) => (Buffer.isBuffer(p) ? { contentType: 'application/dicom', body: p } : p)),
    'application/dicom',
  );
  return { payload: body, contentType };
}

export async function stow(
  t: TestApp,
  token: string,
  parts: Parameters<typeof stowBody>[0],
  studyUid?: string,
) {
  const { payload, contentType } = stowBody(parts);
  return t.app.inject({
    method: 'POST',
    url: `/dicom-web/studies${studyUid ? `/${studyUid}` : ''}`,
    headers: { ...bearer(token), 'content-type': contentType, accept: 'application/dicom+json' },
    payload,
  });
}

type DicomJson = Record<string, { vr: string; Value?: unknown[] }>;

/** SOP Instance UID → failure reason / 'stored' from a STOW response body. */
export function stowOutcomes(body: DicomJson): { stored: string[]; failed: Map<string, number> } {
  const stored = ((body['00081199']?.Value ?? []) as DicomJson[]).map((i) =>
    String(i['00081155']?.Value?.[0]),
  );
  const failed = new Map(
    ((body['00081198']?.Value ?? []) as DicomJson[]).map((i) => [
      String(i['00081155']?.Value?.[0] ?? ''),
      Number(i['00081197']?.Value?.[0]),
    ]),
  );
  return { stored, failed };
}

export interface DicomwebClient {
  storeInstances(o: { datasets: ArrayBuffer[]; studyInstanceUID?: string }): Promise<unknown>;
  retrieveInstance(o: {
    studyInstanceUID: string;
    seriesInstanceUID: string;
    sopInstanceUID: string;
    mediaTypes?: { mediaType: string; transferSyntaxUID?: string }[];
  }): Promise<ArrayBuffer>;
  retrieveInstanceFrames(o: {
    studyInstanceUID: string;
    seriesInstanceUID: string;
    sopInstanceUID: string;
    frameNumbers: number[];
    mediaTypes?: { mediaType: string; transferSyntaxUID?: string }[];
  }): Promise<ArrayBuffer[]>;
  retrieveInstanceMetadata(o: {
    studyInstanceUID: string;
    seriesInstanceUID: string;
    sopInstanceUID: string;
  }): Promise<unknown[]>;
}

/** The real dicomweb-client against `baseUrl` (e.g. http://127.0.0.1:port), authenticated with `token`. */
export function dicomwebClient(baseUrl: string, token: string): DicomwebClient {
  const g = globalThis as { XMLHttpRequest?: unknown };
  g.XMLHttpRequest ??= require('xhr2');
  const { api } = require('dicomweb-client') as {
    api: { DICOMwebClient: new (o: object) => DicomwebClient };
  };
  return new api.DICOMwebClient({
    url: `${baseUrl}/dicom-web`,
    headers: { Authorization: `Bearer ${token}` },
  });
}

export const toArrayBuffer = (b: Buffer): ArrayBuffer =>
  b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;
