/** The patient's side of a share link (server/src/share/patient-routes.ts). */
import { json } from './http.js';
import type { AccessLog, ShareMe } from './types.js';

export async function openShare(
  token: string,
  secret: { pin: string } | { birthYear: number },
): Promise<void> {
  await json('POST', '/api/share/open', { body: { token, ...secret } });
}

export const shareMe = () => json<ShareMe>('GET', '/api/share/me');
export const accessLog = () => json<AccessLog>('GET', '/api/share/access-log');
export const closeShare = () => json('POST', '/api/share/close');
