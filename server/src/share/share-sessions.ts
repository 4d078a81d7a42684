/**
 * Viewing sessions opened from a share link, and the guard's view of them. A session lives for
 * a fixed time (no sliding renewal: a patient re-opens with the PIN), never beyond its link's
 * expiry. Every request re-reads the session *and* its link, so revoking or expiring the link
 * refuses the very next request; the principal it yields sees the link's one study only.
 */
import { SHARE_ROLE } from '../../../contracts/roles.js';
import type { Queryable } from '../db/client.js';
import type { Principal } from '../identity/principal.js';
import { AppError } from '../plugins/errors.js';
import type { ShareAuthenticator } from '../policy/guard.js';
import { newSessionSecret, parseSessionCredential } from './secrets.js';

interface SessionLinkRow {
  sessionId: string;
  linkId: string;
  studyUid: string;
  sessionExpired: boolean;
  sessionEnded: boolean;
  linkRevoked: boolean;
  linkExpired: boolean;
}

/** What the audit trail records as the user name of a share holder (no patient data). */
export const SHARE_USERNAME = 'share-link';

/** The principal of a share session: role `patient`, no facility, the link's one study. */
export function sharePrincipal(
  s: { linkId: string; sessionId: string; studyUid: string },
  via: Principal['via'],
): Principal {
  return {
    kind: 'share',
    userId: s.linkId,
    username: SHARE_USERNAME,
    role: SHARE_ROLE,
    facilityId: null,
    sessionId: s.sessionId,
    via,
    shareStudyUid: s.studyUid,
  };
}

export class ShareSessions implements ShareAuthenticator {
  constructor(
    private readonly db: Queryable,
    private readonly ttlSeconds: number,
  ) {}

  /** Opens a session for a link; its credential is returned once and never stored. */
  async create(
    linkId: string,
    linkExpiresAt: Date,
    clientIp: string,
  ): Promise<{ id: string; credential: string; expiresAt: Date }> {
    const { secret, hash } = newSessionSecret();
    const expiresAt = new Date(
      Math.min(Date.now() + this.ttlSeconds * 1000, new Date(linkExpiresAt).getTime()),
    );
    const [row] = await this.db.query<{ id: string }>(
      `INSERT INTO share_sessions (link_id, secret_hash, expires_at, client_ip) VALUES ($1, $2, $3, $4) RETURNING id`,
      [linkId, hash, expiresAt, clientIp],
    );
    return { id: row!.id, credential: `${row!.id}.${secret}`, expiresAt };
  }

  async end(sessionId: string): Promise<void> {
    await this.db.query('UPDATE share_sessions SET ended_at = now() WHERE id = $1 AND ended_at IS NULL', [
      sessionId,
    ]);
  }

  async expiries(sessionId: string): Promise<{ sessionExpiresAt: Date; linkExpiresAt: Date }> {
    const [row] = await this.db.query<{ sessionExpiresAt: Date; linkExpiresAt: Date }>(
      `SELECT s.expires_at AS "sessionExpiresAt", l.expires_at AS "linkExpiresAt"
         FROM share_sessions s JOIN share_links l ON l.id = s.link_id WHERE s.id = $1`,
      [sessionId],
    );
    if (!row) throw new AppError('RADLINK_SHARE_SESSION_ENDED');
    return { sessionExpiresAt: new Date(row.sessionExpiresAt), linkExpiresAt: new Date(row.linkExpiresAt) };
  }

  async principal(credential: string, via: Principal['via']): Promise<Principal> {
    const parsed = parseSessionCredential(credential);
    if (!parsed) throw new AppError('RADLINK_SHARE_SESSION_ENDED');
    const [s] = await this.db.query<SessionLinkRow>(
      `SELECT s.id AS "sessionId", l.id AS "linkId", l.study_uid AS "studyUid",
              s.expires_at <= now() AS "sessionExpired", s.ended_at IS NOT NULL AS "sessionEnded",
              l.revoked_at IS NOT NULL AS "linkRevoked", l.expires_at <= now() AS "linkExpired"
         FROM share_sessions s JOIN share_links l ON l.id = s.link_id
        WHERE s.id = $1 AND s.secret_hash = $2`,
      [parsed.id, parsed.secretHash],
    );
    if (!s) throw new AppError('RADLINK_SHARE_SESSION_ENDED');
    // The link's state first: "withdrawn" or "expired" tells the patient more than "session ended".
    if (s.linkRevoked) throw new AppError('RADLINK_SHARE_REVOKED');
    if (s.linkExpired) throw new AppError('RADLINK_SHARE_EXPIRED');
    if (s.sessionEnded || s.sessionExpired) throw new AppError('RADLINK_SHARE_SESSION_ENDED');
    return sharePrincipal(s, via);
  }
}
