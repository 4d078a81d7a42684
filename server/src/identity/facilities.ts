/** Facilities and the AE titles their modalities send from. */
import type { FacilityTier } from '../../../contracts/roles.js';
import type { Queryable } from '../db/client.js';

export interface AeTitle {
  aeTitle: string;
  host: string | null;
  port: number | null;
}

export interface FacilityRow {
  id: string;
  name: string;
  tier: FacilityTier;
  parentId: string | null;
  aeTitles: AeTitle[];
}

const SELECT = `
  SELECT f.id, f.name, f.tier, f.parent_id AS "parentId",
         COALESCE((SELECT json_agg(json_build_object('aeTitle', a.ae_title, 'host', a.host, 'port', a.port) ORDER BY a.ae_title)
                     FROM facility_ae_titles a WHERE a.facility_id = f.id), '[]'::json) AS "aeTitles"
    FROM facilities f`;

export class FacilityRepo {
  constructor(private readonly db: Queryable) {}

  async list(): Promise<FacilityRow[]> {
    return this.db.query<FacilityRow>(`${SELECT} ORDER BY f.id`);
  }

  async byId(id: string): Promise<FacilityRow | null> {
    return (await this.db.query<FacilityRow>(`${SELECT} WHERE f.id = $1`, [id]))[0] ?? null;
  }

  async create(f: { id: string; name: string; tier: FacilityTier; parentId: string | null }): Promise<void> {
    await this.db.query('INSERT INTO facilities (id, name, tier, parent_id) VALUES ($1, $2, $3, $4)', [
      f.id,
      f.name.normalize('NFC'),
      f.tier,
      f.parentId,
    ]);
  }

  async update(
    id: string,
    patch: { name?: string; tier?: FacilityTier; parentId?: string | null },
  ): Promise<boolean> {
    const rows = await this.db.query(
      `UPDATE facilities SET name = COALESCE($2, name), tier = COALESCE($3, tier),
              parent_id = CASE WHEN $4::boolean THEN $5 ELSE parent_id END, updated_at = now()
        WHERE id = $1 RETURNING id`,
      [
        id,
        patch.name?.normalize('NFC') ?? null,
        patch.tier ?? null,
        patch.parentId !== undefined,
        patch.parentId ?? null,
      ],
    );
    return rows.length > 0;
  }

  /** Replaces the facility's AE titles; a title owned by another facility is a conflict (unique key). */
  async setAeTitles(id: string, titles: AeTitle[], tx: Queryable): Promise<void> {
    await tx.query('DELETE FROM facility_ae_titles WHERE facility_id = $1', [id]);
    for (const t of titles) {
      await tx.query(
        'INSERT INTO facility_ae_titles (ae_title, facility_id, host, port) VALUES ($1, $2, $3, $4)',
        [t.aeTitle, id, t.host, t.port],
      );
    }
  }

  async allAeTitles(): Promise<(AeTitle & { facilityId: string })[]> {
    return this.db.query(
      'SELECT ae_title AS "aeTitle", host, port, facility_id AS "facilityId" FROM facility_ae_titles ORDER BY ae_title',
    );
  }

  async facilityOfAeTitle(aeTitle: string): Promise<string | null> {
    const rows = await this.db.query<{ facilityId: string }>(
      'SELECT facility_id AS "facilityId" FROM facility_ae_titles WHERE ae_title = $1',
      [aeTitle],
    );
    return rows[0]?.facilityId ?? null;
  }
}
