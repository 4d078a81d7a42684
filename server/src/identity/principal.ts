import type { Role } from '../../../contracts/roles.js';

/** The authenticated caller of a request, as the access policy and the audit trail see it. */
export interface Principal {
  kind: 'user';
  userId: string;
  username: string;
  role: Role;
  facilityId: string | null;
  sessionId: string;
  /** How the caller proved who it is. */
  via: 'bearer' | 'cookie';
}
