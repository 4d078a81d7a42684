/**
 * Specialty pools of a reading facility (neuro, abdominal, ...) and their radiologists.
 *
 * Routing rule (documented in the worklist): a request may name a pool of its target facility.
 * It is never hidden from the facility's other radiologists (a STAT case must not wait behind a
 * pool nobody is watching) and any of them may claim it, but within each priority:
 *  - the pool's members see their pools' requests first, ahead of the facility's general ones;
 *  - everyone else sees it after the general requests for RADLINK_POOL_FIRST_MINUTES (the
 *    pool's head start), then in the ordinary order.
 * A pool is a routing preference, not an access boundary: the grants model shares the study
 * with the whole target facility.
 */
import type { Queryable } from '../db/client.js';

export const POOL_PATTERN = '^[a-z0-9][a-z0-9-]{0,39}$';

export interface PoolMember {
  id: string;
  name: string;
}
export interface Pool {
  facilityId: string;
  pool: string;
  name: string;
  members: PoolMember[];
  createdAt: string;
}

/** SQL: the caller (user id in `userParam`) belongs to the request's pool. */
export const inMyPoolSql = (userParam: string) =>
  `(r.specialty_pool IS NOT NULL AND EXISTS (SELECT 1 FROM specialty_pool_members m
     WHERE m.facility_id = r.target_facility_id AND m.pool = r.specialty_pool AND m.user_id = ${userParam}::uuid))`;

/**
 * SQL rank for the worklist order within a priority (0 first): my pools' requests, then the
 * facility's general ones and other pools' requests past their head start, then other pools'
 * requests still within it.
 */
export const poolRankSql = (userParam: string, headStartMinutesParam: string) =>
  `CASE WHEN ${inMyPoolSql(userParam)} THEN 0
        WHEN r.specialty_pool IS NULL OR r.created_at <= now() - make_interval(mins => ${headStartMinutesParam}::int) THEN 1
        ELSE 2 END`;

export class PoolRepo {
  constructor(private readonly db: Queryable) {}

  async exists(facilityId: string, pool: string): Promise<boolean> {
    const rows = await this.db.query('SELECT 1 FROM specialty_pools WHERE facility_id = $1 AND pool = $2', [
      facilityId,
      pool,
    ]);
    return rows.length === 1;
  }

  async list(facilityId: string): Promise<Pool[]> {
    const rows = await this.db.query<{
      pool: string;
      name: string;
      created_at: Date;
      members: PoolMember[] | null;
    }>(
      `SELECT p.pool, p.name, p.created_at,
              (SELECT json_agg(json_build_object('id', u.id, 'name', u.display_name) ORDER BY u.display_name, u.id)
                 FROM specialty_pool_members m JOIN users u ON u.id = m.user_id
                WHERE m.facility_id = p.facility_id AND m.pool = p.pool) AS members
         FROM specialty_pools p WHERE p.facility_id = $1 ORDER BY p.pool`,
      [facilityId],
    );
    return rows.map((r) => ({
      facilityId,
      pool: r.pool,
      name: r.name,
      members: r.members ?? [],
      createdAt: new Date(r.created_at).toISOString(),
    }));
  }

  async get(facilityId: string, pool: string): Promise<Pool | null> {
    return (await this.list(facilityId)).find((p) => p.pool === pool) ?? null;
  }

  async upsert(facilityId: string, pool: string, name: string): Promise<void> {
    await this.db.query(
      `INSERT INTO specialty_pools (facility_id, pool, name) VALUES ($1, $2, $3)
       ON CONFLICT (facility_id, pool) DO UPDATE SET name = EXCLUDED.name`,
      [facilityId, pool, name],
    );
  }

  async remove(facilityId: string, pool: string): Promise<boolean> {
    const rows = await this.db.query(
      'DELETE FROM specialty_pools WHERE facility_id = $1 AND pool = $2 RETURNING pool',
      [facilityId, pool],
    );
    return rows.length === 1;
  }

  async addMember(facilityId: string, pool: string, userId: string): Promise<void> {
    await this.db.query(
      `INSERT INTO specialty_pool_members (facility_id, pool, user_id) VALUES ($1, $2, $3)
       ON CONFLICT DO NOTHING`,
      [facilityId, pool, userId],
    );
  }

  async removeMember(facilityId: string, pool: string, userId: string): Promise<boolean> {
    const rows = await this.db.query(
      `DELETE FROM specialty_pool_members WHERE facility_id = $1 AND pool = $2 AND user_id = $3 RETURNING user_id`,
      [facilityId, pool, userId],
    );
    return rows.length === 1;
  }

  /** Active radiologists of a pool. */
  async memberIds(facilityId: string, pool: string): Promise<string[]> {
    const rows = await this.db.query<{ id: string }>(
      `SELECT u.id FROM specialty_pool_members m JOIN users u ON u.id = m.user_id
        WHERE m.facility_id = $1 AND m.pool = $2 AND u.role = 'radiologist' AND u.facility_id = $1
          AND u.disabled_at IS NULL ORDER BY u.id`,
      [facilityId, pool],
    );
    return rows.map((r) => r.id);
  }

  /** Active users of a facility with one of these roles. */
  async staffIds(facilityId: string, roles: string[]): Promise<string[]> {
    const rows = await this.db.query<{ id: string }>(
      `SELECT id FROM users WHERE facility_id = $1 AND role = ANY ($2::text[]) AND disabled_at IS NULL ORDER BY id`,
      [facilityId, roles],
    );
    return rows.map((r) => r.id);
  }
}
