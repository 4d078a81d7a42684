import type { PrincipalRole } from '../../../contracts/roles.js';

/**
 * The authenticated caller of a request, as the access policy and the audit trail see it:
 * a logged-in user, or the holder of an opened patient share link (kind 'share', role
 * 'patient', no facility), whose `userId` is the share link's id (audit rows and the hourly
 * dedupe are per link) and whose `sessionId` is the share session's.
 */
export interface Principal {
  kind: 'user' | 'share';
  userId: string;
  username: string;
  role: PrincipalRole;
  facilityId: string | null;
  sessionId: string;
  /** How the caller proved who it is. */
  via: 'bearer' | 'cookie';
  /** Kind 'share' only: the one study the link opens. */
  shareStudyUid?: string;
}
