/**
 * Share links: the SQL. A link is created once, opened any number of times, revoked at most once
 * (never un-revoked), and locked for good after too many wrong secrets in a row.
 *
 * Attempt accounting is race-free: an attempt is *reserved* (failed_attempts + 1, only while under
 * the limit and unlocked) before the secret is checked, so N concurrent guesses cannot check more
 * than the limit allows; a right secret then resets the count, a wrong one at the limit locks.
 */
import type { Queryable } from '../db/client.js';
import type { SecretKind } from './secrets.js';

export interface LinkRow {
  id: string;
  studyUid: string;
  secretKind: SecretKind;
  secretHash: string;
  createdAt: Date;
  expiresAt: Date;
  revokedAt: Date | null;
  failedAttempts: number;
  lockedAt: Date | null;
  openCount: number;
  lastOpenedAt: Date | null;
  createdById: string;
  createdByName: string;
  createdByRole: string;
  revokedById: string | null;
  revokedByName: string | null;
}

export type LinkStatus = 'active' | 'expired' | 'revoked' | 'locked';

export function statusOf(
  l: Pick<LinkRow, 'revokedAt' | 'expiresAt' | 'lockedAt'>,
  now = new Date(),
): LinkStatus {
  if (l.revokedAt) return 'revoked';
  if (new Date(l.expiresAt) <= now) return 'expired';
  if (l.lockedAt) return 'locked';
  return 'active';
}

const SELECT = `SELECT l.id, l.study_uid AS "studyUid", l.secret_kind AS "secretKind", l.secret_hash AS "secretHash",
    l.created_at AS "createdAt", l.expires_at AS "expiresAt", l.revoked_at AS "revokedAt",
    l.failed_attempts AS "failedAttempts", l.locked_at AS "lockedAt", l.open_count AS "openCount",
    l.last_opened_at AS "lastOpenedAt", l.created_by AS "createdById", c.display_name AS "createdByName",
    c.role AS "createdByRole", l.revoked_by AS "revokedById", r.display_name AS "revokedByName"
  FROM share_links l JOIN users c ON c.id = l.created_by LEFT JOIN users r ON r.id = l.revoked_by`;

export class LinkRepo {
  constructor(private readonly db: Queryable) {}

  async create(l: {
    studyUid: string;
    tokenHash: string;
    secretKind: SecretKind;
    secretHash: string;
    createdBy: string;
    ttlDays: number;
  }): Promise<LinkRow> {
    const [row] = await this.db.query<{ id: string }>(
      `INSERT INTO share_links (study_uid, token_hash, secret_kind, secret_hash, created_by, expires_at)
       VALUES ($1, $2, $3, $4, $5, now() + make_interval(days => $6)) RETURNING id`,
      [l.studyUid, l.tokenHash, l.secretKind, l.secretHash, l.createdBy, l.ttlDays],
    );
    return (await this.byId(row!.id))!;
  }

  async byId(id: string): Promise<LinkRow | null> {
    return (await this.db.query<LinkRow>(`${SELECT} WHERE l.id = $1`, [id]))[0] ?? null;
  }

  async byTokenHash(tokenHash: string): Promise<LinkRow | null> {
    return (await this.db.query<LinkRow>(`${SELECT} WHERE l.token_hash = $1`, [tokenHash]))[0] ?? null;
  }

  async forStudy(studyUid: string): Promise<LinkRow[]> {
    return this.db.query<LinkRow>(`${SELECT} WHERE l.study_uid = $1 ORDER BY l.created_at DESC, l.id`, [
      studyUid,
    ]);
  }

  /** Revokes a link of the study (idempotent) and ends its sessions; null when the study has no such link. */
  async revoke(studyUid: string, id: string, by: string): Promise<LinkRow | null> {
    const link = await this.byId(id);
    if (!link || link.studyUid !== studyUid) return null;
    await this.db.query(
      'UPDATE share_links SET revoked_at = now(), revoked_by = $2 WHERE id = $1 AND revoked_at IS NULL',
      [id, by],
    );
    await this.db.query(
      'UPDATE share_sessions SET ended_at = now() WHERE link_id = $1 AND ended_at IS NULL',
      [id],
    );
    return this.byId(id);
  }

  /** Reserves one attempt; false when the link is locked or the limit is reached (it is then locked). */
  async reserveAttempt(
    id: string,
    maxAttempts: number,
  ): Promise<{ ok: true; attempt: number } | { ok: false }> {
    const rows = await this.db.query<{ failed_attempts: number }>(
      `UPDATE share_links SET failed_attempts = failed_attempts + 1
        WHERE id = $1 AND locked_at IS NULL AND failed_attempts < $2 RETURNING failed_attempts`,
      [id, maxAttempts],
    );
    if (rows[0]) return { ok: true, attempt: rows[0].failed_attempts };
    await this.lock(id);
    return { ok: false };
  }

  async lock(id: string): Promise<void> {
    await this.db.query('UPDATE share_links SET locked_at = now() WHERE id = $1 AND locked_at IS NULL', [id]);
  }

  /** A right secret: the count of wrong ones in a row starts again. */
  async recordOpen(id: string): Promise<void> {
    await this.db.query(
      `UPDATE share_links SET failed_attempts = 0, open_count = open_count + 1, last_opened_at = now()
        WHERE id = $1`,
      [id],
    );
  }
}
