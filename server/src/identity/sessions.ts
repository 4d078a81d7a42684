/**
 * Server-side login sessions. The browser holds `<sessionId>.<secret>` in an HttpOnly cookie
 * (images and server-sent events cannot carry a bearer header); API clients hold a short-lived
 * bearer token naming the session. Only a SHA-256 of the secret is stored.
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type { Role } from '../../../contracts/roles.js';
import type { Queryable } from '../db/client.js';
import type { ForgetMessage, Forgetter, SessionBroadcast } from './session-broadcast.js';

export interface SessionUser {
  sessionId: string;
  userId: string;
  username: string;
  role: Role;
  facilityId: string | null;
  revoked: boolean;
  expired: boolean;
  disabled: boolean;
}

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

const SESSION_SELECT = `
  SELECT s.id AS "sessionId", u.id AS "userId", u.username, u.role, u.facility_id AS "facilityId",
         s.revoked_at IS NOT NULL AS revoked,
         (s.expires_at < now() OR s.last_seen_at + make_interval(secs => $2) < now()) AS expired,
         u.disabled_at IS NOT NULL AS disabled
    FROM sessions s JOIN users u ON u.id = s.user_id`;

/**
 * How long a valid session looked up by id is remembered in this process. Within one gateway,
 * logout, revocation, disabling and role changes forget it at once (revoke, revokeAllForUser,
 * forgetUser), and other gateways as soon as Redis delivers the news (session-broadcast.ts); a
 * change whose news is lost is seen here within this bound. Only valid sessions are remembered:
 * refusals are always re-checked.
 */
const SESSION_CACHE_MS = 2_000;
const SESSION_CACHE_MAX = 10_000;

export class SessionRepo implements Forgetter {
  private readonly remembered = new Map<string, { s: SessionUser; at: number }>();
  /** Bumped by every revocation: a lookup that overlapped one is not remembered (it may predate it). */
  private epoch = 0;
  /** Tells the other gateways what this one forgot (session-broadcast.ts). */
  private broadcast: SessionBroadcast | null = null;

  /** Publishes this repository's revocations and applies the other gateways'. */
  attach(broadcast: SessionBroadcast): void {
    this.broadcast = broadcast;
    broadcast.start(this);
  }

  forgetLocally(m: ForgetMessage): void {
    this.epoch++;
    for (const [key, e] of this.remembered)
      if ('session' in m ? e.s.sessionId === m.session : e.s.userId === m.user) this.remembered.delete(key);
  }

  constructor(
    private readonly db: Queryable,
    /** Idle lifetime; also the absolute cap is 7 x idle. */
    private readonly idleSeconds: number,
  ) {}

  async create(
    userId: string,
    clientIp: string,
    userAgent: string | undefined,
  ): Promise<{ id: string; cookie: string }> {
    const id = randomUUID();
    const secret = randomBytes(32).toString('base64url');
    await this.db.query(
      `INSERT INTO sessions (id, user_id, secret_hash, expires_at, client_ip, user_agent)
       VALUES ($1, $2, $3, now() + make_interval(secs => $4), $5, $6)`,
      [id, userId, sha256(secret), this.idleSeconds * 7, clientIp, userAgent?.slice(0, 256) ?? null],
    );
    return { id, cookie: `${id}.${secret}` };
  }

  async byId(sessionId: string): Promise<SessionUser | null> {
    if (!/^[0-9a-f-]{36}$/.test(sessionId)) return null;
    return this.lookup(`id:${sessionId}`, () =>
      this.db.query<SessionUser>(`${SESSION_SELECT} WHERE s.id = $1`, [sessionId, this.idleSeconds]),
    );
  }

  /** A remembered valid session under `key`, or the database's answer (remembered when valid). */
  private async lookup(key: string, query: () => Promise<SessionUser[]>): Promise<SessionUser | null> {
    const hit = this.remembered.get(key);
    if (hit && Date.now() - hit.at < SESSION_CACHE_MS) return hit.s;
    const epoch = this.epoch;
    const s = (await query())[0] ?? null;
    if (s && !s.revoked && !s.expired && !s.disabled && epoch === this.epoch) {
      if (this.remembered.size >= SESSION_CACHE_MAX) this.remembered.clear();
      this.remembered.set(key, { s, at: Date.now() });
    } else {
      this.remembered.delete(key);
    }
    return s;
  }

  /** Forget what this process remembers of a user's sessions (role, facility or status changed). */
  forgetUser(userId: string): void {
    this.forgetLocally({ user: userId });
    this.broadcast?.publish({ user: userId });
  }

  private forget(sessionId: string): void {
    this.forgetLocally({ session: sessionId });
    this.broadcast?.publish({ session: sessionId });
  }

  async byCookie(cookie: string): Promise<SessionUser | null> {
    const dot = cookie.indexOf('.');
    if (dot !== 36) return null;
    // Keyed by the cookie's hash: the secret itself is not kept in memory longer than a request.
    return this.lookup(`cookie:${sha256(cookie)}`, () =>
      this.db.query<SessionUser>(`${SESSION_SELECT} WHERE s.id = $1 AND s.secret_hash = $3`, [
        cookie.slice(0, 36),
        this.idleSeconds,
        sha256(cookie.slice(37)),
      ]),
    );
  }

  /** When this process last wrote each session's last_seen_at (bounded; only saves round trips). */
  private readonly touchedAt = new Map<string, number>();

  /** Sliding idle expiry; written at most once a minute per session to keep reads cheap. */
  async touch(sessionId: string): Promise<void> {
    const now = Date.now();
    const last = this.touchedAt.get(sessionId);
    if (last !== undefined && now - last < 60_000) return;
    if (this.touchedAt.size >= 10_000) this.touchedAt.clear();
    this.touchedAt.set(sessionId, now);
    await this.db.query(
      `UPDATE sessions SET last_seen_at = now() WHERE id = $1 AND last_seen_at < now() - interval '60 seconds'`,
      [sessionId],
    );
  }

  async revoke(sessionId: string): Promise<boolean> {
    this.forgetLocally({ session: sessionId });
    const rows = await this.db.query(
      'UPDATE sessions SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL RETURNING id',
      [sessionId],
    );
    this.forget(sessionId);
    return rows.length > 0;
  }

  async revokeAllForUser(userId: string): Promise<number> {
    this.forgetLocally({ user: userId });
    const rows = await this.db.query(
      'UPDATE sessions SET revoked_at = now() WHERE user_id = $1 AND revoked_at IS NULL RETURNING id',
      [userId],
    );
    this.forgetUser(userId);
    return rows.length;
  }

  async listForUser(
    userId: string,
  ): Promise<
    { id: string; createdAt: string; lastSeenAt: string; clientIp: string | null; userAgent: string | null }[]
  > {
    return this.db.query(
      `SELECT id, created_at AS "createdAt", last_seen_at AS "lastSeenAt", client_ip AS "clientIp", user_agent AS "userAgent"
         FROM sessions WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > now() ORDER BY created_at DESC`,
      [userId],
    );
  }
}
